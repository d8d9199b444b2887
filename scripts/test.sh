#!/usr/bin/env bash
# The README's test command: set up, build, run the whole suite with CTest,
# then a short libFuzzer run of every codec fuzz target (scripts/fuzz.sh).
#   CASULO_FUZZ_SECONDS=N  seconds per fuzz target (default 20; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD_DIR=${CASULO_BUILD_DIR:-build/release}
# Test-only npm packages (Xen Orchestra's XenAPI client for the conformance test).
if [ ! -d tests/conformance/node_modules/xen-api ]; then
  (cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error)
fi
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)" --timeout 600
FUZZ_SECONDS=${CASULO_FUZZ_SECONDS:-20}
if [ "$FUZZ_SECONDS" != 0 ]; then
  scripts/fuzz.sh "$FUZZ_SECONDS"
fi
