#!/usr/bin/env bash
# Leak test for the ABI host (not in normal CI): 1M requests (GOVOY_ABI_LEAK_N to change) through
# the real govoy chain with five plugins across 2 workers; RSS after warm-up must stay within 10%
# and every request must reach Go's Finalize. Needs gcc and libhttp-parser-dev.
set -euo pipefail
cd "$(dirname "$0")/../../integration"
GOVOY_ABI_LEAK=1 go test -count=1 -run '^TestLeakMillion$' -v -timeout 60m . 2>&1 | grep -v '^\s*\[' 
