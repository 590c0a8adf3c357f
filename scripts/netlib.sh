# netlib.sh: shell functions the measuring scripts share; source it (. scripts/netlib.sh).

NET_PID=

# start_net BIN DIR PORT_BASE FAUCET_PORT [NET_UP_ARGS...]: start `BIN net up` under DIR
# in the background (its output in DIR.log), wait until it is ready (at most 300 s) and
# warm it up with a 5-second benchmark over 64 chains (the benchmark wallet's chains are
# opened then, not in the first measured run). NET_PID is the `net up` process.
start_net() {
	sn_bin=$1 sn_dir=$2 sn_port=$3 sn_faucet=$4
	shift 4
	"$sn_bin" net up --path "$sn_dir" --port-base "$sn_port" --faucet-port "$sn_faucet" "$@" > "$sn_dir.log" 2>&1 &
	NET_PID=$!
	sn_i=0
	until grep -q READY "$sn_dir.log" 2>/dev/null; do
		sn_i=$((sn_i + 1))
		[ $sn_i -le 300 ] || { echo "the network did not start: $sn_dir.log" >&2; return 1; }
		sleep 1
	done
	MICA_WALLET="$sn_dir/wallet" "$sn_bin" benchmark --chains 64 --duration 5s --json > /dev/null
}
