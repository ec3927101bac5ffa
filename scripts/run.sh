#!/usr/bin/env bash
# The main job (`make run`): build dist/govoy.so, show what Envoy will find in it, check the bootstraps
# users copy, then run the demo. The demo is chosen in demo() below: that is the one place to change it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"

step() { printf '\n== %s\n' "$*"; }

step "build dist/govoy.so (Envoy $(make -s --no-print-directory envoy-version), contrib golang ABI)"
make -s build
ls -l dist/govoy.so
# Envoy dlsym()s these entry points when it loads the library (contrib/golang/common/dso/dso.cc).
echo "exported envoyGo* entry points: $(objdump -T dist/govoy.so | awk '$NF ~ /^envoyGo/ && $4 == ".text"' | wc -l)"
echo "glibc versions required: $(objdump -T dist/govoy.so | grep -o 'GLIBC_[0-9.]*' | sort -uV | tr '\n' ' ')"

step "validate envoy-configs/"
"$GO" run ./filters/cmd/govoy-validate $(find envoy-configs -type f \( -name '*.yaml' -o -name '*.json' \) | sort)

demo() {
  # DEMO_CMD overrides everything (e.g. DEMO_CMD='go test -v -run TestKeyAuth ./integration').
  if [[ -n "${DEMO_CMD:-}" ]]; then
    step "demo: $DEMO_CMD"
    bash -c "$DEMO_CMD"
    return
  fi
  # Default: integration/demo.sh serves envoy-configs/static.yaml's plugin chain from govoy.so in the ABI
  # mock host (or in Envoy when ENVOY_BIN names a contrib build) and sends curl requests through it.
  # The lead wires the final demo here.
  if [[ -f integration/demo.sh ]]; then
    step "demo: integration/demo.sh (key_auth 401/200, canary tag, rate limit 429)"
    bash integration/demo.sh
    return
  fi
  step "demo: none (no integration/demo.sh); govoy.so built and configs validated"
}
demo
