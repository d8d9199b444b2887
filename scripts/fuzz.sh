#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build/fuzz and
# runs each for a bounded time over a scratch copy of its seed corpus, so the
# committed corpus only changes when someone chooses to add a finding.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Exit status: non-zero when a target crashes, leaks, hangs (> 10 s on one
# input) or allocates more than 2 GiB; the reproducer is left in build/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-30}
shift || true

BUILD_DIR=build/fuzz
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCASULO_FUZZ=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/*_fuzz.cc; do t=$(basename "$f" _fuzz.cc); targets+=("$t"); done
fi
for t in "${targets[@]}"; do
  work="$BUILD_DIR/run-$t"
  rm -rf "$work" && mkdir -p "$work/corpus"
  cp fuzz/corpus/"$t"/* "$work/corpus/"
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s"
  (cd "$work" && "../fuzz/${t}_fuzz" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=262144 -print_final_stats=1 \
      corpus 2>&1 | tail -n 12)
  # libFuzzer exits non-zero and writes crash-*/leak-*/timeout-*/oom-* on a finding.
  if ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* >/dev/null 2>&1; then
    echo "fuzz: $t found a failing input in $work" >&2
    exit 1
  fi
done
echo "fuzz: OK"
