#!/usr/bin/env bash
# The survey's Figure 6 (issue 17 item 4): the parameters a pruning method
# keeps per feature against the feature's train count, at d = 16 and d = 64.
# Trains each method of --methods at each dimension on generated
# Criteo-shaped data (ecps train, data.source=generate), writes every
# feature's train count and kept parameters with `ecps allocation`, and plots
# the mean kept parameters per feature over logarithmic frequency bins (one
# panel per dimension, one line per method) with gnuplot, as `ecps bench`
# plots (pngcairo; the .dat and .gp kept next to the PNG).
#
# usage: scripts/plot_allocation.sh [--ecps PATH] [--work DIR] [--out DIR]
#          [--methods "autosrh deeplight pep"] [--dims "16 64"] [--budget B]
#          [--rows N] [--features F] [--steps S]
# Writes DIR/allocation_per_feature.png (default docs/results) with its .dat and .gp
# and, under --work, each run and its allocation_<method>_d<d>.tsv.
set -euo pipefail

ecps=./build/ecps
work=/tmp/ecps_allocation
out=docs/results
methods="autosrh deeplight pep"
dims="16 64"
budget=0.1
rows=200000
features=20000
steps=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ecps) ecps=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --methods) methods=$2; shift 2 ;;
    --dims) dims=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --features) features=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "plot_allocation.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x "$ecps" ]] || { echo "plot_allocation.sh: no ecps binary at '$ecps' (--ecps)" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "plot_allocation.sh: gnuplot is not installed" >&2; exit 2; }
mkdir -p "$work" "$out"

for d in $dims; do
  for m in $methods; do
    run="$work/${m}_d${d}"
    "$ecps" train --log-level warn \
      --set data.source=generate --set data.cache_dir="$work/data" \
      --set data.generate.rows="$rows" --set data.generate.features="$features" \
      --set model.bottom=64,32 --set model.top=64,32 --set train.batch_size=128 \
      --set train.epochs=1 --set train.evals_per_epoch=4 --set train.max_steps="$steps" \
      --set optimizer.lr=0.003 --set output.progress=none --set output.dir="$run" \
      --set embedding.method="$m" --set embedding.dim="$d" --set embedding.budget="$budget" \
      > "$run.log"
    "$ecps" allocation --model "$run/best.ckpt" --out "$work/allocation_${m}_d${d}.tsv"
  done
done

# Mean kept parameters per feature in bins of log2(train count + 1), one
# block per (dimension, method): bin centre (count), mean, features.
dat="$out/allocation_per_feature.dat"
: > "$dat"
for d in $dims; do
  for m in $methods; do
    echo "# d=$d method=$m" >> "$dat"
    awk -F'\t' 'NR > 1 { b = int(log($3 + 1) / log(2)); s[b] += $4; n[b]++ }
      END { for (b in n) printf "%d\t%.6g\t%.6g\t%d\n", b, 2 ^ (b + 0.5) - 1, s[b] / n[b], n[b] }' \
      "$work/allocation_${m}_d${d}.tsv" | sort -n | cut -f2- >> "$dat"
    printf '\n\n' >> "$dat"
  done
done

gp="$out/allocation_per_feature.gp"
ndims=$(wc -w <<< "$dims")
{
  echo "set terminal pngcairo size $((560 * ndims)),420 font ',10'"
  echo "set output '$out/allocation_per_feature.png'"
  echo "set multiplot layout 1,$ndims title 'Parameters kept per feature vs train count (budget $budget)'"
  echo "set logscale x"
  echo "set xlabel 'train count of the feature + 1'"
  echo "set ylabel 'parameters kept (mean per frequency bin)'"
  echo "set key top left"
  echo "set grid"
  block=0
  for d in $dims; do
    echo "set title 'd = $d'"
    echo "set yrange [0:$d]"
    plot="plot"
    for m in $methods; do
      plot="$plot '$dat' index $block using (\$1 + 1):2 with linespoints title '$m',"
      block=$((block + 1))
    done
    echo "${plot%,}"
  done
  echo "unset multiplot"
} > "$gp"
gnuplot "$gp"
echo "plot_allocation.sh: wrote $out/allocation_per_feature.png ($dat, $gp)"
