#!/usr/bin/env bash
# scripts/check_deps.sh's CUDA rule on fixture trees: a CUDA header or a .cu
# file outside a cuda/ folder fails the check, naming the file; the same
# inside worker/model/cuda/ passes. Usage: check_deps_cuda_test.sh REPO_ROOT
set -euo pipefail
check="$1/scripts/check_deps.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check_deps_cuda_test: $*" >&2; exit 1; }

mkdir -p "$tmp/ok/worker/model/cuda" "$tmp/ok/tests/model/cuda" "$tmp/ok/common"
printf '#include <cuda_runtime.h>\n#include <cublas_v2.h>\n' > "$tmp/ok/worker/model/cuda/a.cc"
printf '#include <cuda_runtime.h>\n' > "$tmp/ok/tests/model/cuda/t.cc"
printf '__global__ void k() {}\n' > "$tmp/ok/worker/model/cuda/k.cu"
printf '#include <vector>\n' > "$tmp/ok/common/x.h"
"$check" "$tmp/ok" >/dev/null 2>&1 || fail "a clean tree was refused"

cp -r "$tmp/ok" "$tmp/header"
printf '#include <cuda_runtime.h>\n' > "$tmp/header/common/y.cc"
if out=$("$check" "$tmp/header" 2>&1); then fail "a CUDA header in common/ passed"; fi
grep -q "common/y.cc includes a CUDA header" <<<"$out" || fail "unexpected message: $out"

cp -r "$tmp/ok" "$tmp/nccl"
mkdir -p "$tmp/nccl/comm"
printf '#include  <nccl.h>\n' > "$tmp/nccl/comm/c.h"
if "$check" "$tmp/nccl" >/dev/null 2>&1; then fail "<nccl.h> in comm/ passed"; fi

cp -r "$tmp/ok" "$tmp/cu"
printf '__global__ void k() {}\n' > "$tmp/cu/worker/model/k.cu"
if out=$("$check" "$tmp/cu" 2>&1); then fail "a .cu file outside cuda/ passed"; fi
grep -q "worker/model/k.cu is CUDA code outside a cuda/ folder" <<<"$out" ||
  fail "unexpected message: $out"
echo "check_deps_cuda_test: ok"
