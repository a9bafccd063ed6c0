set terminal pngcairo size 1200,700 font 'Sans,11' linewidth 1.5
set output "docs/results/train_time_vs_budget-gen2m-dlrm.png"
set title "Training time vs budget (gen2m, dlrm, d = 16)" noenhanced font 'Sans,13'
set xlabel "memory budget (fraction of the full table, log scale)" noenhanced
set ylabel "training time, all stages (s)" noenhanced
set grid xtics ytics mxtics mytics lc rgb '#dddddd'
set key outside right top noenhanced spacing 1.2
set border 3
set tics nomirror
set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05
set logscale x
set autoscale xfix
set format x '%g'
set xtics ("50%%" 0.5, "10%%" 0.1, "1%%" 0.01, "0.1%%" 0.001, "100%%" 1)
set mxtics 1
plot "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 0 using 1:2 with linespoints lc rgb '#1f77b4' dt 1 pt 1 ps 1.4 title "full", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 1 using 1:2 with linespoints lc rgb '#d62728' dt 1 pt 2 ps 1.4 title "hash", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 2 using 1:2 with linespoints lc rgb '#2ca02c' dt 1 pt 3 ps 1.4 title "compoemb", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 3 using 1:2 with linespoints lc rgb '#ff7f0e' dt 1 pt 4 ps 1.4 title "cce", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 4 using 1:2 with linespoints lc rgb '#9467bd' dt 1 pt 5 ps 1.4 title "doublehash", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 5 using 1:2 with linespoints lc rgb '#8c564b' dt 1 pt 6 ps 1.4 title "memcom", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 6 using 1:2 with linespoints lc rgb '#e377c2' dt 1 pt 7 ps 1.4 title "binarycode", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 7 using 1:2 with linespoints lc rgb '#17becf' dt 1 pt 8 ps 1.4 title "tt_rec", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 8 using 1:2 with linespoints lc rgb '#1f77b4' dt 2 pt 9 ps 1.4 title "dhe", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 9 using 1:2 with linespoints lc rgb '#d62728' dt 2 pt 10 ps 1.4 title "robe", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 10 using 1:2 with linespoints lc rgb '#2ca02c' dt 2 pt 11 ps 1.4 title "dedup", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 11 using 1:2 with linespoints lc rgb '#ff7f0e' dt 2 pt 12 ps 1.4 title "fp16", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 12 using 1:2 with linespoints lc rgb '#9467bd' dt 2 pt 13 ps 1.4 title "int8", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 13 using 1:2 with linespoints lc rgb '#8c564b' dt 2 pt 1 ps 1.4 title "int16", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 14 using 1:2 with linespoints lc rgb '#e377c2' dt 2 pt 2 ps 1.4 title "alpt", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 15 using 1:2 with linespoints lc rgb '#17becf' dt 2 pt 3 ps 1.4 title "post4bits", \
     "docs/results/train_time_vs_budget-gen2m-dlrm.dat" index 16 using 1:2 with linespoints lc rgb '#1f77b4' dt 3 pt 4 ps 1.4 title "mixedprec"
