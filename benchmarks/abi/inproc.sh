#!/usr/bin/env bash
# In-process ABI benchmark (abihost --bench): synthetic requests through the host's filter state
# machine and the real C API on each worker, no sockets. Prints a markdown table: process CPU,
# worker CPU and wall ns/request and requests/s for the no-op C filter, govoy.so with 0 and 5
# plugins, the SDK-only filter sync and async. GOVOY_ABI_INPROC_N (requests per worker, default
# 100000), GOVOY_ABI_INPROC_ROUNDS (default 3), GOVOY_ABI_INPROC_WORKERS (default 2).
set -euo pipefail
cd "$(dirname "$0")/../../integration"
GOVOY_ABI_INPROC=1 go test -count=1 -run '^TestInProcessTable$' -v -timeout 30m . 2>&1 | grep -v '^\s*\['
