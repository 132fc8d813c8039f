#!/bin/sh
# profile.sh: profile the dbapi process and the hand-written service under
# the same load, one at a time (Linux, root or perf_event_paranoid <= 1;
# needs perf and strace: apt-get install linux-perf strace).
#
#   cmd/dbapi-bench/profile.sh [OUTDIR]      (from the repository root)
#   BANK=/tmp/old/bank cmd/dbapi-bench/profile.sh OUTDIR   (another dbapi build)
#
# For each workload (transfer, get), client count (1, 32) and mode
# (handwritten, service) it runs dbapi-bench on that one level for 14 s and,
# inside the measured window, on the serving process:
#   - perf stat: CPU time, context switches, syscalls, and heap allocations
#     (a uprobe on runtime.mallocgc);
#   - perf record -g: a CPU profile (OUTDIR/<name>.perf.data; read it with
#     perf report -i FILE --no-children);
#   - at 1 client, strace -yy of its socket writes: writes to MySQL (3306)
#     per write to NATS (one reply each at 1 client) = round trips to MySQL
#     per request.
# Per-request figures divide by requests/s of the level times the window,
# so they carry the level's noise. OUTDIR/summary.txt has the table.
set -eu
OUT=${1:-bench/out/profile}
MYSQL=${BENCH_MYSQL:-root@tcp(127.0.0.1:3306)/dbapi_bench}
STAT_S=4
mkdir -p "$OUT"
BANK=${BANK:-bin/bank}
[ "$BANK" = bin/bank ] && go build -o bin/bank ./examples/bank
(cd cmd/dbapi-bench && go build -o ../../bin/dbapi-bench .)
# A uprobe's address is that of the binary just built: add them afresh.
perf probe -q -d 'dbapimalloc:*' 2>/dev/null || true
perf probe -q -d 'hwmalloc:*' 2>/dev/null || true
perf probe -q -x "$BANK" -a dbapimalloc:dbapi_malloc=runtime.mallocgc 2>/dev/null
perf probe -q -x bin/dbapi-bench -a hwmalloc:hw_malloc=runtime.mallocgc 2>/dev/null
printf '%-32s %8s %10s %9s %9s %10s %9s\n' level req/s "CPU/req" "allocs/req" "ctxsw/req" "syscalls/req" "mysql rt/req" >"$OUT/summary.txt"
for w in transfer get; do
	for c in 1 32; do
		for mode in handwritten service; do
			name="$w-$c-$mode"
			log="$OUT/$name.log"
			bin/dbapi-bench -dbapi "$BANK" -mysql "$MYSQL" -modes "$mode" -workloads "$w" -clients "$c" \
				-duration 14s -warmup 1s -rounds 1 -out "$OUT/$name" -chart "" -quiet >"$OUT/$name.out" 2>"$log" &
			bpid=$!
			pid=""
			for _ in $(seq 600); do
				pid=$(sed -n 's/.*service pid \([0-9]*\).*/\1/p' "$log" | tail -1)
				[ -n "$pid" ] && break
				sleep 0.1
			done
			if [ "$mode" = service ]; then probe=dbapimalloc:dbapi_malloc; else probe=hwmalloc:hw_malloc; fi
			sleep 3
			perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter,$probe -p "$pid" -o "$OUT/$name.stat" -- sleep $STAT_S
			perf record -q -F 499 -g -p "$pid" -o "$OUT/$name.perf.data" -- sleep 3 2>/dev/null
			if [ "$c" = 1 ]; then
				timeout -s INT 2 strace -f -yy -e trace=write,writev -o "$OUT/$name.strace" -p "$pid" || true
			fi
			wait $bpid
			rps=$(awk -F'|' -v w="$w" -v c="$c" -v m="$mode" '$2~" "w" " && $4~" "c" " && $5~" "m" " {gsub(/ /,"",$7); print $7}' "$OUT/$name.out" | head -1)
			rt="-"
			if [ -f "$OUT/$name.strace" ]; then
				my=$(grep -c ':3306\]' "$OUT/$name.strace" || true)
				nats=$(grep -v ':3306\]' "$OUT/$name.strace" | grep -c 'TCP' || true)
				rt=$(awk -v a="$my" -v b="$nats" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "-" }')
			fi
			awk -F, -v rps="$rps" -v s="$STAT_S" -v name="$name" -v rt="$rt" '
				$3=="task-clock" {cpu=$1} $3=="context-switches" {cs=$1} $3=="raw_syscalls:sys_enter" {sc=$1} $3 ~ /malloc/ {al=$1}
				END { n=rps*s; if (n==0) n=1; printf "%-32s %8.0f %8.0fµs %10.1f %9.2f %12.1f %12s\n", name, rps, cpu*1000/n, al/n, cs/n, sc/n, rt }' \
				"$OUT/$name.stat" >>"$OUT/summary.txt"
		done
	done
done
cat "$OUT/summary.txt"
