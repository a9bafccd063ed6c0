#!/usr/bin/env bash
# Enforces the one-way dependency rule of docs/architecture.md (style.md §5)
# on #include lines: a folder may include only the folders it may depend on.
#
# CUDA rule (issue 20, cmake/EcpsCuda.cmake): CUDA headers (<cuda*.h>,
# <cublas*>, <nccl.h>, <cub/...>, <thrust/...>, ...) and .cu files only in a
# folder named cuda/, so that everything else builds without the toolkit.
#
# Usage: check_deps.sh [ROOT]   (ROOT: the tree to check; default this repository)
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
declare -A allowed=(
  [common]="common"
  [comm]="common comm"
  [compressors]="common compressors"
  [embedding]="common compressors embedding"
  [ps]="common comm compressors embedding ps"
  [worker]="common comm compressors embedding ps worker"
  [scheduler]="common comm scheduler"
  [vectors]="common compressors vectors"
)
# Of compressors/, vectors/ may use only the k-means, the L2LSH and the PQ
# (docs/architecture.md): the retrieval codecs share the clustering, the
# block hashing and the product quantisation, not the training-time interface.
declare -A only_files=(
  [vectors:compressors]="compressors/internal/kmeans.h compressors/internal/l2lsh.h compressors/internal/pq_core.h"
)
status=0
for dir in "${!allowed[@]}"; do
  [ -d "$dir" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include "([^/"]+)\/.*/\1/' <<<"$line")
    case " common comm compressors vectors embedding ps worker scheduler launch tools tests bench " in
      *" $inc "*) ;;
      *) continue ;;  # a third-party include (absl/, spdlog/, ...)
    esac
    ok=0
    for a in ${allowed[$dir]}; do [ "$inc" = "$a" ] && ok=1; done
    if [ $ok -eq 0 ]; then
      echo "check_deps: $file includes $inc/, but $dir/ may use only: ${allowed[$dir]}" >&2
      status=1
    elif [ -n "${only_files[$dir:$inc]:-}" ]; then
      header=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$line")
      case " ${only_files[$dir:$inc]} " in
        *" $header "*) ;;
        *)
          echo "check_deps: $file includes $header, but of $inc/ $dir/ may use only: ${only_files[$dir:$inc]}" >&2
          status=1
          ;;
      esac
    fi
  done < <(grep -rHE '#include "[a-z_]+/' "$dir" --include='*.h' --include='*.cc' --include='*.cu' --include='*.cuh' || true)
done
cuda_headers='#include[[:space:]]*<(cuda|cuda_runtime|cuda_runtime_api|cuda_fp16|cuda_bf16|cublas|cublasLt|cublas_v2|curand|cusparse|cudnn|nccl|nvtx3|cub|thrust|cuda/)[^>]*>'
for dir in common comm compressors vectors embedding ps worker scheduler launch tools tests bench fuzz; do
  [ -d "$dir" ] || continue
  while IFS= read -r file; do
    case "/$file" in */cuda/*) continue ;; esac
    case "$file" in
      *.cu | *.cuh)
        echo "check_deps: $file is CUDA code outside a cuda/ folder" >&2
        status=1
        ;;
      *)
        if grep -qE "$cuda_headers" "$file"; then
          echo "check_deps: $file includes a CUDA header outside a cuda/ folder:" \
            "$(grep -hE "$cuda_headers" "$file" | head -1)" >&2
          status=1
        fi
        ;;
    esac
  done < <(find "$dir" -type f \( -name '*.h' -o -name '*.cc' -o -name '*.cu' -o -name '*.cuh' \))
done
[ $status -eq 0 ] && echo "check_deps: dependency direction respected"
exit $status
