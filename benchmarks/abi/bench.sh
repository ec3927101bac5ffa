#!/usr/bin/env bash
# ABI host benchmarks: requests/s and ns/request for a no-op C filter baseline, govoy.so with 0 and
# 5 plugins, and the SDK-only test filter sync vs async. BENCHTIME defaults to 20000 requests.
set -euo pipefail
cd "$(dirname "$0")/../../integration"
go test -count="${COUNT:-1}" -run '^$' -bench '^BenchmarkABIHost$' -benchtime "${BENCHTIME:-20000x}" . 2>&1 | grep -v '^\s*\['
