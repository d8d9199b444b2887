#!/usr/bin/env bash
# The README's test command: set up, build, run the whole suite with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD_DIR=${CASULO_BUILD_DIR:-build/release}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)" --timeout 600
