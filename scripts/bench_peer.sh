#!/usr/bin/env bash
# Side-by-side training throughput and quality: ecps vs the PyTorch CPU DLRM peer
# (../shared/peers/torch_dlrm.py), same generated file, same model sizes, same
# split (last 10% test), one epoch, lr 0.001, batch 128 and 4096. The peer runs
# with 1 and 2 threads; its better number counts. Results go to
# $OUT/summary.md and are recorded in docs/performance.md.
#
#   scripts/bench_peer.sh [OUT_DIR]        (default runs/bench_peer)
#   BATCHES="128 4096" PEER_THREADS="1 2" ROWS=2000000 FEATURES=750000 REPEATS=1
#
# REPEATS=N runs every configuration N times, interleaved (ecps, peer 1
# thread, peer 2 threads, then again), and the summary compares medians: on a
# shared machine single runs of either side vary by about +-10%.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/bench_peer}
PEERS=${PEERS:-../shared/peers}
ROWS=${ROWS:-2000000}
FEATURES=${FEATURES:-750000}
BATCHES=${BATCHES:-"128 4096"}
PEER_THREADS=${PEER_THREADS:-"1 2"}
REPEATS=${REPEATS:-1}
mkdir -p "$OUT"

need=()
for p in python3-torch python3-numpy python3-sklearn libopenblas0-openmp; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x build/ecps ] || ./scripts/setup.sh

DATA="$OUT/criteo_${ROWS}.txt"
if [ ! -f "$DATA" ]; then
  /usr/bin/python3 "$PEERS/gen_criteo.py" --rows "$ROWS" --features "$FEATURES" --seed 1 --out "$DATA"
fi

results="$OUT/results.tsv"
: > "$results"
for b in $BATCHES; do
 for rep in $(seq 1 "$REPEATS"); do
  ./build/ecps train --config configs/peer_benchmark.yaml --json --log-level warn \
    --set data.raw="$DATA" --set data.cache_dir="$OUT/cache" \
    --set train.batch_size="$b" --set output.dir="$OUT/ecps_b$b" --set output.progress=none \
    > "$OUT/ecps_b${b}_r$rep.json"
  python3 - "$OUT/ecps_b${b}_r$rep.json" "$b" >> "$results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"ecps\t{sys.argv[2]}\t2\t{r['throughput_samples_per_s']:.0f}\t{r['test_auc']:.5f}\t{r['test_logloss']:.5f}")
PY
  for t in $PEER_THREADS; do
    /usr/bin/python3 "$PEERS/torch_dlrm.py" --data "$DATA" --batch "$b" --lr 0.001 --threads "$t" \
      --log-every 0 > "$OUT/peer_b${b}_t${t}_r$rep.log"
    grep '^RESULT ' "$OUT/peer_b${b}_t${t}_r$rep.log" | sed 's/^RESULT //' | python3 -c "
import json, sys
r = json.load(sys.stdin)
print(f\"peer\t$b\t$t\t{r['samples_per_s']:.0f}\t{r['test_auc']:.5f}\t{r['test_logloss']:.5f}\")" >> "$results"
  done
 done
done

python3 - "$results" > "$OUT/summary.md" <<'PY'
import sys, collections, statistics
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if l.strip()]
# One line per (system, batch, threads): the median of its runs, and the runs.
cells = collections.OrderedDict()
for r in rows:
    cells.setdefault((r[0], r[1], r[2]), []).append(r)
print('| system | batch | threads | samples/s (median) | runs | test AUC | test logloss |')
print('|---|---|---|---|---|---|---|')
med = {}
for (system, b, t), rs in cells.items():
    m = statistics.median(float(r[3]) for r in rs)
    med[(system, b, t)] = (m, rs[0])
    runs = ', '.join(r[3] for r in rs)
    print(f'| {system} | {b} | {t} | {m:.0f} | {runs} | {rs[0][4]} | {rs[0][5]} |')
print()
print('| batch | ecps / best peer (median samples/s) | AUC ecps - peer |')
print('|---|---|---|')
for b in dict.fromkeys(k[1] for k in cells):
    e = [v for k, v in med.items() if k[0] == 'ecps' and k[1] == b][0]
    peers = [(k, v) for k, v in med.items() if k[0] == 'peer' and k[1] == b]
    (_, _, bt), best = max(peers, key=lambda kv: kv[1][0])
    print(f'| {b} | {e[0] / best[0]:.2f}x (peer best: {bt} threads) | '
          f'{float(e[1][4]) - float(best[1][4]):+.4f} |')
PY
cat "$OUT/summary.md"
