#!/usr/bin/env bash
# CPU profile from inside govoy.so (GOVOY_PPROF, filters/internal/pprofenv) while the in-process
# benchmark runs the five-plugin chain on 2 workers; prints `go tool pprof -top`.
# GOVOY_ABI_PROFILE_SECONDS (default 15); GOVOY_ABI_PROFILE_OUT=dir keeps the .so and profile.
set -euo pipefail
cd "$(dirname "$0")/../../integration"
GOVOY_ABI_PROFILE=1 go test -count=1 -run '^TestProfile$' -v -timeout 10m . 2>&1 | grep -v '^\s*\['
