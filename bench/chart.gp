# The benchmark's chart: gnuplot -e "dir='bench/results/<run>'" bench/chart.gp  (run.sh does this)
# Reads the tables Relay.Bench writes in <dir>/chart/ and writes <dir>/chart.png.
if (!exists("dir")) dir = "bench/results/latest"
set terminal pngcairo size 1500,900 font "sans,10"
set output dir."/chart.png"
set datafile missing "?"
set key top left
set grid ytics
title = system("cat '".dir."/chart/title.txt'")
relay = "#1f77b4"; reference = "#d62728"; floor = "#7f7f7f"

set multiplot layout 2,3 title title font "sans,12"

# 1. Introduction storm: joins/s against N (log-log). Flat is the goal.
set title "Introduction storm: joins/s vs peers"
set logscale xy
set xlabel "peers (N), joining N/2 documents"
set ylabel "joins/s"
set format x "%.0s%c"
set format y "%.0s%c"
plot dir."/chart/storm.dat" using 1:2 with linespoints lw 2 pt 7 lc rgb relay title "Relay", \
     "" using 1:3 with linespoints lw 2 pt 5 lc rgb reference title "@localfirst/relay"
unset logscale; set format x "%g"; set format y "%g"

# 2. Storm cost per join.
set title "Introduction storm: server CPU per join"
set logscale xy
set xlabel "peers (N)"
set ylabel "server CPU µs per join"
set format x "%.0s%c"
plot dir."/chart/storm.dat" using 1:4 with linespoints lw 2 pt 7 lc rgb relay title "Relay", \
     "" using 1:5 with linespoints lw 2 pt 5 lc rgb reference title "@localfirst/relay"
unset logscale; set format x "%g"

# 3. Pipe throughput cost.
set title "Pipe: server CPU seconds per GB relayed (lower is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xlabel ""
set ylabel "CPU s per GB"
set yrange [0:*]
set xtics nomirror
plot dir."/chart/pipe.dat" using 2:xtic(1) lc rgb relay title "Relay", \
     "" using 3 lc rgb reference title "@localfirst/relay", \
     "" using 4 lc rgb floor title "TCP floor (socat)"

# 4. Latency.
set title "One-hop latency at a moderate rate (lower is better)"
set ylabel "ms"
plot dir."/chart/latency.dat" using 2:xtic(1) lc rgb "#2ca02c" title "p50", \
     "" using 3 lc rgb "#ff7f0e" title "p99"

# 5. Idle footprint.
set title "Idle introduction peers: RSS per peer (lower is better)"
set ylabel "KiB per peer"
plot dir."/chart/servers.dat" using 2:xtic(1) lc rgb relay notitle

# 6. Pairing rate.
set title "Pairing rate (higher is better)"
set ylabel "complete pairings/s"
plot dir."/chart/servers.dat" using 3:xtic(1) lc rgb reference notitle

unset multiplot
