# plot.gp — latency of every request over time, with the restart instants
# marked: one panel per server. `make bench` runs it as
#   gnuplot -e "dir='WORK'; keys='library supervisor nginx haproxy'; \
#               out='docs/restarts.png'; interval=200" bench/plot.gp
# and reads, for each key,
#   WORK/KEY/timeline  loadgen --timeline: start_us latency_us kind generation,
#                      thinned by the bench to one answered request per cell
#                      finer than a pixel (every failed one kept)
#   WORK/KEY/restarts  the instants restarts were requested, in seconds
# (both on loadgen's clock, which starts with the load).

if (!exists("dir")) dir = "."
if (!exists("keys")) keys = "library supervisor nginx haproxy"
if (!exists("out")) out = "restarts.png"
if (!exists("interval")) interval = 200

name(k) = k eq "library" ? "httpd upgrading itself through libhandoff (SIGHUP)" : \
          k eq "supervisor" ? "httpd under handoff run (SIGHUP to the supervisor)" : \
          k eq "nginx" ? "nginx 1.22, binary upgrade (USR2, then QUIT to the old master)" : \
          k eq "haproxy" ? "HAProxy 2.6, master-worker reload (USR2)" : \
          k eq "tableflip" ? "Go tableflip 1.2.1, self-upgrade (SIGHUP)" : k

n = words(keys)
set terminal pngcairo size 1100, 230 * n + 70 font "sans,9"
set output out
set multiplot layout n, 1 title sprintf("Latency of every request: 32 keep-alive connections, a restart requested every %d ms (grey); failed requests in red", interval)
set logscale y
set yrange [0.01:5000]
set ytics ("0.01" 0.01, "0.1" 0.1, "1" 1, "10" 10, "100" 100, "1000" 1000)
set ylabel "latency (ms)"
set xrange [0:1.6]
set grid ytics
set key top right horizontal samplen 1
do for [i = 1:n] {
	k = word(keys, i)
	set tmargin (i == 1 ? 3 : 1.5)
	set title name(k) offset 0, -0.6
	if (i == n) { set xlabel "time (s)" } else { unset xlabel }
	plot dir."/".k."/restarts" using 1:(0.01):(0):(5000) with vectors nohead \
	         lc rgb "#aaaaaa" title "restart", \
	     dir."/".k."/timeline" using ($1 / 1e6):(strcol(3) eq "ok" ? $2 / 1000.0 : 1/0) \
	         with points pt 7 ps 0.12 lc rgb "#1f4e9c" title "ok", \
	     "" using ($1 / 1e6):(strcol(3) ne "ok" ? $2 / 1000.0 : 1/0) \
	         with points pt 7 ps 0.7 lc rgb "#d62728" title "failed"
}
unset multiplot
