package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fakeNode is a CometBFT node as cmtload sees it: broadcast_tx_sync puts a transaction
// in the mempool (or refuses every refuseEvery-th one as a full mempool would), and
// every interval a block takes the whole mempool and is sent as a NewBlock event to
// the websocket subscribers, with a transaction of someone else's.
type fakeNode struct {
	refuseEvery int

	mu        sync.Mutex
	mempool   [][]byte
	received  int
	committed map[string]int // transaction → times committed
	subs      []chan []byte
}

func (n *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/websocket" {
		n.serveWebsocket(w, r)
		return
	}
	var req struct {
		Method string            `json:"method"`
		Params map[string]string `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Method != "broadcast_tx_sync" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	tx, err := base64.StdEncoding.DecodeString(req.Params["tx"])
	if err != nil {
		http.Error(w, "bad tx", http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	n.received++
	refuse := n.refuseEvery > 0 && n.received%n.refuseEvery == 0
	if !refuse {
		n.mempool = append(n.mempool, tx)
	}
	n.mu.Unlock()
	if refuse {
		w.Write([]byte(`{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error","data":"mempool is full: number of txs 5000 (max: 5000)"}}`))
		return
	}
	w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{"code":0,"data":"","log":"","codespace":"","hash":"AB"}}`))
}

func (n *fakeNode) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	if _, _, err := c.Read(r.Context()); err != nil { // the subscribe request
		return
	}
	if err := c.Write(r.Context(), websocket.MessageText, []byte(`{"jsonrpc":"2.0","id":1,"result":{}}`)); err != nil {
		return
	}
	ch := make(chan []byte, 1000)
	n.mu.Lock()
	n.subs = append(n.subs, ch)
	n.mu.Unlock()
	for {
		select {
		case msg := <-ch:
			if err := c.Write(r.Context(), websocket.MessageText, msg); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

// commit makes one block of the mempool and sends it to the subscribers.
func (n *fakeNode) commit(height int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	txs := append([][]byte{[]byte("other=1")}, n.mempool...)
	n.mempool = nil
	for _, tx := range txs {
		n.committed[string(tx)]++
	}
	enc := make([]string, len(txs))
	for i, tx := range txs {
		enc[i] = base64.StdEncoding.EncodeToString(tx)
	}
	ev, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "result": map[string]any{
		"query": "tm.event='NewBlock'",
		"data": map[string]any{"type": "tendermint/event/NewBlock", "value": map[string]any{
			"block": map[string]any{"header": map[string]any{"height": height}, "data": map[string]any{"txs": enc}},
		}},
	}})
	if err != nil {
		panic(err)
	}
	for _, ch := range n.subs {
		ch <- ev
	}
}

func runAgainst(t *testing.T, n *fakeNode, inflight int) (*result, map[string]int) {
	t.Helper()
	n.committed = map[string]int{}
	srv := httptest.NewServer(n)
	defer srv.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for h := 1; ; h++ {
			select {
			case <-tick.C:
				n.commit(h)
			case <-stop:
				return
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	var progress bytes.Buffer
	res, err := run(context.Background(), config{
		RPC: []string{srv.URL, srv.URL}, Inflight: inflight, Size: 40,
		Duration: 300 * time.Millisecond, Drain: 2 * time.Second, Now: time.Now, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), " blocks  ") {
		t.Errorf("no progress line in %q", progress.String())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return res, n.committed
}

// TestCountsEachCommittedTransactionOnce checks that every transaction of the run that
// the node committed is counted once, with a latency, and nothing else is.
func TestCountsEachCommittedTransactionOnce(t *testing.T) {
	res, committed := runAgainst(t, &fakeNode{}, 8)
	ours := 0
	for tx, times := range committed {
		if !strings.HasPrefix(tx, "cmtload-") {
			continue
		}
		ours++
		if times != 1 || len(tx) != 40 {
			t.Errorf("transaction %q committed %d times, %d bytes", tx, times, len(tx))
		}
	}
	if ours == 0 || res.Txs != ours {
		t.Fatalf("counted %d transactions, the node committed %d of the run's", res.Txs, ours)
	}
	if res.Errors != 0 || res.Uncommitted != 0 {
		t.Errorf("errors %d, uncommitted %d: want none", res.Errors, res.Uncommitted)
	}
	if res.LatencyP50Ms <= 0 || res.LatencyP99Ms < res.LatencyP50Ms || res.TxPerSecond <= 0 {
		t.Errorf("latency p50 %v p99 %v, %v tx/s", res.LatencyP50Ms, res.LatencyP99Ms, res.TxPerSecond)
	}
	if res.BlocksWithTxs == 0 || res.BlocksWithTxs > res.Blocks || res.MaxTxsPerBlock < 2 {
		t.Errorf("blocks %d, with the run's transactions %d, largest %d", res.Blocks, res.BlocksWithTxs, res.MaxTxsPerBlock)
	}
}

// TestRefusedBroadcastsAreErrorsAndFreeTheirSlot checks that a refused transaction is
// counted as an error by kind and its slot reused: with one slot, the run goes on.
func TestRefusedBroadcastsAreErrorsAndFreeTheirSlot(t *testing.T) {
	res, committed := runAgainst(t, &fakeNode{refuseEvery: 3}, 1)
	if res.Errors == 0 || len(res.ErrorKinds) != 1 || !strings.Contains(res.ErrorKinds[0].Kind, "mempool is full") {
		t.Fatalf("errors %d, kinds %+v: want mempool-full errors", res.Errors, res.ErrorKinds)
	}
	if res.ErrorKinds[0].Count != res.Errors {
		t.Errorf("kind count %d, errors %d", res.ErrorKinds[0].Count, res.Errors)
	}
	if res.Txs < 2*res.Errors-2 {
		t.Errorf("%d committed for %d refused: the slot was not reused", res.Txs, res.Errors)
	}
	ours := 0
	for tx := range committed {
		if strings.HasPrefix(tx, "cmtload-") {
			ours++
		}
	}
	if res.Txs != ours {
		t.Errorf("counted %d, committed %d", res.Txs, ours)
	}
}
