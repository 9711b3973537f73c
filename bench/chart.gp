# The benchmark's chart: gnuplot -e "dir='bench/results/<run>'" bench/chart.gp  (run.sh does this)
# Reads the tables Relay.Bench writes in <dir>/chart/ and writes <dir>/chart.png: six panels.
if (!exists("dir")) dir = "bench/results/latest"
set terminal pngcairo size 1500,900 font "sans,10" noenhanced
set output dir."/chart.png"
set datafile missing "?"
set key top left
set grid ytics
title = system("cat '".dir."/chart/title.txt'")
relay = "#1f77b4"; reference = "#d62728"; floor = "#7f7f7f"
# The same colours as numbers, for panels with one bar per target (lc rgb variable).
target_colour(name) = name eq "Relay" ? 0x1f77b4 : 0xd62728

# How many measured values column c of file f holds; a panel with none says so instead of failing.
count(f, c) = int(system(sprintf("awk '!/^#/ && $%d != \"?\" && NF >= %d {n++} END {print n+0}' '%s'", c, c, f)))
empty = "set label 99 'not measured in this run' at graph 0.5, graph 0.5 center; unset logscale; set xrange [0:1]; set yrange [0:1]; plot NaN notitle; unset label 99; set autoscale"
reset_axes = "unset logscale; set format x '%g'; set format y '%g'; set autoscale"

storm = dir."/chart/storm.dat"
pipe = dir."/chart/pipe.dat"
latency = dir."/chart/latency.dat"
servers = dir."/chart/servers.dat"

set multiplot layout 2,3 title title font "sans,12"

# 1. Introduction storm: joins/s against N (log-log). Flat is the goal.
set title "Introduction storm: joins/s vs peers (higher is better)"
set logscale xy
set xlabel "peers N (joining N/2 documents)"
set ylabel "joins/s"
set format x "%.0s%c"
set format y "%.0s%c"
if (count(storm, 2) > 0) {
  plot storm using 1:2 with linespoints lw 2 pt 7 lc rgb relay title "Relay", \
       "" using 1:3 with linespoints lw 2 pt 5 lc rgb reference title "@localfirst/relay"
} else { eval empty }
eval reset_axes

# 2. Storm cost per join.
set title "Introduction storm: server CPU per join (lower is better)"
set logscale xy
set xlabel "peers N"
set ylabel "server CPU µs per join"
set format x "%.0s%c"
if (count(storm, 4) > 0) {
  plot storm using 1:4 with linespoints lw 2 pt 7 lc rgb relay title "Relay", \
       "" using 1:5 with linespoints lw 2 pt 5 lc rgb reference title "@localfirst/relay"
} else { eval empty }
eval reset_axes

# The rest are clustered bars.
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xlabel ""
set xtics nomirror

# 3. Pipe throughput cost.
set title "Pipe: server CPU s per GB relayed (lower is better)"
set key top right
set ylabel "CPU s per GB"
set xlabel "ws: Node ws clients; C#, packed: the C# generator"
set yrange [0:*]
if (count(pipe, 2) > 0) {
  plot pipe using 2:xtic(1) lc rgb relay title "Relay", \
       "" using 3 lc rgb reference title "@localfirst/relay", \
       "" using 4 lc rgb floor title "TCP floor (socat)"
} else { eval empty }
eval reset_axes
set xlabel ""

set key top left

# 4. Latency.
set title "One-hop latency at a moderate rate (lower is better)"
set ylabel "ms"
set yrange [0:*]
if (count(latency, 2) > 0) {
  plot latency using 2:xtic(1) lc rgb "#2ca02c" title "p50", \
       "" using 3 lc rgb "#ff7f0e" title "p99"
} else { eval empty }
eval reset_axes

# 5. Idle footprint (boxes, not histograms: a colour per target needs lc rgb variable).
set xrange [-0.75:1.75]
set title "Idle introduction peers: RSS per peer (lower is better)"
set ylabel "KiB per peer"
set yrange [0:*]
if (count(servers, 2) > 0) {
  plot servers using 0:2:(0.5):(target_colour(stringcolumn(1))):xtic(1) with boxes lc rgb variable notitle
} else { eval empty }
eval reset_axes

# 6. Pairing rate.
set xrange [-0.75:1.75]
set title "Pairing rate (higher is better)"
set ylabel "complete pairings/s"
set yrange [0:*]
if (count(servers, 3) > 0) {
  plot servers using 0:3:(0.5):(target_colour(stringcolumn(1))):xtic(1) with boxes lc rgb variable notitle
} else { eval empty }

unset multiplot
