#!/usr/bin/env bash
# Idempotent setup: installs every Debian package ecps needs, then configures
# and builds the project in Release into build/.
#
#   scripts/setup.sh            install packages (if missing) and build
#   ECPS_SKIP_APT=1 scripts/setup.sh   build only
#   ECPS_BUILD_DIR=dir          build somewhere other than build/
#
# Exit codes: 0 success; non-zero with the failing step on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libopenmpi-dev openmpi-bin
  libzmq3-dev cppzmq-dev
  libsodium-dev
  libcereal-dev
  nlohmann-json3-dev
  libboost-dev libboost-program-options-dev
  # ecps serve: /metrics in the Prometheus text format (prometheus-cpp's core).
  prometheus-cpp-dev
  # scripts/serve_load.sh: the HTTP load generator for ecps serve.
  wrk
  libyaml-cpp-dev
  libspdlog-dev libfmt-dev
  libxxhash-dev
  libabsl-dev
  libopenblas-openmp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  zlib1g-dev
  gnuplot-nox
  clang-format
  # scripts/fuzz.sh: the libFuzzer targets of fuzz/ (clang with its runtime).
  clang-14 libclang-rt-14-dev
)

missing=()
if [ -z "${ECPS_SKIP_APT:-}" ]; then
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${#missing[@]} packages: ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq || { echo "setup: apt-get update failed" >&2; exit 1; }
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || { echo "setup: apt-get install failed for: ${missing[*]}" >&2; exit 1; }
  fi
fi

BUILD_DIR="${ECPS_BUILD_DIR:-build}"
EXTRA=()
[ -n "${CI:-}" ] && EXTRA+=(-DECPS_WERROR=ON)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${EXTRA[@]}" ${ECPS_CMAKE_ARGS:-} >/dev/null \
  || { echo "setup: cmake configure failed (see above)" >&2; exit 1; }
cmake --build "$BUILD_DIR" -j "$(nproc)" \
  || { echo "setup: build failed" >&2; exit 1; }
echo "setup: built $BUILD_DIR/ecps" >&2
