#!/bin/sh
# CPU of a pprof profile by function group, in microseconds per block
# (docs/PERFORMANCE.md, "perf17"). Each sample counts in exactly one group: the
# first group, in the order below, that any frame of its stack matches. So
# the groups add up to the profile's total, and a malloc under Pebble counts
# as "malloc", an fdatasync under Pebble as "fdatasync".
#
# usage: scripts/pprof-groups.sh BIN BLOCKS PROFILE...
#   BIN      the binary that wrote the profiles (for symbols)
#   BLOCKS   blocks committed during the profiled window (divides every figure)
#   PROFILE  one or more CPU profiles; one column each, and a sum column
# example (four validators over a 9 s window, 3,742 blocks):
#   scripts/pprof-groups.sh /tmp/mica 3742 v0.prof v1.prof v2.prof v3.prof
# SHOW="GROUP NAME" also prints that group's samples (leaf first) on stderr.
set -eu
bin=$1 blocks=$2
shift 2
for p in "$@"; do
	go tool pprof -traces "$bin" "$p" 2>/dev/null | awk -v f="$p" -v show="${SHOW:-}" '
	function us(v) {
		if (v ~ /ms$/) return substr(v, 1, length(v) - 2) * 1000
		if (v ~ /us$/ || v ~ /µs$/) return substr(v, 1, length(v) - 2) + 0
		if (v ~ /ns$/) return substr(v, 1, length(v) - 2) / 1000
		if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000000
		return 0
	}
	function group(s,    n, fr, i, x) {
		if (s ~ /runtime\.(gcBgMarkWorker|bgsweep|bgscavenge|gcAssistAlloc|gcStart|gcMarkDone|gcMarkTermination)/) return "GC (collector)"
		if (s ~ /curve25519|ed25519|edwards25519|crypto\/sha256|crypto\/sha512|crypto\/internal|secp256k1/) return "crypto (signatures, hashes)"
		if (s ~ /runtime\.(mallocgc|growslice|newobject|makeslice)/) return "malloc"
		if (s ~ /unix\.Fdatasync|syscall\.Fdatasync|syscall\.Fsync|unix\.Fsync/) return "fdatasync"
		if (s ~ /runtime\.(schedule|findRunnable|park_m|mcall|goschedImpl|gopreempt_m|stopm|startm|wakep|ready|netpoll|exitsyscall|entersyscallblock|handoffp|notewakeup|notesleep|goready|casgstatus|resetspinning|selectgo|chansend|chanrecv|semacquire|semrelease|lock2|unlock2)/) return "scheduler, netpoll, chan, locks"
		if (s ~ /syscall\.|internal\/runtime\/syscall|runtime\.futex|runtime\.write1|runtime\.read\n|runtime\.usleep|runtime\.nanotime|runtime\.epollwait/) return "syscalls (sockets, files)"
		# The rest goes to the package of the leaf-most frame outside the
		# standard library and the runtime.
		n = split(s, fr, "\n")
		for (i = 1; i <= n; i++) {
			x = fr[i]
			if (x !~ /^[a-z0-9.-]+\.[a-z]+\// ) continue
			if (x ~ /cockroachdb\/pebble|golang\/snappy|klauspost|DataDog\/zstd/) return "Pebble"
			if (x ~ /google\.golang\.org\/grpc|golang\.org\/x\/net|google\.golang\.org\/protobuf/) return "gRPC, http2, protobuf"
			if (x ~ /mica\/internal\/codec|mica\/internal\/rpc\/pb|mica\/internal\/protocol\.[^ ]*([Dd]ecode|[Ee]ncode|Unmarshal|Marshal|Append)/) return "codec (encode, decode)"
			if (x ~ /micachain\/mica/) return (s ~ /mica\/internal\/execution|mica\/internal\/chain\.[^\n]*[Ee]xecute/) ? "execution" : "Mica (other)"
			return "other libraries"
		}
		if (s ~ /runtime\.(memmove|memclr|newstack|morestack|copystack)/) return "runtime: memmove, stacks"
		return "other runtime"
	}
	function flush() {
		if (stack != "") {
			g = group(stack); t[g] += val; tot += val
			if (g == show) { x = stack; gsub(/\n/, " < ", x); print val "us " substr(x, 1, 300) >"/dev/stderr" }
		}
		stack = ""
	}
	/^-+\+/ { flush(); val = -1; next }
	/^ +[0-9.]+(ns|us|µs|ms|s) +/ { flush(); val = us($1); stack = $2 "\n"; next }
	/^ +[^ ]/ && val >= 0 { sub(/^ +/, ""); stack = stack $0 "\n" }
	END { flush(); for (g in t) printf "%s\t%s\t%.0f\n", f, g, t[g]; printf "%s\t%s\t%.0f\n", f, "total", tot }
	'
done | awk -F'\t' -v blocks="$blocks" '
	{ if (!($1 in seen)) { seen[$1] = 1; files[++nf] = $1 } v[$1, $2] = $3; s[$2] += $3; if (!($2 in gs)) { gs[$2] = 1; groups[++ng] = $2 } }
	END {
		printf "%012.1f|%-32s", 1e9, "group (us per block)"
		for (i = 1; i <= nf; i++) { n = files[i]; sub(/.*\//, "", n); printf " %9s", substr(n, 1, 9) }
		printf " %9s\n", "sum"
		for (j = 1; j <= ng; j++) {
			g = groups[j]
			printf "%012.1f|%-32s", (g == "total" ? -1 : s[g] / blocks), g
			for (i = 1; i <= nf; i++) printf " %9.1f", v[files[i], g] / blocks
			printf " %9.1f\n", s[g] / blocks
		}
	}' | sort -r | sed 's/^[^|]*|//'
