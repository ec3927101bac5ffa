#!/usr/bin/env bash
# ABI host load table with h2load (HTTP/1.1, 16 connections): requests/s and mean time per request
# for the no-op C filter baseline, govoy.so with 0 and 5 plugins, and the SDK-only filter sync vs
# async. GOVOY_ABI_LOAD_N sets the requests per row (default 50000).
set -euo pipefail
cd "$(dirname "$0")/../../integration"
GOVOY_ABI_LOAD=1 go test -count=1 -run '^TestLoadTable$' -v -timeout 30m . 2>&1 | grep -v '^\s*\['
