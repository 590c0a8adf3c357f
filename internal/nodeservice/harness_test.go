package nodeservice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/localnet"
	"github.com/micachain/mica/internal/nodeservice"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/wallet"
	"github.com/micachain/mica/internal/worker"
)

// testNet is 4 in-process validators (workers over memkv) that deliver cross-chain
// requests after every call and stream notifications, and genesis chains owned by the
// given keys.
type testNet struct {
	t       testing.TB
	keys    []*crypto.PrivateKey
	genesis *protocol.GenesisConfig
	nodes   []*testNode
	chains  []base.ChainID
	loader  execution.ApplicationLoader
	owners  []*crypto.PrivateKey
	// requestTimeout, if set, replaces the clients' generous per-call deadline.
	requestTimeout time.Duration
}

// testNode is a validator: a worker, with a notification stream.
type testNode struct {
	w    *worker.Worker
	mu   sync.Mutex
	subs map[int]func(protocol.Notification)
	next int
	// appDelay, if set, is how long the node takes to answer a proposal that runs an
	// application's operation (a validator compiling and starting its bytecode for the
	// first time), unless the call's context ends first.
	appDelay atomic.Int64
	// asked records the chains named in the chain-info queries and description reads the
	// node received (what a request made the client look up).
	askedMu sync.Mutex
	asked   map[base.ChainID]bool
	// pendingQueries counts the chain-info queries asking for pending bundles.
	pendingQueries atomic.Int64
}

func (n *testNode) ask(id base.ChainID) {
	n.askedMu.Lock()
	defer n.askedMu.Unlock()
	if n.asked == nil {
		n.asked = map[base.ChainID]bool{}
	}
	n.asked[id] = true
}

// askedAbout returns the chains named in the calls the node received.
func (n *testNode) askedAbout() map[base.ChainID]bool {
	n.askedMu.Lock()
	defer n.askedMu.Unlock()
	return maps.Clone(n.asked)
}

func (n *testNode) notify(note protocol.Notification) {
	n.mu.Lock()
	fns := make([]func(protocol.Notification), 0, len(n.subs))
	for _, f := range n.subs {
		fns = append(fns, f)
	}
	n.mu.Unlock()
	for _, f := range fns {
		f(note)
	}
}

func (n *testNode) flush(ctx context.Context) {
	for i := 0; i < 10 && n.w.HasPendingDeliveries(); i++ {
		_ = n.w.DeliverPending(ctx)
	}
}

func (n *testNode) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	if d := time.Duration(n.appDelay.Load()); d > 0 && runsApplication(&p.Content.Block) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer n.flush(ctx)
	return n.w.HandleBlockProposal(ctx, p)
}

// runsApplication reports whether a block executes an application's operation.
func runsApplication(b *protocol.ProposedBlock) bool {
	for _, tx := range b.Transactions {
		if tx.Operation != nil && !tx.Operation.IsSystem() {
			return true
		}
	}
	return false
}

func (n *testNode) HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error) {
	defer n.flush(ctx)
	return n.w.HandleCertificate(ctx, c)
}

func (n *testNode) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	n.ask(q.ChainID)
	if q.RequestPendingBundles {
		n.pendingQueries.Add(1)
	}
	return n.w.HandleChainInfoQuery(ctx, q)
}

func (n *testNode) HandleBlob(ctx context.Context, b protocol.Blob) error {
	return n.w.HandleBlob(ctx, b)
}

func (n *testNode) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	if id.Type == base.BlobChainDescription {
		n.ask(base.ChainID(id.Hash))
	}
	return n.w.ReadBlob(ctx, id)
}

func (n *testNode) Certificates(ctx context.Context, id base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	return n.w.Certificates(ctx, id, from, to)
}

// SubscribeNotifications streams the node's notifications about chains until ctx ends.
func (n *testNode) SubscribeNotifications(ctx context.Context, chains []base.ChainID, fn func(protocol.Notification)) error {
	want := map[base.ChainID]bool{}
	for _, c := range chains {
		want[c] = true
	}
	n.mu.Lock()
	id := n.next
	n.next++
	n.subs[id] = func(note protocol.Notification) {
		if want[note.ChainID] {
			fn(note)
		}
	}
	n.mu.Unlock()
	<-ctx.Done()
	n.mu.Lock()
	delete(n.subs, id)
	n.mu.Unlock()
	return nil
}

func newStore(t testing.TB, g *protocol.GenesisConfig) *storage.Storage {
	db := memkv.New()
	t.Cleanup(func() { _ = db.Close() })
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, g)
	if err := st.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return st
}

func newTestNet(t testing.TB, owners []*crypto.PrivateKey, loader execution.ApplicationLoader) *testNet {
	n := &testNet{t: t, keys: prototest.Validators(4), loader: loader, owners: owners}
	committee := prototest.Committee(n.keys)
	n.genesis = prototest.Genesis(committee, owners, base.Tokens(100))
	n.chains = n.genesis.ChainIDs()
	for _, k := range n.keys {
		node := &testNode{subs: map[int]func(protocol.Notification){}}
		node.w = worker.New(worker.Config{Storage: newStore(t, n.genesis), Signer: k, Clock: localnet.WallClock{}, Loader: loader, Notify: node.notify})
		n.nodes = append(n.nodes, node)
	}
	return n
}

// generousWait bounds the work of a test that it does not examine (a client's calls,
// a mutation): compiling the counter module has taken over 5 minutes under the race
// detector on the loaded CI machine. A correct run takes what the work takes.
const generousWait = 10 * time.Minute

// client returns a new client with its own local replica, whose notifications go to hub.
func (n *testNet) client(hub *nodeservice.Hub) *client.Client {
	var notify func(protocol.Notification)
	if hub != nil {
		notify = hub.Publish
	}
	local := worker.New(worker.Config{Storage: newStore(n.t, n.genesis), Clock: localnet.WallClock{}, Loader: n.loader, Notify: notify})
	var vals []client.Validator
	for i, k := range n.keys {
		vals = append(vals, client.Validator{PublicKey: k.Public(), Node: n.nodes[i]})
	}
	// Generous deadlines: the test machine may be loaded while 4 validators compile a
	// module (13 MB of Wasm for the counter: minutes under the race detector there).
	timeout := generousWait
	if n.requestTimeout > 0 {
		timeout = n.requestTimeout
	}
	return client.New(client.Config{Local: local, Committee: &n.genesis.Committee, Validators: vals, Clock: localnet.WallClock{}, RequestTimeout: timeout})
}

// service is a node service over a new wallet that owns chains[i] (the default) and
// follows the others read-only.
type service struct {
	*nodeservice.Service
	t      testing.TB
	w      *wallet.Wallet
	c      *client.Client
	server *httptest.Server
	token  string
	// stop stops the service and its background syncs (at the latest when the test
	// ends).
	stop func()
}

type serviceOpts struct {
	token           string
	tokenForQueries bool
	processInbox    bool
	loopbackHosts   bool
	allowOrigins    []string
	limits          nodeservice.Limits
	// catchUp replaces the harness's catch-up period (200 ms).
	catchUp time.Duration
}

func (n *testNet) service(i int, o serviceOpts) *service {
	t := n.t
	w, err := wallet.Create(t.TempDir(), n.genesis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	if err := w.ImportKey(n.owners[i]); err != nil {
		t.Fatal(err)
	}
	owner := n.owners[i].Public().Owner()
	if err := w.AddChain(n.chains[i], &owner); err != nil {
		t.Fatal(err)
	}
	if err := w.SetDefault(n.chains[i]); err != nil {
		t.Fatal(err)
	}
	if o.limits.Timeout == 0 {
		// The default budget of a mutation (60 s) has been exceeded by publishModule
		// under the race detector on a loaded machine (four validators compiling the
		// module on two busy cores); no test here is about that budget.
		o.limits.Timeout = generousWait
	}
	if o.catchUp == 0 {
		o.catchUp = 200 * time.Millisecond
	}
	hub := nodeservice.NewHub()
	c := n.client(hub)
	svc, err := nodeservice.New(nodeservice.Config{Wallet: w, Client: c, Hub: hub, Token: o.token, TokenForQueries: o.tokenForQueries,
		ProcessInbox: o.processInbox, LoopbackHosts: o.loopbackHosts, AllowOrigins: o.allowOrigins, CatchUp: o.catchUp, Limits: o.limits})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Run(ctx)
	}()
	s := &service{Service: svc, t: t, w: w, c: c, token: o.token}
	s.server = httptest.NewServer(svc.Handler())
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			s.server.CloseClientConnections()
			s.server.Close()
			cancel()
			<-done
			hub.Close()
		})
	}
	t.Cleanup(s.stop)
	return s
}

// post sends a GraphQL request to path and returns the HTTP status and decoded body.
func (s *service) post(path, token string, body any) (int, map[string]any) {
	s.t.Helper()
	var b []byte
	switch v := body.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			s.t.Fatal(err)
		}
	}
	headers := map[string]string{"Content-Type": "application/json"}
	if token != "" {
		headers["Authorization"] = "Bearer " + token
	}
	status, raw := s.send(http.MethodPost, path, b, headers)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		s.t.Fatalf("status %d, body not JSON: %v\n%s", status, err, raw)
	}
	return status, out
}

// send sends a request to target with the given headers (and body, if not nil) and
// returns the HTTP status and the answer's body.
func (s *service) send(method, target string, body []byte, headers map[string]string) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.server.URL+target, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// gql runs a query on the system endpoint with the service's token and fails the test on
// GraphQL errors; it returns "data".
func (s *service) gql(query string, vars map[string]any) map[string]any {
	s.t.Helper()
	status, out := s.post("/", s.token, map[string]any{"query": query, "variables": vars})
	if status != http.StatusOK || out["errors"] != nil {
		s.t.Fatalf("%s: status %d, %v", query, status, out["errors"])
	}
	data, _ := out["data"].(map[string]any)
	return data
}

// firstError returns the message of the first GraphQL error of an answer, or "".
func firstError(out map[string]any) string {
	errs, _ := out["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

// path digs into decoded JSON: path(v, "a", "b", 0, "c").
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
