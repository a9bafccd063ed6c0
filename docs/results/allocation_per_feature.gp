set terminal pngcairo size 1120,420 font ',10'
set output 'docs/results/allocation_per_feature.png'
set multiplot layout 1,2 title 'Parameters kept per feature vs train count (budget 0.1)'
set logscale x
set xlabel 'train count of the feature + 1'
set ylabel 'parameters kept (mean per frequency bin)'
set key top left
set grid
set title 'd = 16'
set yrange [0:16]
plot 'docs/results/allocation_per_feature.dat' index 0 using ($1 + 1):2 with linespoints title 'autosrh', 'docs/results/allocation_per_feature.dat' index 1 using ($1 + 1):2 with linespoints title 'deeplight', 'docs/results/allocation_per_feature.dat' index 2 using ($1 + 1):2 with linespoints title 'pep'
set title 'd = 64'
set yrange [0:64]
plot 'docs/results/allocation_per_feature.dat' index 3 using ($1 + 1):2 with linespoints title 'autosrh', 'docs/results/allocation_per_feature.dat' index 4 using ($1 + 1):2 with linespoints title 'deeplight', 'docs/results/allocation_per_feature.dat' index 5 using ($1 + 1):2 with linespoints title 'pep'
unset multiplot
