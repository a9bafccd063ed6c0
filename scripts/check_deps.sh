#!/usr/bin/env bash
# Enforces the one-way dependency rule of docs/architecture.md (style.md §5)
# on #include lines: a folder may include only the folders it may depend on.
set -euo pipefail
cd "$(dirname "$0")/.."
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
# Of compressors/, vectors/ may use only the k-means (docs/architecture.md):
# the retrieval codecs share the clustering, not the training-time interface.
declare -A only_files=(
  [vectors:compressors]="compressors/internal/kmeans.h"
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
  done < <(grep -rHE '#include "[a-z_]+/' "$dir" --include='*.h' --include='*.cc' --include='*.cu' || true)
done
[ $status -eq 0 ] && echo "check_deps: dependency direction respected"
exit $status
