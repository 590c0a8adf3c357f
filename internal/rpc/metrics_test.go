package rpc

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/metrics"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

// TestServerRecordsLatencies: a server with ServerConfig.Metrics observes each call's
// duration by method and status code, failed calls included.
func TestServerRecordsLatencies(t *testing.T) {
	keys := prototest.Validators(1)
	g := prototest.Genesis(prototest.Committee(keys), []*crypto.PrivateKey{prototest.Key("alice")}, base.Tokens(1))
	reg := metrics.NewRegistry()
	w := worker.New(worker.Config{Storage: newStore(t, g), Signer: keys[0], Clock: sysClock{}})
	proxy, err := NewValidatorServer(w, ProxyConfig{Notifier: NewNotifier(0)})
	if err != nil {
		t.Fatal(err)
	}
	node := serveProxy(t, proxy, ServerConfig{Metrics: metrics.NewRPC(reg, "public")}, DialOptions{})
	ctx := context.Background()
	if _, err := node.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: g.ChainIDs()[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := node.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: base.ChainID{1}}); err == nil {
		t.Fatal("query for an unknown chain succeeded")
	}
	wantQueryCounts(t, reg, "OK", "NotFound")
}

// serveProxy serves proxy on a loopback server configured by cfg until the test ends,
// and returns a Node connected to it (opts.CallTimeout default 5 s).
func serveProxy(tb testing.TB, proxy *Proxy, cfg ServerConfig, opts DialOptions) *Node {
	tb.Helper()
	srv := NewServer(listen(tb), cfg)
	proxy.Register(srv.Registrar())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	if opts.CallTimeout == 0 {
		opts.CallTimeout = 5 * time.Second
	}
	node, err := Dial(ctx, srv.Addr().String(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = node.Close() })
	return node
}

// wantQueryCounts checks that reg counted one chain-info query with each status code.
func wantQueryCounts(t *testing.T, reg *prometheus.Registry, statuses ...string) {
	t.Helper()
	rec := httptest.NewRecorder()
	metrics.Handler(reg, metrics.HandlerOptions{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, code := range statuses {
		want := `mica_rpc_duration_seconds_count{code="` + code + `",method="/mica.rpc.v1.ValidatorNode/HandleChainInfoQuery",server="public"} 1`
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grep(body, "mica_rpc_duration_seconds_count"))
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestServerRecordsPanicsAndRefusals: the server's one unary interceptor counts a call
// whose handler panicked with the code of the error the panic became, and a call the
// limits refused with its code, and each such call is answered with that error.
func TestServerRecordsPanicsAndRefusals(t *testing.T) {
	g := prototest.Genesis(prototest.Committee(prototest.Validators(4)), nil, base.Tokens(1))
	proxy, err := NewProxy(ProxyConfig{Shards: []Shard{fakeShard{t}}, Storage: newStore(t, g)})
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	limits := DefaultLimits(protocol.NoFeesPolicy())
	node := serveProxy(t, proxy, ServerConfig{Limits: &limits, Metrics: metrics.NewRPC(reg, "public")}, DialOptions{})
	ctx := context.Background()
	h := base.BlockHeight(1)
	_, err = node.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: base.ChainID{0xff}, TestNextBlockHeight: &h})
	if err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Fatalf("panicking handler answered %v", err)
	}
	// A query over its method's budget is refused before the handler.
	api := pb.NewValidatorNodeClient(node.c.cc)
	_, err = api.HandleChainInfoQuery(ctx, &pb.ChainInfoQuery{Payload: make([]byte, smallRequestBudget+1)})
	wantCode(t, "oversize query", err, codes.ResourceExhausted)
	wantQueryCounts(t, reg, "Internal", "ResourceExhausted")
}
