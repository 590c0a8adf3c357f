#!/usr/bin/env bash
# bench-cometbft.sh: Mica side by side with CometBFT's kvstore on this machine.
#
# Builds CometBFT (from the Go module proxy, outside this repository), mica and the
# small load client scripts/cmtload, then alternates, ROUNDS times, on the same machine,
# the runs named in RUNS:
#   mica-C-K    `mica net up` (4 validator processes) + `mica benchmark --chains C
#               --transactions-per-block K`;
#   cmt-def-N   a 4-validator CometBFT testnet, kvstore app, default configuration,
#               loaded by cmtload with N transactions in flight (N = sat:
#               CMT_SAT_INFLIGHT, enough to saturate it);
#   cmt-fast-N  the same tuned for latency (see tune_fast below).
# cmt-fast-16 is the counterpart of mica-16-1: 16 transactions outstanding at a time.
#   mica-idle, cmt-def-idle, cmt-fast-idle: no load; the validators' CPU time in 10 s.
# Each run starts its network afresh; only one network runs at a time. For each run it
# prints the client's figures and the CPU time (utime + stime from /proc/PID/stat) of
# every process of the system under test, validators and load client, between the
# client's first and last progress lines, divided by the transactions committed in that
# window. A markdown table of all runs
# ends the output (docs/PERFORMANCE.md, "Side by side with CometBFT").
#
# Usage: scripts/bench-cometbft.sh            (~20 min on 2 cores; or make bench-cometbft)
# Environment (defaults in brackets):
#   WORK [/tmp/bench-cometbft]  everything the script writes: binaries, networks, logs
#   CMT_VERSION [v0.38.26]       CometBFT release (go install ...@CMT_VERSION)
#   PORT_BASE [14700]            ports PORT_BASE..PORT_BASE+199 are used
#   DURATION [20s]  ROUNDS [3]  CMT_SAT_INFLIGHT [4000]
#   RUNS ["mica-1-1 cmt-fast-1 mica-16-1 cmt-fast-16 mica-64-1 cmt-fast-64 mica-16-100
#         cmt-fast-sat cmt-def-sat"]  the runs of each round, in order
#   SKIP_BUILD [unset]  1: use the binaries already in $WORK/bin
# Needs go, curl and jq; Linux (/proc). Not run by CI: it takes minutes and both cores.
set -euo pipefail

WORK=${WORK:-/tmp/bench-cometbft}
CMT_VERSION=${CMT_VERSION:-v0.38.26}
PORT_BASE=${PORT_BASE:-14700}
DURATION=${DURATION:-20s}
ROUNDS=${ROUNDS:-3}
CMT_SAT_INFLIGHT=${CMT_SAT_INFLIGHT:-4000}
RUNS=${RUNS:-"mica-1-1 cmt-fast-1 mica-16-1 cmt-fast-16 mica-64-1 cmt-fast-64 mica-16-100 cmt-fast-sat cmt-def-sat"}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$WORK/bin
TICK=$(getconf CLK_TCK)

mkdir -p "$BIN" "$WORK/results"

build() {
  echo "== building CometBFT $CMT_VERSION (module cache, outside the repository), mica, cmtload" >&2
  GOBIN=$BIN go install "github.com/cometbft/cometbft/cmd/cometbft@$CMT_VERSION"
  (cd "$REPO" && go build -o "$BIN/mica" ./cmd/mica && go build -o "$BIN/cmtload" ./scripts/cmtload)
}

# cpu_ticks PID...: utime + stime of the processes, in clock ticks; fails if one of them
# has exited (a zombie's figures are not the whole process's).
cpu_ticks() {
  local sum=0 pid f
  for pid in "$@"; do
    # Fields after the command name (which may hold spaces): 3 (state), 14 and 15 of
    # stat are 1, 12 and 13 after the closing parenthesis.
    f=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || return 1
    set -- $f
    [ "$1" != Z ] || return 1
    sum=$((sum + ${12} + ${13}))
  done
  echo "$sum"
}

# machine_ticks: busy and total CPU ticks of the whole machine (all cores), from /proc/stat.
machine_ticks() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}

# measure NAME PIDS -- COMMAND...: runs COMMAND (a load client printing `mica benchmark`
# style progress lines on stderr), stdout to results/NAME.json; records the CPU ticks of
# PIDS and of the client at each progress line, and appends a summary line to
# results/runs.tsv.
measure() {
  local name=$1 pids=$2
  shift 3
  local out=$WORK/results/$name.json prog=$WORK/results/$name.progress fifo=$WORK/results/$name.fifo
  rm -f "$fifo" "$prog"
  mkfifo "$fifo"
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  "$@" >"$out" 2>"$fifo" &
  local cpid=$!
  local line m s c
  while IFS= read -r line; do
    case "$line" in
      *" blocks  "*" errors")
        m=$(machine_ticks)
        if s=$(cpu_ticks $pids) && c=$(cpu_ticks $cpid); then echo "$line $m $s $c" >>"$prog"; fi ;;
      *) echo "  $line" >&2 ;;
    esac
  done <"$fifo"
  wait "$cpid"
  rm -f "$fifo"
  # Window: first to last progress line. Fields: 2 blocks, 4 transactions, then the
  # machine's busy and total ticks, the validators' and the client's ticks. "others" is
  # what the rest of the machine used meanwhile, in cores.
  head -1 "$prog" | cat - <(tail -1 "$prog") | awk -v name="$name" -v load="$load" -v tick="$TICK" -v ncpu="$(nproc)" '
    { tx[NR] = $4; busy[NR] = $(NF-3); total[NR] = $(NF-2); srv[NR] = $(NF-1); cli[NR] = $NF }
    END {
      dtx = tx[2] - tx[1]; ds = (srv[2] - srv[1]) / tick; dc = (cli[2] - cli[1]) / tick
      wall = (total[2] - total[1]) / ncpu / tick
      others = wall > 0 ? ((busy[2] - busy[1]) / tick - ds - dc) / wall : 0
      per = dtx > 0 ? 1000 / dtx : 0
      printf "%s\t%s\t%.2f\t%d\t%.2f\t%.3f\t%.3f\t%.3f\n", name, load, others, dtx, ds + dc, ds * per, dc * per, (ds + dc) * per
    }' >>"$WORK/results/runs.tsv"
  tail -1 "$WORK/results/runs.tsv" | awk -F'\t' '{printf "  window: %d transactions, %.2f CPU-s → CPU-ms per transaction: validators %.3f, client %.3f, all %.3f (load average %s, other processes %.2f cores)\n", $4, $5, $6, $7, $8, $2, $3}' >&2
}

# ---- Mica ----------------------------------------------------------------------------

MICA_PID=""
mica_up() {
  rm -rf "$WORK/mica"
  "$BIN/mica" net up --path "$WORK/mica" --port-base "$PORT_BASE" --metrics-port-base $((PORT_BASE + 10)) \
    --initial-chains 1 >"$WORK/mica.log" 2>&1 &
  MICA_PID=$!
  for _ in $(seq 600); do
    grep -q '^export MICA_WALLET=' "$WORK/mica.log" && return 0
    kill -0 "$MICA_PID" 2>/dev/null || { cat "$WORK/mica.log" >&2; return 1; }
    sleep 0.2
  done
  echo "mica net up did not get ready" >&2
  return 1
}

mica_down() {
  [ -n "$MICA_PID" ] || return 0
  kill -INT "$MICA_PID" 2>/dev/null || true
  wait "$MICA_PID" 2>/dev/null || true
  MICA_PID=""
}

mica_run() { # NAME CHAINS TX_PER_BLOCK
  local pids
  pids=$(pgrep -P "$MICA_PID" | tr '\n' ' ')
  echo "== $1: mica benchmark --chains $2 --transactions-per-block $3 --duration $DURATION (validators: $pids)" >&2
  MICA_WALLET=$WORK/mica/wallet measure "$1" "$pids" -- \
    "$BIN/mica" benchmark --chains "$2" --transactions-per-block "$3" --duration "$DURATION" --json
}

# ---- CometBFT ------------------------------------------------------------------------

CMT_PIDS=()
p2p_port() { echo $((PORT_BASE + 100 + 10 * $1)); }
rpc_port() { echo $((PORT_BASE + 101 + 10 * $1)); }

# set_toml FILE KEY VALUE: sets the first `KEY = ...` line of FILE.
set_toml() {
  grep -q "^$2 = " "$1" || { echo "no $2 in $1" >&2; return 1; }
  sed -i "0,/^$2 = .*/s||$2 = $3|" "$1"
}

# tune_fast FILE: CometBFT configured for latency rather than throughput per block.
tune_fast() {
  set_toml "$1" timeout_commit '"10ms"'
  set_toml "$1" timeout_propose '"1s"'
  set_toml "$1" timeout_prevote '"100ms"'
  set_toml "$1" timeout_precommit '"100ms"'
  set_toml "$1" create_empty_blocks false    # a block starts as soon as a transaction arrives
  set_toml "$1" peer_gossip_sleep_duration '"5ms"'
  set_toml "$1" flush_throttle_timeout '"5ms"'
  set_toml "$1" indexer '"null"'
}

cmt_up() { # def|fast
  rm -rf "$WORK/cmt"
  "$BIN/cometbft" testnet --v 4 --o "$WORK/cmt" --starting-ip-address 127.0.0.1 >/dev/null
  local i j peers ids=()
  for i in 0 1 2 3; do ids[i]=$("$BIN/cometbft" show-node-id --home "$WORK/cmt/node$i"); done
  for i in 0 1 2 3; do
    local c=$WORK/cmt/node$i/config/config.toml
    peers=""
    for j in 0 1 2 3; do
      [ "$j" = "$i" ] || peers="$peers${peers:+,}${ids[j]}@127.0.0.1:$(p2p_port "$j")"
    done
    set_toml "$c" proxy_app '"kvstore"'
    set_toml "$c" log_level '"error"'
    set_toml "$c" laddr "\"tcp://127.0.0.1:$(rpc_port "$i")\""   # [rpc] comes before [p2p]
    # the second laddr is [p2p]'s
    sed -i "0,/^laddr = \"tcp:\/\/0.0.0.0:26656\"/s||laddr = \"tcp://127.0.0.1:$(p2p_port "$i")\"|" "$c"
    set_toml "$c" persistent_peers "\"$peers\""
    set_toml "$c" addr_book_strict false
    set_toml "$c" allow_duplicate_ip true
    set_toml "$c" pex false
    [ "$1" = fast ] && tune_fast "$c"
  done
  CMT_PIDS=()
  for i in 0 1 2 3; do
    "$BIN/cometbft" start --home "$WORK/cmt/node$i" >"$WORK/cmt/node$i.log" 2>&1 &
    CMT_PIDS+=($!)
  done
  for i in 0 1 2 3; do
    for _ in $(seq 300); do
      curl -fs "http://127.0.0.1:$(rpc_port "$i")/status" 2>/dev/null | grep -q '"latest_block_height": *"[1-9]' && break
      sleep 0.2
    done
  done
  curl -fs "http://127.0.0.1:$(rpc_port 0)/status" | grep -q '"latest_block_height": *"[1-9]' ||
    { tail -20 "$WORK/cmt/node0.log" >&2; return 1; }
}

cmt_down() {
  local p
  for p in "${CMT_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${CMT_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  CMT_PIDS=()
}

cmt_run() { # NAME INFLIGHT
  local rpcs
  rpcs=$(for i in 0 1 2 3; do printf 'http://127.0.0.1:%s,' "$(rpc_port "$i")"; done)
  echo "== $1: cmtload --inflight $2 --duration $DURATION (validators: ${CMT_PIDS[*]})" >&2
  measure "$1" "${CMT_PIDS[*]}" -- \
    "$BIN/cmtload" --rpc "${rpcs%,}" --inflight "$2" --duration "$DURATION" --json
}

# idle NAME PIDS...: the CPU time the processes use in 10 s without load, after 5 s.
idle() {
  local name=$1 a b
  shift
  sleep 5
  a=$(cpu_ticks "$@")
  sleep 10
  b=$(cpu_ticks "$@")
  echo "== $name: $(awk -v t="$((b - a))" -v tick="$TICK" 'BEGIN { printf "%.2f", t / tick }') CPU-s in 10 s without load ($# validators; load average $(cut -d' ' -f1 /proc/loadavg))" >&2
}

cleanup() { mica_down; cmt_down; }
trap cleanup EXIT

[ "${SKIP_BUILD:-}" = 1 ] || build
: >"$WORK/results/runs.tsv"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3), CometBFT $("$BIN/cometbft" version), mica $(cd "$REPO" && git rev-parse --short HEAD)" >&2
for round in $(seq "$ROUNDS"); do
  for run in $RUNS; do
    name=$run-r$round
    IFS=- read -r sys a b <<<"$run"
    case $run in
      mica-idle) mica_up; idle "$name" $(pgrep -P "$MICA_PID"); mica_down ;;
      cmt-def-idle | cmt-fast-idle) cmt_up "$a"; idle "$name" "${CMT_PIDS[@]}"; cmt_down ;;
      mica-[0-9]*-[0-9]*) mica_up; mica_run "$name" "$a" "$b"; mica_down ;;
      cmt-def-sat | cmt-fast-sat) cmt_up "$a"; cmt_run "$name" "$CMT_SAT_INFLIGHT"; cmt_down ;;
      cmt-def-[0-9]* | cmt-fast-[0-9]*) cmt_up "$a"; cmt_run "$name" "$b"; cmt_down ;;
      *) echo "unknown run $run (mica-CHAINS-PERBLOCK, cmt-def-N, cmt-fast-N, *-idle)" >&2; exit 2 ;;
    esac
  done
done

# The table: figures from each client's JSON, CPU from the window.
echo
echo "| run | load avg / others' cores | tx/s | tx per block | latency p50 | p99 | errors | CPU-ms per tx: validators + client = all |"
echo "|---|---|---|---|---|---|---|---|"
while IFS=$'\t' read -r name load others _ _ srv cli all; do
  f=$WORK/results/$name.json
  case $name in
    mica-*) q='[.transactions_per_second, .transactions_per_block, .finality_p50_ms, .finality_p99_ms, .errors]' ;;
    *) q='[.tx_per_second, (if .blocks_with_txs > 0 then .txs / .blocks_with_txs | floor else 0 end), .latency_p50_ms, .latency_p99_ms, .errors + .uncommitted]' ;;
  esac
  jq -r --arg n "$name" --arg l "$load / $others" --arg c "$srv + $cli = $all" "$q"' | "| \($n) | \($l) | \(.[0] | floor) | \(.[1]) | \(.[2]) ms | \(.[3]) ms | \(.[4]) | \($c) |"' "$f"
done <"$WORK/results/runs.tsv"
