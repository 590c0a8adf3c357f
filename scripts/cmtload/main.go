// Command cmtload loads a CometBFT network running the kvstore application and measures
// what a client sees: transactions committed per second and the latency from sending a
// transaction to seeing it in a committed block. It exists to compare Mica with CometBFT
// on the same machine (scripts/bench-cometbft.sh, docs/PERFORMANCE.md); it is not part of
// Mica and uses no CometBFT code, only its JSON-RPC and websocket interfaces.
//
// The load is closed-loop, like `mica benchmark`: --inflight transactions are outstanding
// at any time; each one committed frees a slot for the next. --inflight 16 is the
// counterpart of 16 Mica chains committing one transfer per block; a large --inflight
// saturates the network. Transactions are `cmtload-RUN-SEQ=SEQ` (padded to --size
// bytes), sent with broadcast_tx_sync to the --rpc endpoints in turn. Commits are read
// from a websocket subscription to NewBlock on the first endpoint: a transaction's
// latency ends when the block holding it is reported there, i.e. after that node applied
// the decided block.
//
// Progress goes to stderr once a second in the form of `mica benchmark`'s progress
// ("  3s  12 blocks  4000 txs  1333 tx/s  0 errors"); the result goes to stdout (--json:
// one JSON document).
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func main() {
	var cfg config
	var rpcs string
	flag.StringVar(&rpcs, "rpc", "http://127.0.0.1:26657", "comma-separated CometBFT RPC endpoints; transactions go to each in turn, commits are read from the first")
	flag.IntVar(&cfg.Inflight, "inflight", 16, "transactions outstanding at any time (closed loop)")
	flag.IntVar(&cfg.Senders, "senders", 0, "concurrent broadcast_tx_sync calls (default: min(inflight, 32))")
	flag.IntVar(&cfg.Size, "size", 0, "pad each transaction's value to this many bytes in all (0: no padding)")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send")
	flag.DurationVar(&cfg.Drain, "drain", 30*time.Second, "how long to wait after --duration for outstanding transactions to commit")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	flag.Parse()
	cfg.RPC = strings.Split(rpcs, ",")
	cfg.Now = time.Now
	cfg.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cmtload:", err)
		os.Exit(1)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		res.ClientCPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	} else {
		_, err = fmt.Printf("inflight %d, %.1f s: %d txs in %d blocks (%d with load), %.0f tx/s, latency p50 %.2f ms, p99 %.2f ms, %d errors, %d not committed, client CPU %.2f s\n",
			cfg.Inflight, res.DurationSeconds, res.Txs, res.Blocks, res.BlocksWithTxs, res.TxPerSecond, res.LatencyP50Ms, res.LatencyP99Ms, res.Errors, res.Uncommitted, res.ClientCPUSeconds)
		for _, k := range res.ErrorKinds {
			fmt.Printf("  %6d × %s\n", k.Count, k.Kind)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cmtload:", err)
		os.Exit(1)
	}
}

// config is one load run.
type config struct {
	RPC      []string // http://host:port of each node's RPC
	Inflight int
	Senders  int
	Size     int
	Duration time.Duration
	Drain    time.Duration
	Now      func() time.Time
	Progress io.Writer // progress lines, once a second; nil: none
}

// result is what a run measured.
type result struct {
	Inflight        int     `json:"inflight"`
	DurationSeconds float64 `json:"duration_seconds"`
	// Txs are the transactions of this run seen committed; latencies are theirs.
	Txs          int     `json:"txs"`
	TxPerSecond  float64 `json:"tx_per_second"`
	LatencyP50Ms float64 `json:"latency_p50_ms"`
	LatencyP99Ms float64 `json:"latency_p99_ms"`
	// Blocks are the blocks seen during the run, BlocksWithTxs those holding at least
	// one of its transactions; MaxTxsPerBlock counts all of a block's transactions.
	Blocks         int `json:"blocks"`
	BlocksWithTxs  int `json:"blocks_with_txs"`
	MaxTxsPerBlock int `json:"max_txs_per_block"`
	// Errors are failed broadcasts (the slot is reused); Uncommitted are transactions
	// accepted but not seen committed by the end of the drain.
	Errors           int         `json:"errors"`
	ErrorKinds       []errorKind `json:"error_kinds"`
	Uncommitted      int         `json:"uncommitted"`
	ClientCPUSeconds float64     `json:"client_cpu_seconds"`
}

type errorKind struct {
	Kind  string `json:"kind"`
	Count int    `json:"count"`
}

// load is the state shared by the senders and the block reader.
type load struct {
	cfg    config
	prefix string
	slots  chan struct{} // one token per free in-flight slot

	mu       sync.Mutex
	pending  map[uint64]time.Time // sequence → when it was sent
	lat      []time.Duration
	errs     map[string]int
	nerr     int
	blocks   int
	withTxs  int
	maxBlock int
	last     time.Time // when the last of this run's transactions was seen committed
}

func run(ctx context.Context, cfg config) (*result, error) {
	if len(cfg.RPC) == 0 || cfg.RPC[0] == "" || cfg.Inflight < 1 || cfg.Duration <= 0 || cfg.Now == nil {
		return nil, errors.New("need an RPC endpoint, --inflight ≥ 1 and a positive --duration")
	}
	if cfg.Senders <= 0 {
		cfg.Senders = min(cfg.Inflight, 32)
	}
	l := &load{
		cfg:     cfg,
		prefix:  "cmtload-" + strconv.FormatInt(cfg.Now().UnixNano(), 36) + "-",
		slots:   make(chan struct{}, cfg.Inflight),
		pending: map[uint64]time.Time{},
		errs:    map[string]int{},
	}
	for range cfg.Inflight {
		l.slots <- struct{}{}
	}

	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	events, err := subscribe(wctx, cfg.RPC[0])
	if err != nil {
		return nil, err
	}
	readDone := make(chan error, 1)
	go func() { readDone <- l.readBlocks(wctx, events) }()

	start := cfg.Now()
	sctx, scancel := context.WithTimeout(ctx, cfg.Duration)
	defer scancel()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Senders}}
	var seq uint64
	var seqMu sync.Mutex
	var wg sync.WaitGroup
	for range cfg.Senders {
		wg.Go(func() {
			for {
				select {
				case <-sctx.Done():
					return
				case <-l.slots:
				}
				seqMu.Lock()
				seq++
				n := seq
				seqMu.Unlock()
				// A send under way when the sending ends runs to its end.
				l.send(ctx, hc, n)
			}
		})
	}

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	progress := func() {
		if cfg.Progress == nil {
			return
		}
		l.mu.Lock()
		txs, blocks, nerr := len(l.lat), l.blocks, l.nerr
		l.mu.Unlock()
		el := cfg.Now().Sub(start).Seconds()
		fmt.Fprintf(cfg.Progress, "%5.0fs  %d blocks  %d txs  %.0f tx/s  %d errors\n", el, blocks, txs, float64(txs)/el, nerr)
	}
	// Send for cfg.Duration, then wait for what is outstanding (or the drain time).
	drain := time.NewTimer(cfg.Duration + cfg.Drain)
	defer drain.Stop()
wait:
	for {
		select {
		case <-tick.C:
			progress()
			if sctx.Err() != nil && l.outstanding() == 0 {
				break wait
			}
		case <-drain.C:
			break wait
		case err := <-readDone:
			scancel()
			wg.Wait()
			return nil, fmt.Errorf("reading blocks from %s: %w", cfg.RPC[0], err)
		case <-ctx.Done():
			break wait
		}
	}
	scancel()
	wg.Wait()
	wcancel()
	<-readDone
	// The run lasted until its last commit, if that came after the sending ended.
	el := cfg.Duration
	l.mu.Lock()
	if d := l.last.Sub(start); d > el {
		el = d
	}
	l.mu.Unlock()
	return l.result(el), nil
}

func (l *load) outstanding() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

// send broadcasts transaction n; on failure it frees the slot after a short pause (a
// full mempool would otherwise be hammered).
func (l *load) send(ctx context.Context, hc *http.Client, n uint64) {
	tx := l.tx(n)
	l.mu.Lock()
	l.pending[n] = l.cfg.Now()
	l.mu.Unlock()
	err := broadcast(ctx, hc, l.cfg.RPC[n%uint64(len(l.cfg.RPC))], tx)
	if err == nil {
		return
	}
	l.mu.Lock()
	_, still := l.pending[n]
	delete(l.pending, n)
	if ctx.Err() == nil {
		l.nerr++
		l.errs[errKind(err)]++
	}
	l.mu.Unlock()
	if !still {
		return // committed after all; the block reader freed the slot
	}
	select {
	case <-time.After(10 * time.Millisecond):
	case <-ctx.Done():
	}
	l.slots <- struct{}{}
}

func (l *load) tx(n uint64) []byte {
	s := strconv.FormatUint(n, 10)
	tx := []byte(l.prefix + s + "=" + s)
	for len(tx) < l.cfg.Size {
		tx = append(tx, 'x')
	}
	return tx
}

// seqOf returns the sequence number of one of this run's transactions.
func (l *load) seqOf(tx []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(tx, []byte(l.prefix))
	if !ok {
		return 0, false
	}
	s, _, ok := bytes.Cut(rest, []byte("="))
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(string(s), 10, 64)
	return n, err == nil
}

// readBlocks matches committed transactions with their send times until ctx ends.
func (l *load) readBlocks(ctx context.Context, events <-chan blockEvent) error {
	for {
		var ev blockEvent
		var ok bool
		select {
		case ev, ok = <-events:
		case <-ctx.Done():
			return nil
		}
		if !ok {
			return nil
		}
		if ev.err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return ev.err
		}
		now := l.cfg.Now()
		freed := 0
		l.mu.Lock()
		l.blocks++
		l.maxBlock = max(l.maxBlock, len(ev.txs))
		for _, tx := range ev.txs {
			n, ok := l.seqOf(tx)
			if !ok {
				continue
			}
			sent, ok := l.pending[n]
			if !ok {
				continue
			}
			delete(l.pending, n)
			l.lat = append(l.lat, now.Sub(sent))
			freed++
		}
		if freed > 0 {
			l.withTxs++
			l.last = now
		}
		l.mu.Unlock()
		for range freed {
			l.slots <- struct{}{}
		}
	}
}

func (l *load) result(el time.Duration) *result {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &result{
		Inflight: l.cfg.Inflight, DurationSeconds: el.Seconds(), Txs: len(l.lat),
		Blocks: l.blocks, BlocksWithTxs: l.withTxs, MaxTxsPerBlock: l.maxBlock,
		Errors: l.nerr, Uncommitted: len(l.pending), ErrorKinds: []errorKind{},
	}
	if el > 0 {
		r.TxPerSecond = float64(r.Txs) / el.Seconds()
	}
	if len(l.lat) > 0 {
		// The same percentiles as `mica benchmark` (internal/bench).
		lat := slices.Clone(l.lat)
		slices.Sort(lat)
		r.LatencyP50Ms = float64(lat[len(lat)/2].Microseconds()) / 1000
		r.LatencyP99Ms = float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()) / 1000
	}
	for k, n := range l.errs {
		r.ErrorKinds = append(r.ErrorKinds, errorKind{Kind: k, Count: n})
	}
	slices.SortFunc(r.ErrorKinds, func(a, b errorKind) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Kind, b.Kind)
	})
	return r
}

// errKind shortens an error to a kind: its message without digits, at most 80 bytes.
func errKind(err error) string {
	s := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, err.Error())
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data"`
}

// broadcast sends tx with broadcast_tx_sync: it returns once the node's CheckTx accepted
// (or refused) it.
func broadcast(ctx context.Context, hc *http.Client, endpoint string, tx []byte) error {
	body, err := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_sync",
		"params": map[string]string{"tx": base64.StdEncoding.EncodeToString(tx)},
	})
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("broadcast_tx_sync: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("broadcast_tx_sync: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Result *struct {
			Code uint32 `json:"code"`
			Log  string `json:"log"`
		} `json:"result"`
		Error *rpcError `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("broadcast_tx_sync: HTTP %d: decode answer: %w", resp.StatusCode, err)
	}
	switch {
	case out.Error != nil:
		return fmt.Errorf("broadcast_tx_sync: %s: %s", out.Error.Message, out.Error.Data)
	case out.Result == nil:
		return fmt.Errorf("broadcast_tx_sync: HTTP %d without a result", resp.StatusCode)
	case out.Result.Code != 0:
		return fmt.Errorf("broadcast_tx_sync: CheckTx code %d: %s", out.Result.Code, out.Result.Log)
	}
	return nil
}

// blockEvent is one NewBlock event (or the error that ended the subscription).
type blockEvent struct {
	txs [][]byte
	err error
}

// subscribe subscribes to NewBlock events on endpoint's websocket. The channel is
// closed when ctx ends; a read error is sent as the last event.
func subscribe(ctx context.Context, endpoint string) (<-chan blockEvent, error) {
	u := strings.Replace(strings.Replace(endpoint, "https://", "wss://", 1), "http://", "ws://", 1) + "/websocket"
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	c.SetReadLimit(256 << 20) // a block of thousands of transactions, with their results
	req := []byte(`{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"query":"tm.event='NewBlock'"}}`)
	if err := c.Write(ctx, websocket.MessageText, req); err != nil {
		return nil, errors.Join(fmt.Errorf("subscribe on %s: %w", u, err), c.CloseNow())
	}
	out := make(chan blockEvent, 1024)
	go func() {
		defer close(out)
		defer c.CloseNow()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				select {
				case out <- blockEvent{err: fmt.Errorf("websocket: %w", err)}:
				case <-ctx.Done():
				}
				return
			}
			ev, isBlock, err := parseEvent(data)
			if err != nil {
				ev = blockEvent{err: err}
			} else if !isBlock {
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
			if ev.err != nil {
				return
			}
		}
	}()
	return out, nil
}

// parseEvent decodes one websocket message: a NewBlock event (isBlock), another answer
// (the subscription's acknowledgement), or a JSON-RPC error.
func parseEvent(data []byte) (ev blockEvent, isBlock bool, err error) {
	var msg struct {
		Result struct {
			Data struct {
				Type  string `json:"type"`
				Value struct {
					Block struct {
						Data struct {
							Txs [][]byte `json:"txs"` // base64 in JSON
						} `json:"data"`
					} `json:"block"`
				} `json:"value"`
			} `json:"data"`
		} `json:"result"`
		Error *rpcError `json:"error"`
	}
	if err := json.Unmarshal(data, &msg); err != nil {
		return blockEvent{}, false, fmt.Errorf("decode event: %w", err)
	}
	if msg.Error != nil {
		return blockEvent{}, false, fmt.Errorf("subscription: %s: %s", msg.Error.Message, msg.Error.Data)
	}
	if msg.Result.Data.Type != "tendermint/event/NewBlock" {
		return blockEvent{}, false, nil
	}
	return blockEvent{txs: msg.Result.Data.Value.Block.Data.Txs}, true, nil
}
