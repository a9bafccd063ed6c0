#!/usr/bin/env bash
# Race checks, run by .ci/run after the main suite:
#   1. the thread-safety annotations of comm/, scheduler/, common/, launch/
#      (clang -Wthread-safety, scripts/check_thread_safety.sh);
#   2. a ThreadSanitizer build (ECPS_SANITIZE=thread, GCC) of the
#      `tsan`-labelled test binaries (tests/ps, tests/comm, tests/scheduler
#      and the in-process clusters of tests/cluster; target tsan_tests) in
#      build-tsan/, run under ctest.
#
#   scripts/tsan.sh                       configure, check, build, run
#   ECPS_TSAN_BUILD_DIR=dir               build somewhere other than build-tsan/
#   ECPS_TSAN_CTEST_ARGS="-R ClusterTest" more ctest arguments
#   ECPS_SKIP_APT=1                       do not install clang if it is missing
#
# Not run under TSan: the mpirun tests (Open MPI is not instrumented and runs
# threads of its own). The prebuilt libraries (Abseil, ZeroMQ, OpenBLAS,
# libgomp) are not instrumented either: scripts/tsan.supp lists the reports
# that are false positives because of that, each with its reason. The first
# race stops its test binary (halt_on_error), which fails the run.
#
# Exit codes: 0 annotations clean, no race, every test passed; non-zero
# otherwise, with the failing step on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR="${ECPS_TSAN_BUILD_DIR:-build-tsan}"

# clang only analyses (scripts/check_thread_safety.sh); GCC builds.
if ! command -v clang++ >/dev/null && [ -z "${ECPS_SKIP_APT:-}" ]; then
  echo "tsan: installing clang (for the thread-safety check)" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends clang \
    >/dev/null; } || echo "tsan: could not install clang" >&2
fi

# Some kernels' address-space randomisation (vm.mmap_rnd_bits > 28) breaks
# the TSan runtime ("unexpected memory mapping"): then run without it.
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf '#include <thread>\nint main() { std::thread t([] {}); t.join(); }\n' >"$probe_dir/p.cc"
"${CXX:-c++}" -fsanitize=thread -g "$probe_dir/p.cc" -o "$probe_dir/p" \
  || { echo "tsan: the compiler cannot build a ThreadSanitizer binary" >&2; exit 1; }
RUN_PREFIX=()
if ! "$probe_dir/p" 2>/dev/null; then
  RUN_PREFIX=(setarch "$(uname -m)" -R)
  "${RUN_PREFIX[@]}" "$probe_dir/p" || { echo "tsan: a ThreadSanitizer binary does not run" >&2; exit 1; }
  echo "tsan: running without address-space randomisation" >&2
fi

start=$(date +%s)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DECPS_SANITIZE=thread \
  -DECPS_BUILD_BENCH=OFF >/dev/null \
  || { echo "tsan: cmake configure failed (see above)" >&2; exit 1; }
# Generated headers first (worker/git_commit.h): the analysis compiles the
# sources with the build's flags, and a fresh tree has not generated them yet.
cmake --build "$BUILD_DIR" --target ecps_git_commit >/dev/null \
  || { echo "tsan: generating headers failed" >&2; exit 1; }
scripts/check_thread_safety.sh "$BUILD_DIR" || { echo "tsan: thread-safety check failed" >&2; exit 1; }
cmake --build "$BUILD_DIR" --target tsan_tests -j "$(nproc)" \
  || { echo "tsan: build failed" >&2; exit 1; }
built=$(date +%s)
echo "tsan: checked and built in $((built - start)) s" >&2

# OpenBLAS single-threaded: its libgomp team synchronises in uninstrumented
# code, and these tests are about ecps's own threads.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4 suppressions=$ROOT/scripts/tsan.supp ${TSAN_OPTIONS:-}"
status=0
# shellcheck disable=SC2086
"${RUN_PREFIX[@]}" ctest --test-dir "$BUILD_DIR" -L tsan --output-on-failure -j "$(nproc)" \
  ${ECPS_TSAN_CTEST_ARGS:-} || status=$?
echo "tsan: tests ran in $(($(date +%s) - built)) s" >&2
[ $status -eq 0 ] || echo "tsan: ThreadSanitizer tests failed" >&2
exit $status
