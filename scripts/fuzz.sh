#!/usr/bin/env bash
# Builds the fuzz targets of fuzz/ as libFuzzer binaries (clang,
# -fsanitize=fuzzer,address; CMake option ECPS_FUZZ in build-fuzz/) and runs
# each for a bounded time from its seed corpus (fuzz/corpus/<target>/, copied:
# the repository's corpus is not changed). Any crash, leak, timeout or
# out-of-memory fails the run; the input that caused it is kept in
# build-fuzz/artifacts/<target>/ (add it to the target's corpus with the fix:
# the ordinary build replays every corpus file as a test).
#
#   scripts/fuzz.sh [target...]        (default: every target)
#   ECPS_FUZZ_SECONDS=600 scripts/fuzz.sh message_fuzzer   (default 30 s each)
#   ECPS_FUZZ_BUILD_DIR=...            (default build-fuzz)
#
# Exit codes: 0 clean, 1 a finding, 2 clang++ or libFuzzer missing / build failed.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${ECPS_FUZZ_SECONDS:-30}"
BUILD_DIR="${ECPS_FUZZ_BUILD_DIR:-build-fuzz}"
ALL=(message_fuzzer config_fuzzer data_line_fuzzer cache_fuzzer checkpoint_fuzzer serve_request_fuzzer)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
if ! command -v clang++ >/dev/null || ! command -v clang >/dev/null; then
  echo "fuzz: clang/clang++ not installed (apt-get install clang)" >&2
  exit 2
fi
LOCK=/tmp/ecps-build.lock
# Configured once; only the fuzz targets and what they link are built (the
# rest of the tree does not compile with clang 14: _Float16 in compressors/).
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  flock "$LOCK" cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DECPS_FUZZ=ON \
    -DECPS_BUILD_TESTS=OFF -DECPS_BUILD_BENCH=OFF >/dev/null ||
    { echo "fuzz: configuring $BUILD_DIR failed" >&2; exit 2; }
fi
flock "$LOCK" cmake --build "$BUILD_DIR" --target "${TARGETS[@]}" -j2 ||
  { echo "fuzz: building the fuzz targets failed" >&2; exit 2; }
status=0
for t in "${TARGETS[@]}"; do
  work="$BUILD_DIR/corpus/$t"
  artifacts="$BUILD_DIR/artifacts/$t"
  rm -rf "$work"
  mkdir -p "$work" "$artifacts"
  cp fuzz/corpus/"$t"/* "$work"/
  echo "fuzz: $t for ${SECONDS_EACH} s"
  # -timeout: one input may take 10 s; -malloc_limit_mb: one allocation above
  # 512 MiB is a finding (a 1 GiB string from a 65-byte frame was); -max_len: the
  # largest seed is a 22 KB checkpoint.
  if ! "$BUILD_DIR/fuzz/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" \
      > "$BUILD_DIR/$t.log" 2>&1; then
    echo "fuzz: $t FAILED (log $BUILD_DIR/$t.log, input in $artifacts/):" >&2
    grep -E "ERROR|SUMMARY|Test unit written" "$BUILD_DIR/$t.log" | head -20 >&2 || true
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$BUILD_DIR/$t.log" |
      tr '\n' ' ' | sed "s/^/fuzz: $t ok: /"
    echo
  fi
done
exit $status
