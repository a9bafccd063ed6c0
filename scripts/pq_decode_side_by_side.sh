#!/usr/bin/env bash
# PQ batched decode, ecps against faiss on the same codes (issue 21 item 4):
# ecps compresses X with `pq` at each m (8 bits); the same centroids and
# codes are loaded into a faiss IndexPQ (Debian's python3-faiss), and both
# decode batches of 1024 random ids, one thread each: ecps through
# bench/vectors_bench's BM_DecodeFile (ECPS_VECTORS_BENCH_FILE), faiss through
# sa_decode (the peer script's call; the row gather codes[ids] is not timed).
# The two run interleaved, ROUNDS times (default 3), and the table gives each
# side's median of the rounds in ns per vector, with the load average at the
# start and end (do not compare on a busy machine). faiss's reconstruction
# MSE is checked equal to ecps's (`ecps vectors eval`): the same codes.
#
#   scripts/pq_decode_side_by_side.sh X.npy [OUT_DIR]   (default runs/pq_decode)
#   PQ_M="8 16 32"   ROUNDS=3   MIN_TIME=0.5 (seconds per ecps measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
X=${1:?usage: pq_decode_side_by_side.sh X.npy [OUT_DIR]}
OUT=${2:-runs/pq_decode}
PQ_M=${PQ_M:-"8 16 32"}
ROUNDS=${ROUNDS:-3}
MIN_TIME=${MIN_TIME:-0.5}
PY=/usr/bin/python3
ECPS=${ECPS:-build/ecps}
BENCH=${BENCH:-build/bench/vectors_bench}
mkdir -p "$OUT"
# A few rows as eval's queries (eval needs some; only its MSE is used here).
"$PY" -c 'import sys, numpy as np; np.save(sys.argv[2], np.load(sys.argv[1], mmap_mode="r")[:16])' \
  "$X" "$OUT/queries.npy"
[ -x "$ECPS" ] && [ -x "$BENCH" ] || { echo "build ecps and vectors_bench first" >&2; exit 2; }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
rows="$OUT/rows.txt"
: >"$rows"
for m in $PQ_M; do
  file="$OUT/pq_m$m.ecv"
  "$ECPS" vectors compress --in "$X" --method pq --budget 100% --param "m=$m" --out "$file" >&2
  mse=$("$ECPS" vectors eval --original "$X" --compressed "$file" --queries "$OUT/queries.npy" --k 1 --json |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)["mse"])')
  for r in $(seq "$ROUNDS"); do
    e=$(ECPS_VECTORS_BENCH_FILE="$file" "$BENCH" --benchmark_min_time="$MIN_TIME" \
      --benchmark_format=json 2>/dev/null |
      "$PY" -c 'import json, sys; v = json.load(sys.stdin)["benchmarks"][0]["ns_per_vector"]; print(v * 1e9 if v < 1e-3 else v)')
    f=$("$PY" - "$file" "$X" "$mse" <<'PYEOF'
import struct, sys, time
import numpy as np
import faiss
faiss.omp_set_num_threads(1)
b = open(sys.argv[1], 'rb').read()
off = 12  # magic, version
def take(fmt):
    global off
    v = struct.unpack_from('<' + fmt, b, off); off += struct.calcsize('<' + fmt); return v[0]
def string():
    global off
    k = take('Q'); s = b[off:off + k]; off += k; return s.decode()
def array(dtype):
    global off
    k = take('Q'); a = np.frombuffer(b, dtype, k, off); off += k * np.dtype(dtype).itemsize; return a
method, n, d = string(), take('Q'), take('i')
take('d'); take('d'); take('Q'); string(); take('Q')  # budget, seconds, checksum, params, memory
assert method == 'pq', method
m, bits, rows = take('i'), take('i'), take('Q')
cen, codes = array('<f4'), array('u1')
assert bits == 8 and rows == n and codes.size == n * m
index = faiss.IndexPQ(d, m, bits)
faiss.copy_array_to_vector(cen, index.pq.centroids)
index.is_trained = True
codes = codes.reshape(n, m)
x = np.load(sys.argv[2])
mse = float(((index.sa_decode(codes) - x) ** 2).sum() / x.size)
want = float(sys.argv[3])
assert abs(mse - want) <= 1e-5 * max(1.0, want), f'faiss MSE {mse} != ecps {want}: not the same codes'
r = np.random.default_rng(0)
lat = []
for i in range(105):
    cb = codes[r.integers(0, n, 1024)]
    t = time.perf_counter(); index.sa_decode(cb); dt = time.perf_counter() - t
    if i >= 5: lat.append(dt)
print(np.median(lat) * 1e9 / 1024)
PYEOF
)
    echo "$m $r $e $f" >>"$rows"
    echo "m=$m round $r: ecps $e ns/vector, faiss $f" >&2
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
"$PY" - "$rows" "$load_start" "$load_end" "$X" <<'PYEOF' | tee "$OUT/table.md"
import collections, statistics, sys
runs = collections.defaultdict(lambda: ([], []))
for line in open(sys.argv[1]):
    m, _, e, f = line.split()
    runs[int(m)][0].append(float(e)); runs[int(m)][1].append(float(f))
print(f"PQ decode of {sys.argv[4]}, batches of 1024 random ids, one thread; load average "
      f"{sys.argv[2]} at the start, {sys.argv[3]} at the end")
print()
print("| m | ecps ns/vector (median) | faiss ns/vector (median) | ecps / faiss | ecps rounds | faiss rounds |")
print("|---|---|---|---|---|---|")
for m, (e, f) in sorted(runs.items()):
    me, mf = statistics.median(e), statistics.median(f)
    print(f"| {m} | {me:.1f} | {mf:.1f} | {me / mf:.2f} | {', '.join(f'{v:.1f}' for v in e)} | "
          f"{', '.join(f'{v:.1f}' for v in f)} |")
PYEOF
