#!/usr/bin/env bash
# Every example config in configs/ still validates with this build: training
# configs through `ecps train --print-config` (schema, bounds, method
# parameters), bench suites through `ecps bench --dry-run` (suite keys, and
# the first run's config). Run by ctest as `style.example_configs`.
#   scripts/check_configs.sh [ECPS]      (default build/ecps)
set -uo pipefail
cd "$(dirname "$0")/.."
ECPS=${1:-build/ecps}
[ -x "$ECPS" ] || { echo "check_configs: $ECPS is not built" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0
for f in configs/*.yaml configs/compressors/*.yaml; do
  if ! "$ECPS" train --config "$f" --print-config >/dev/null 2>"$tmp/err"; then
    echo "check_configs: $f is rejected:" >&2
    cat "$tmp/err" >&2
    bad=1
  fi
done
for f in configs/bench/*.yaml; do
  if ! "$ECPS" bench --suite "$f" --out "$tmp/$(basename "$f" .yaml)" --dry-run >/dev/null 2>"$tmp/err"; then
    echo "check_configs: $f is rejected:" >&2
    cat "$tmp/err" >&2
    bad=1
  fi
done
[ "$bad" = 0 ] && echo "check_configs: every example config validates"
exit "$bad"
