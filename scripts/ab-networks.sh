#!/bin/sh
# ab-networks.sh A_BIN B_BIN PAIRS BENCHMARK_ARGS...: compare two mica binaries side by
# side. Starts a `net up` of each, one after the other (A on port base 15300, faucet 15395; B on 15340,
# faucet 15396; under $AB_DIR, default /tmp/mica-ab; reused if already there), warms each
# up with 64 chains, then runs `benchmark --json BENCHMARK_ARGS` PAIRS times on A then B,
# alternated within seconds, and prints per run: tx/s, finality p50 ms, errors, and CPU
# ms per block of the client, the validators and in all. Stop the networks with
# `mica net down --path $AB_DIR/netA` (and netB) or by killing their `net up`.
set -eu
A=$1; B=$2; PAIRS=$3; shift 3
D=${AB_DIR:-/tmp/mica-ab}
mkdir -p "$D"
. "$(dirname "$0")/netlib.sh"
if [ ! -d "$D/netA" ]; then
	start_net "$A" "$D/netA" 15300 15395
	start_net "$B" "$D/netB" 15340 15396
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
