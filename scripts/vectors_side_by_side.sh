#!/usr/bin/env bash
# Retrieval-embedding compression side by side: faiss (Debian's python3-faiss,
# through the peer script ../shared/peers/faiss_baselines.py) and
# `ecps vectors` on the same inputs, in one run, into one table: data set,
# tool, method, budget, real ratio, recall@10, MSE, compression seconds,
# decode ns per vector (docs/methods.md §6 says what each measures), and
# a plot of recall@10 against memory per data set ($OUT/recall_vs_memory-*.png).
#
#   scripts/vectors_side_by_side.sh [OUT_DIR]        (default runs/vectors)
#   SIFT=../shared/data/sift5k   the sift5k folder (TSV; the last 500 rows become the queries)
#   GEN="20000x128"              generated clustered sets (peer's gen, 1000 queries), e.g.
#                                "100000x128 1000000x768"; empty: none
#   ECPS_GEN=""                  sets from `ecps vectors gen` (1000 queries, seed 0), KIND:NxD:
#                                "sift:100000x128 lowrank:1000000x768" (docs/methods.md §6,
#                                "Generated sets"); named sift100000x128, lowrank1000000x768
#   TABLES=""                    .npy matrices of other origin (a DLRM table exported by
#                                `ecps checkpoint export --format npy`): 1000 random rows
#                                (seed 0) are held out as the queries; named by the file
#   METHODS="int8 int16 pq svd pruning magpq magsvd tt rabitq dedup"   BUDGETS="50% 10% 1% 0.1%"
#   DEDUP_BUDGETS="50%"          dedup's budgets (it finds nothing to share in generated sets)
#   PQ_M="8 16 32"   faiss PQ sub-quantizer counts; ecps pq runs at the same m too, and
#                    int8 also as faiss's SQ8 quantiser (range=per_dim, rounding=nearest)
#   THREADS=1        threads of both sides
#
# Recall: ecps searches the decoded vectors exactly; faiss's
# IndexScalarQuantizer does the same, and IndexPQ's asymmetric distances are
# the exact distances to the reconstructions (the same ranking up to float
# rounding). Fixed-ratio methods (int8,
# int16) run once; a budget a method cannot reach is reported at its real
# ratio ("ratio" column). Do not time on a busy machine.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/vectors}
PEERS=${PEERS:-../shared/peers}
SIFT=${SIFT:-../shared/data/sift5k}
GEN=${GEN-"20000x128"}
ECPS_GEN=${ECPS_GEN:-}
TABLES=${TABLES:-}
METHODS=${METHODS:-"int8 int16 pq svd pruning magpq magsvd tt rabitq dedup"}
BUDGETS=${BUDGETS:-"50% 10% 1% 0.1%"}
PQ_M=${PQ_M:-"8 16 32"}
THREADS=${THREADS:-1}
PY=/usr/bin/python3
ECPS=${ECPS:-build/ecps}
mkdir -p "$OUT"

need=()
for p in python3-faiss python3-numpy python3-sklearn libopenblas0-openmp; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x "$ECPS" ] || ./scripts/setup.sh
# A private copy: a rebuild of build/ecps during the run must not break it.
cp "$ECPS" "$OUT/ecps.bin"
ECPS="$OUT/ecps.bin"

# Data sets: name, base .npy, queries .npy.
sets=()
if [ -n "$SIFT" ] && [ -f "$SIFT/sift-dataset-5k.tsv" ]; then
  if [ ! -f "$OUT/sift5k.npy" ]; then
    "$PY" - "$SIFT/sift-dataset-5k.tsv" "$OUT/sift5k" <<'PYEOF'
import sys, numpy as np
x = np.loadtxt(sys.argv[1], delimiter='\t', dtype='float32')[:, :128]  # column 129: the id
np.save(sys.argv[2] + '.npy', np.ascontiguousarray(x[:-500]))
np.save(sys.argv[2] + '.queries.npy', np.ascontiguousarray(x[-500:]))
PYEOF
  fi
  sets+=("sift5k $OUT/sift5k.npy $OUT/sift5k.queries.npy")
fi
for g in $GEN; do
  n=${g%x*}
  d=${g#*x}
  name="gen${n}x${d}"
  if [ ! -f "$OUT/$name.npy" ]; then
    "$PY" "$PEERS/faiss_baselines.py" gen --n "$n" --dim "$d" --clusters 256 --seed 0 \
      --out "$OUT/$name.npy" >/dev/null
  fi
  sets+=("$name $OUT/$name.npy $OUT/$name.queries.npy")
done
for g in $ECPS_GEN; do
  kind=${g%%:*}
  shape=${g#*:}
  name="$kind$shape"
  if [ ! -f "$OUT/$name.npy" ]; then
    "$ECPS" vectors gen --kind "$kind" --n "${shape%x*}" --dim "${shape#*x}" --seed 0 \
      --out "$OUT/$name.npy" >&2
  fi
  sets+=("$name $OUT/$name.npy $OUT/$name.queries.npy")
done
for t in $TABLES; do
  name=$(basename "${t%.npy}")
  if [ ! -f "$OUT/$name.npy" ]; then
    "$PY" - "$t" "$OUT/$name" <<'PYEOF'
import sys, numpy as np
x = np.load(sys.argv[1]).astype('float32')
q = np.random.default_rng(0).choice(len(x), min(1000, len(x) // 10), replace=False)
keep = np.ones(len(x), bool); keep[q] = False
np.save(sys.argv[2] + '.npy', np.ascontiguousarray(x[keep]))
np.save(sys.argv[2] + '.queries.npy', np.ascontiguousarray(x[q]))
PYEOF
  fi
  sets+=("$name $OUT/$name.npy $OUT/$name.queries.npy")
done

rows="$OUT/rows.jsonl"
: > "$rows"
for s in "${sets[@]}"; do
  read -r name base queries <<<"$s"
  echo "== $name" >&2
  # faiss: one process per data set (train, encode, decode latency, search).
  pqm=$(tr ' ' ',' <<<"$PQ_M")
  "$PY" "$PEERS/faiss_baselines.py" run --input "$base" --queries "$queries" \
    --methods sq8,sqfp16,sq4,pq --pq-m "$pqm" --threads "$THREADS" |
    sed -n 's/^RESULT //p' |
    "$PY" -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(json.dumps(dict(data=sys.argv[1], tool="faiss", method=r["method"], budget="",
        ratio=(r["code_bytes"] + r["codebook_bytes"]) / (4.0 * r["n"] * r["d"]),
        bytes=r["code_bytes"] + r["codebook_bytes"], recall=r["recall_at_k"], mse=r["mse"],
        compress_s=r["compress_s"], decode_ns=r["decode_ns_per_vec"])))' "$name" >>"$rows"
  # ecps: every method at every budget (fixed-ratio ones once), and PQ at faiss's m.
  runs=()
  for m in $METHODS; do
    case $m in
      # Fixed ratios (25% / 50% + a few bytes): run once, at no budget.
      int8) runs+=("int8 100%" "int8 100% range=per_dim+rounding=nearest") ;;
      # Finds nothing to share in generated vectors: one budget shows it
      # (DEDUP_BUDGETS="$BUDGETS" for a trained table).
      dedup) for b in ${DEDUP_BUDGETS:-${BUDGETS%% *}}; do runs+=("dedup $b"); done ;;
      int16) runs+=("int16 100%") ;;
      rabitq) runs+=("rabitq 100%") ;;
      *) for b in $BUDGETS; do runs+=("$m $b"); done ;;
    esac
  done
  for m in $PQ_M; do runs+=("pq 100% m=$m"); done
  for r in "${runs[@]}"; do
    read -r method budget param <<<"$r"
    file="$OUT/$name.$method.${budget%\%}${param:+.${param//[=+]/_}}.ecv"
    extra=()
    for p in ${param:+${param//+/ }}; do extra+=(--param "$p"); done
    "$ECPS" vectors compress --in "$base" --method "$method" --budget "$budget" --out "$file" \
      --threads "$THREADS" ${extra[@]+"${extra[@]}"} >&2
    "$ECPS" vectors eval --original "$base" --compressed "$file" --queries "$queries" --json |
      "$PY" -c '
import json, sys
r = json.loads(sys.stdin.read())
label = r["method"] if not sys.argv[3] else r["method"] + "(" + r["params"] + ")"
print(json.dumps(dict(data=sys.argv[1], tool="ecps", method=label,
    budget="" if sys.argv[3] or sys.argv[2] == "100%" else sys.argv[2], ratio=r["ratio"],
    bytes=r["memory_bytes"], recall=r["recall_at_k"],
    mse=r["mse"], compress_s=r["compress_s"], decode_ns=r["decode_ns_per_vector"],
    params=r["params"], reached=r["budget_reached"])))' "$name" "$budget" "${param:-}" >>"$rows"
  done
done

"$PY" - "$rows" >"$OUT/table.md" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| data | tool | method | budget | ratio | bytes | recall@10 | MSE | compress s | decode ns/vector |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    method = r["method"] + (" (" + r["params"] + ")" if r.get("params") and "(" not in r["method"] else "")
    budget = r["budget"] + ("" if r.get("reached", True) or not r["budget"] else " (unreachable)")
    print(f"| {r['data']} | {r['tool']} | {method} | {budget} | {100 * r['ratio']:.3f}% | {r['bytes']:,} | "
          f"{r['recall']:.4f} | {r['mse']:.4g} | {r['compress_s']:.3f} | {r['decode_ns']:.1f} |")
PYEOF
# recall@10 against memory, one plot per data set (gnuplot, when installed).
if command -v gnuplot >/dev/null; then
  "$PY" - "$rows" "$OUT" <<'PYEOF'
import collections, json, os, re, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
out = sys.argv[2]
for data in sorted({r["data"] for r in rows}):
    series = collections.OrderedDict()
    for r in rows:
        if r["data"] != data:
            continue
        # One series per method: faiss's pq8/pq16/... and ecps's pq at
        # faiss's m join their method's line.
        name = r["tool"] + " " + re.sub(r"^pq\d+$", "pq", r["method"].split("(")[0])
        series.setdefault(name, []).append((100 * r["ratio"], r["recall"]))
    plots = []
    for i, (name, pts) in enumerate(series.items()):
        dat = os.path.join(out, f"plot-{data}-{i}.dat")
        with open(dat, "w") as f:
            for x, y in sorted(pts):
                f.write(f"{x} {y}\n")
        style = f"lc {i % 8 + 1} pt {i + 1}" + (" dt 2" if name.startswith("faiss") else "")
        plots.append(f"'{dat}' using 1:2 with linespoints {style} title '{name}'")
    png = os.path.join(out, f"recall_vs_memory-{data}.png")
    gp = ("set terminal pngcairo noenhanced size 1200,700 font 'Sans,11' linewidth 1.5\n"
          f"set output '{png}'\nset logscale x\nset xlabel 'memory (% of float32)'\n"
          f"set ylabel 'recall@10'\nset yrange [0:1.02]\nset key outside right\n"
          f"set title 'recall@10 vs memory ({data})'\nplot " + ", ".join(plots) + "\n")
    subprocess.run(["gnuplot"], input=gp.encode(), check=True)
PYEOF
fi
cat "$OUT/table.md"
