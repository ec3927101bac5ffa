#!/usr/bin/env bash
# Instructions per request through the real ABI, under valgrind --tool=callgrind (one worker):
# (Ir(N2) - Ir(N1)) / (N2 - N1) per case, so start-up and config parsing cancel out. Repeatable on
# a loaded machine, unlike times. GOVOY_ABI_CALLGRIND_N1/N2 (default 2000/12000);
# GOVOY_ABI_CALLGRIND_OUT=dir keeps the profiles for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/../../integration"
GOVOY_ABI_CALLGRIND=1 go test -count=1 -run '^TestCallgrindTable$' -v -timeout 60m . 2>&1 | grep -v '^\s*\['
