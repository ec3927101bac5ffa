#!/usr/bin/env bash
# Govoy's main job in one command: builds govoy.so, starts an upstream on 127.0.0.1, serves the
# chain of envoy-configs/static.yaml and sends curl requests (401 / 200 / canary tag / 429).
# ENVOY_BIN=/path/to/envoy (contrib build) runs it in Envoy; otherwise in the ABI mock host.
# Needs go, gcc, libhttp-parser-dev and curl. Exits non-zero with a message on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout 600 go run ./integration/cmd/demo "$@"
