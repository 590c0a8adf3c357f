#!/bin/sh
# ab-networks.sh A_BIN B_BIN PAIRS BENCHMARK_ARGS...: compare two mica binaries side by
# side. Starts a `net up` of each at once (A on port base 15300, faucet 15395; B on 15340,
# faucet 15396; under $AB_DIR, default /tmp/mica-ab; reused if already there), warms each
# up with 64 chains, then runs `benchmark --json BENCHMARK_ARGS` PAIRS times on A then B,
# alternated within seconds, and prints per run: tx/s, finality p50 ms, errors, and CPU
# ms per block of the client, the validators and in all. Stop the networks with
# `mica net down --path $AB_DIR/netA` (and netB) or by killing their `net up`.
set -eu
A=$1; B=$2; PAIRS=$3; shift 3
D=${AB_DIR:-/tmp/mica-ab}
mkdir -p "$D"
start() { # BIN NAME PORT FAUCET
	"$1" net up --path "$D/$2" --port-base "$3" --faucet-port "$4" > "$D/$2.log" 2>&1 &
}
if [ ! -d "$D/netA" ]; then
	start "$A" netA 15300 15395
	start "$B" netB 15340 15396
	for n in netA netB; do
		i=0; until grep -q READY "$D/$n.log" 2>/dev/null; do
			i=$((i + 1)); [ $i -le 300 ] || { echo "$n did not start: $D/$n.log" >&2; exit 1; }
			sleep 1
		done
	done
	MICA_WALLET=$D/netA/wallet "$A" benchmark --chains 64 --duration 5s --json > /dev/null 2>&1
	MICA_WALLET=$D/netB/wallet "$B" benchmark --chains 64 --duration 5s --json > /dev/null 2>&1
fi
for i in $(seq 1 "$PAIRS"); do
	for n in A B; do
		BIN=$A; [ $n = B ] && BIN=$B
		printf "%s %s: " $n "$i"
		MICA_WALLET=$D/net$n/wallet "$BIN" benchmark --json "$@" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin); c = d.get("cpu") or {}
print("tx/s %.0f p50 %.2f err %s cpu c %.3f v %.3f t %.3f" % (d.get("transactions_per_second", 0), d.get("finality_p50_ms", 0), d.get("errors"),
      c.get("client_ms_per_block", 0), c.get("validators_ms_per_block", 0), c.get("total_ms_per_block", 0)))'
	done
done
