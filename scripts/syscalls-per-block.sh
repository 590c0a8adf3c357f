#!/bin/sh
# Syscalls and context switches per committed block, per process, while
# `mica benchmark` loads a `mica net up` network (docs/PERFORMANCE.md, "hotpath").
#
# usage: scripts/syscalls-per-block.sh MICA NETPATH SECONDS [benchmark flags...]
#   MICA     the mica binary the network runs (also runs the benchmark)
#   NETPATH  the network's --path (its validators are found by their config path)
#   SECONDS  length of the counted window; the benchmark runs SECONDS + 16 s and the
#            window starts 4 s after it, once the load is steady
# example:
#   scripts/syscalls-per-block.sh /tmp/mica /tmp/hotpath-netA 10 --chains 16
#
# Needs perf (tracepoints syscalls:* and raw_syscalls:*, readable by root or with
# kernel.perf_event_paranoid <= 1). The last two columns are the Go runtime's sysmon
# thread's context switches and CPU microseconds. Blocks are validator-0's
# mica_blocks_committed_total over the window (every block of the run commits on
# every validator). Prints one line per process: events per block.
set -eu

# The Go runtime's monitor thread (sysmon) is the first thread it creates after the
# main thread: the earliest started (field 22 of stat; thread ids may wrap around).
# Prints its context switches and CPU ticks (1/CLK_TCK s), "cs ticks", or "gone".
sysmon() {
	[ -d "/proc/$1" ] || { echo gone; return; }
	t=$(for d in /proc/"$1"/task/*; do
		id=${d##*/}
		[ "$id" = "$1" ] || echo "$(sed 's/.*) //' "$d/stat" | awk '{print $20}') $id"
	done | sort -n -k1,1 -k2,2 | head -1 | cut -d' ' -f2)
	cs=$(awk '/^(non)?voluntary_ctxt_switches/ {s += $2} END {print s}' "/proc/$1/task/$t/status")
	echo "$cs $(sed 's/.*) //' "/proc/$1/task/$t/stat" | awk '{print $12 + $13}')"
}
if [ "${1:-}" = --sysmon ]; then # internal: the perf workload samples process $2
	sysmon "$2"
	exit 0
fi

bin=$1 net=$2 secs=$3
shift 3
metrics=$(sed -n 's|.*msg="metrics serving".*address=\(http://[0-9.:]*\)/metrics.*|\1|p' "$net/validator-0/validator.log" | tail -1)
[ -n "$metrics" ] || { echo "no metrics address in $net/validator-0/validator.log (net up serves it by default)" >&2; exit 1; }
blocks() { curl -s "$metrics/metrics" | awk '$1 == "mica_blocks_committed_total" {print $2}'; }
pids=""
for i in 0 1 2 3 4 5 6 7 8 9; do
	[ -f "$net/validator-$i/config.json" ] || break
	p=$(pgrep -f -- "--config $net/validator-$i/config.json" | head -1)
	[ -n "$p" ] && pids="$pids validator-$i:$p"
done
out=$(mktemp -d /tmp/syscalls-per-block.XXXXXX)
MICA_WALLET=$net/wallet "$bin" benchmark --duration "$((secs + 16))s" "$@" >"$out/bench.txt" 2>"$out/bench.err" &
bench=$!
sleep 4
if ! kill -0 "$bench" 2>/dev/null; then
	echo "the benchmark ended early:" >&2
	tail -5 "$out/bench.err" >&2
	rm -rf "$out"
	exit 1
fi
pids="$pids client:$bench"
events=raw_syscalls:sys_enter,context-switches,syscalls:sys_enter_write,syscalls:sys_enter_read,syscalls:sys_enter_futex,syscalls:sys_enter_fdatasync,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_nanosleep,syscalls:sys_enter_pwrite64
perfs=""
b0=$(blocks)
for e in $pids; do
	# The workload samples sysmon at the start and the end of perf's own window.
	perf stat -x, -e "$events" -p "${e#*:}" -o "$out/${e%%:*}.csv" -- \
		sh -c '"$0" --sysmon "$1" >"$2.sysmon0"; sleep "$3"; "$0" --sysmon "$1" >"$2.sysmon1"' \
		"$0" "${e#*:}" "$out/${e%%:*}" "$secs" &
	perfs="$perfs $!"
done
wait $perfs || true
b1=$(blocks)
wait "$bench" || true
n=$((b1 - b0))
echo "blocks in the window: $n ($secs s, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-12s %9s %9s %7s %7s %7s %9s %7s %7s %7s %9s %9s\n' process syscalls ctxsw write read futex fdatasync epoll nsleep pwrite sysmon-cs sysmon-us
for e in $pids; do
	name=${e%%:*}
	read -r cs0 tk0 <"$out/$name.sysmon0" || true
	read -r cs1 tk1 <"$out/$name.sysmon1" || true
	if [ "${cs0:-gone}" = gone ] || [ "${cs1:-gone}" = gone ]; then
		echo "$name ended during the window" >&2
		continue
	fi
	awk -F, -v n="$n" -v name="$name" -v scs="$((cs1 - cs0))" -v stk="$((tk1 - tk0))" -v hz="$(getconf CLK_TCK)" '
		$3 ~ /raw_syscalls:sys_enter/ {s=$1} $3 ~ /context-switches/ {c=$1}
		$3 ~ /sys_enter_write$/ {w=$1} $3 ~ /sys_enter_read$/ {r=$1} $3 ~ /sys_enter_futex/ {f=$1}
		$3 ~ /sys_enter_fdatasync/ {d=$1} $3 ~ /sys_enter_epoll_pwait/ {ep=$1} $3 ~ /sys_enter_nanosleep/ {ns=$1}
		$3 ~ /sys_enter_pwrite64/ {pw=$1}
		END { if (n > 0) printf "%-12s %9.1f %9.1f %7.1f %7.1f %7.1f %9.2f %7.1f %7.1f %7.1f %9.1f %9.1f\n", name, s/n, c/n, w/n, r/n, f/n, d/n, ep/n, ns/n, pw/n, scs/n, stk*1e6/hz/n }' "$out/$name.csv"
done
grep -E 'transfers/s|ops/s|CPU per block' "$out/bench.txt" | sed 's/funds.*//' || true
rm -rf "$out"
