#!/bin/sh
# profile-network.sh BIN OUTDIR [PORT_BASE]: CPU profiles of a whole local network under the
# benchmark's main workloads. Starts `BIN net up --pprof` under OUTDIR/net (ports PORT_BASE..,
# faucet PORT_BASE+95, metrics PORT_BASE+10000..), warms it up with 64 chains, then profiles
# the four validators for 48 s (OUTDIR/v0-3.prof) while the benchmark client runs 16 x 1,
# 64 x 1, 16 x 100 and 1-chain transfers, each with its own --cpuprofile (OUTDIR/c1-4.prof),
# and stops the network. Merge them with
#   go tool pprof -proto OUTDIR/v*.prof OUTDIR/c*.prof > merged.prof
# and read them with scripts/pprof-groups.sh or `go tool pprof -top`.
set -eu
BIN=$1; D=$2; P=${3:-15300}
mkdir -p "$D"; rm -rf "$D/net"
. "$(dirname "$0")/netlib.sh"
trap 'kill $NET_PID 2>/dev/null; wait $NET_PID 2>/dev/null || true' EXIT
start_net "$BIN" "$D/net" "$P" $((P + 95)) --pprof
export MICA_WALLET="$D/net/wallet"
CURLS=
for v in 0 1 2 3; do
	curl -so "$D/v$v.prof" "127.0.0.1:$((P + 10000 + v))/debug/pprof/profile?seconds=48" &
	CURLS="$CURLS $!"
done
"$BIN" benchmark --chains 16 --duration 15s --json --cpuprofile "$D/c1.prof" > "$D/c1.json"
"$BIN" benchmark --chains 64 --duration 10s --json --cpuprofile "$D/c2.prof" > "$D/c2.json"
"$BIN" benchmark --chains 16 --transactions-per-block 100 --duration 10s --json --cpuprofile "$D/c3.prof" > "$D/c3.json"
"$BIN" benchmark --chains 1 --duration 5s --json --cpuprofile "$D/c4.prof" > "$D/c4.json"
for c in $CURLS; do wait "$c"; done
ls "$D"/*.prof
