#!/usr/bin/env bash
# Checks the thread-safety annotations (ABSL_GUARDED_BY & co.) of the code
# whose mutexes are ecps::Mutex / ecps::SharedMutex (common/mutex.h): comm/,
# scheduler/, common/, launch/, ps/. clang's -Wthread-safety analysis runs
# over each of their files, syntax only, with the flags of a configured build
# tree's compile_commands.json; any finding fails the check. scripts/tsan.sh
# runs it.
#
#   scripts/check_thread_safety.sh [build-dir]     (default: build)
#
# Only these folders: the project's compiler is GCC, which ignores the
# annotations, and clang 14 cannot compile every file of the tree (_Float16
# on x86: compressors/, embedding/). Of those, compressors/compressor.cc holds
# the one mutex (ecps::Mutex) and is checked on its own (FILES below);
# -Wno-thread-safety-attributes silences the notes about annotations in
# headers the checked files include.
#
# Exit codes: 0 clean (or clang++ not installed: skipped, said on stderr);
# 1 a finding; 2 no compile_commands.json.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
DB="$BUILD_DIR/compile_commands.json"
[ -f "$DB" ] || { echo "check_thread_safety: no $DB (configure $BUILD_DIR first)" >&2; exit 2; }
if ! command -v clang++ >/dev/null; then
  echo "check_thread_safety: clang++ not installed: annotations NOT checked" >&2
  exit 0
fi
FLAGS=(-fsyntax-only -Wthread-safety -Werror=thread-safety -Wno-thread-safety-attributes
  -Wno-unknown-warning-option)

# CMake writes one "command" line per file: "<compiler> <flags> -o <obj> -c <src>".
DIRS=(comm scheduler common launch ps)
# Single files of other folders whose mutexes are ecps::Mutex (the rest of
# their folder cannot be analysed: see above).
FILES=('compressors/compressor\.cc')
mapfile -t commands < <(grep -E "^ *\"command\": \".* -c $PWD/(($(IFS='|'; echo "${DIRS[*]}"))/[^ ]*\\.cc|$(IFS='|'; echo "${FILES[*]}"))\",?\$" "$DB")
[ ${#commands[@]} -gt 0 ] || { echo "check_thread_safety: no ${DIRS[*]} files in $DB" >&2; exit 2; }
check() {  # $1 = the compile command line from $DB
  local line=$1 cmd src w skip=0
  local -a words args=()
  cmd=${line#*\"command\": \"}
  cmd=${cmd%\"*}
  src=${cmd##* }
  # Flags between the compiler and the output, without GCC's dependency-file options.
  read -ra words <<<"${cmd% -o *}"
  for w in "${words[@]:1}"; do
    if [ $skip -eq 1 ]; then skip=0; continue; fi
    case "$w" in
      -MD) ;;
      -MT | -MF) skip=1 ;;
      *) args+=("$w") ;;
    esac
  done
  clang++ "${args[@]}" "${FLAGS[@]}" "$src" || { echo "check_thread_safety: $src" >&2; return 1; }
}
# One file per core at a time; a failure is reported once all are done.
status=0
jobs=$(nproc)
running=0
for line in "${commands[@]}"; do
  check "$line" &
  running=$((running + 1))
  if [ $running -ge $jobs ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
done
while [ $running -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
[ $status -eq 0 ] && echo "check_thread_safety: ${#commands[@]} files clean" >&2
exit $status
