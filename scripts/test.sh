#!/usr/bin/env bash
# Runs every Govoy test: vet, generated-code freshness, unit/integration tests, each fuzz target briefly,
# and the offline validator over every bootstrap in envoy-configs/. `make test` calls this.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
TEST_TIMEOUT="${TEST_TIMEOUT:-25m}"   # whole `go test ./...`; CI's budget is 45 min for setup + test
FUZZ_TIME="${FUZZ_TIME:-10s}"         # per fuzz target

step() { printf '\n== %s\n' "$*"; }

step "go vet ./..."
"$GO" vet ./...

step "make check-generated"
make -s check-generated

step "make build (dist/govoy.so, used by the release and integration tests)"
make -s build
export GOVOY_SO="$ROOT/dist/govoy.so"
[[ -x .bin/envoy-stock ]] && export ENVOY_STOCK_BIN="$ROOT/.bin/envoy-stock"

step "go test ./... -timeout $TEST_TIMEOUT"
"$GO" test -timeout "$TEST_TIMEOUT" ./...

# Fuzz targets: packages whose tests declare `func FuzzXxx(f *testing.F)`, confirmed by `go test -list`.
step "fuzz targets, $FUZZ_TIME each"
nfuzz=0
mapfile -t fuzzdirs < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Z0-9_]' --exclude-dir=testdata --exclude-dir=.git . |
  xargs -r -n1 dirname | sort -u)
for dir in "${fuzzdirs[@]}"; do
  names="$("$GO" test -list '^Fuzz' "$dir")"   # fails the run if the package does not build
  for name in $names; do
    [[ "$name" == Fuzz* ]] || continue
    echo "-- $dir $name"
    "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZ_TIME" "$dir"
    nfuzz=$((nfuzz + 1))
  done
done
echo "fuzz targets run: $nfuzz"

step "govoy-validate envoy-configs/*"
mapfile -t configs < <(find envoy-configs -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort)
((${#configs[@]})) || { echo "no bootstrap in envoy-configs/" >&2; exit 1; }
"$GO" run ./filters/cmd/govoy-validate "${configs[@]}"

echo
echo "all tests passed"
