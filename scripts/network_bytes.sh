#!/usr/bin/env bash
# Network bytes per training sample over the parameter server, per method:
# `ecps train --simulate` with 2 servers and 1 worker on generated data, every
# method at budget 10% (and 50% for the quantisation methods, whose ratios are
# fixed), same seed. Each configuration runs twice, to HI_STEPS and LO_STEPS
# steps: the difference of the two runs' bytes over the difference of their
# training samples is the traffic of a training step alone (pulls and
# pushes), without the fixed costs of a run (table reset, final evaluation;
# checkpoints do not cross the network: servers write their own shards).
# Prints a markdown table (also written to $OUT/network_bytes.md). Not a
# timing measurement.
#
#   scripts/network_bytes.sh [OUT_DIR]          (default runs/network_bytes)
#   ROWS=200000 FEATURES=50000 HI_STEPS=300 LO_STEPS=100 METHODS="full hash ..."
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/network_bytes}
ROWS=${ROWS:-200000}
FEATURES=${FEATURES:-50000}
HI_STEPS=${HI_STEPS:-300}
LO_STEPS=${LO_STEPS:-100}
QUANT="fp16 int8 int16 alpt post4bits mixedprec"
METHODS=${METHODS:-"full hash compoemb doublehash memcom binarycode robe $QUANT"}
[ -x build/ecps ] || { echo "build/ecps missing: build it first" >&2; exit 1; }
mkdir -p "$OUT"

run() {  # run METHOD BUDGET STEPS -> $OUT/METHOD_BUDGET_STEPS.json
  local json="$OUT/$1_$2_$3.json"
  [ -s "$json" ] && return 0
  ./build/ecps train --simulate --servers 2 --workers 1 --json --log-level warn \
    --set embedding.method="$1" --set embedding.budget="$2" \
    --set data.generate.rows="$ROWS" --set data.generate.features="$FEATURES" \
    --set data.generate.seed=1 --set train.seed=1 --set data.cache_dir="$OUT/data" \
    --set train.max_steps="$3" --set train.evals_per_epoch=0 \
    --set output.progress=none --set output.dir="$OUT/run_$1_$2_$3" > "$json.tmp"
  mv "$json.tmp" "$json"
}

configs=()
for m in $METHODS; do
  configs+=("$m 0.1")
  case " $QUANT " in *" $m "*) configs+=("$m 0.5") ;; esac
done
for c in "${configs[@]}"; do
  set -- $c
  echo "running $1 at budget $2" >&2
  run "$1" "$2" "$HI_STEPS"
  run "$1" "$2" "$LO_STEPS"
done

python3 - "$OUT" "$HI_STEPS" "$LO_STEPS" "${configs[@]}" <<'EOF'
import json, sys
out, hi, lo = sys.argv[1:4]
def load(m, b, s):
    with open(f"{out}/{m}_{b}_{s}.json") as f:
        return json.load(f)
rows, full = [], None
for c in sys.argv[4:]:
    m, b = c.split()
    h, l = load(m, b, hi), load(m, b, lo)
    samples = (h["steps"] - l["steps"]) * h["batch_size"]
    d = {k: (h["cluster"][k] - l["cluster"][k]) / samples
         for k in ("network_bytes", "server_bytes", "worker_bytes")}
    r = dict(method=m, budget=float(b), ratio=h["inference_memory_ratio"],
             total=h["network_bytes_per_sample"], auc=h["test_auc"], **d)
    if m == "full":
        full = r
    rows.append(r)
lines = ["| method | budget | memory ratio | bytes/sample (whole run) | training bytes/sample | "
         "server to worker (pull replies) | worker to server (pull ids + pushes) | "
         "training vs full | test AUC |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
for r in rows:
    vs = "%.2fx" % (r["network_bytes"] / full["network_bytes"]) if full else "-"
    budget = "-" if r["method"] == "full" else "%.0f%%" % (100 * r["budget"])
    lines.append("| %s | %s | %.2f%% | %.0f | %.0f | %.0f | %.0f | %s | %.4f |" % (
        r["method"], budget, 100 * r["ratio"], r["total"], r["network_bytes"],
        r["server_bytes"], r["worker_bytes"], vs, r["auc"]))
text = "\n".join(lines)
with open(f"{out}/network_bytes.md", "w") as f:
    f.write(text + "\n")
print(text)
EOF
