package execution

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// fakeHTTP answers every request with status 200 and the request body reversed.
type fakeHTTP struct {
	calls int
	body  []byte // if set, the answer's body
}

func (f *fakeHTTP) PerformHTTP(_ context.Context, _ *protocol.ResourcePolicy, req *HTTPRequest) (*HTTPResponse, error) {
	f.calls++
	if f.body != nil {
		return &HTTPResponse{Status: 200, Body: f.body}, nil
	}
	b := bytes.Clone(req.Body)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return &HTTPResponse{Status: 200, Body: b}, nil
}

// oracleApp is a native contract: "h"+body makes an HTTP request, "s"+query queries
// its service, "a" asserts the time is before 10,000. Its service answers "svc:"+query,
// or waits for its ctx to end on "slow".
type oracleApp struct{}

func (oracleApp) Instantiate(context.Context, ContractRuntime, []byte) error { return nil }
func (oracleApp) ExecuteMessage(context.Context, ContractRuntime, []byte) error {
	return errors.New("no messages")
}
func (oracleApp) Finalize(context.Context, ContractRuntime) error { return nil }

func (oracleApp) ExecuteOperation(ctx context.Context, rt ContractRuntime, op []byte) ([]byte, error) {
	o := rt.(ContractOracles)
	switch op[0] {
	case 'h':
		resp, err := o.HTTPRequest(ctx, &HTTPRequest{Method: "POST", URL: "https://api.test/x", Body: op[1:]})
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	case 's':
		return o.QueryService(ctx, rt.ApplicationID(), op[1:])
	case 'a':
		return nil, o.AssertBefore(ctx, 10_000)
	}
	return nil, errors.New("unknown")
}

func (oracleApp) HandleQuery(ctx context.Context, rt ServiceRuntime, q []byte) ([]byte, error) {
	if string(q) == "slow" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return append([]byte("svc:"), q...), nil
}

type oracleLoader struct{}

func (oracleLoader) LoadContract(context.Context, base.ApplicationID, BlobReader) (UserContract, error) {
	return oracleApp{}, nil
}
func (oracleLoader) LoadService(context.Context, base.ApplicationID, BlobReader) (UserService, error) {
	return oracleApp{}, nil
}

func oraclePolicy() *protocol.ResourcePolicy {
	p := protocol.NoFeesPolicy()
	p.HTTPAllowList = []string{"api.test"}
	return &p
}

// TestOutsideOraclesRecordAndReplay: live mode performs and records; replay returns the
// record without performing anything and refuses another request or kind.
func TestOutsideOraclesRecordAndReplay(t *testing.T) {
	n := newNet(t)
	n.loader = oracleLoader{}
	s, id := userChain(t, n)
	h := &fakeHTTP{}
	c := tc(id, &alice)
	c.Policy = oraclePolicy()
	live := LiveOraclesWith(nil, LiveEnv{HTTP: h, Now: 9_999})
	out := mustExec(t, s, c, userTx(appA, []byte("habc")), live)
	if string(out.Result) != "cba" || h.calls != 1 {
		t.Fatalf("live HTTP: %q, %d calls", out.Result, h.calls)
	}
	out2 := mustExec(t, s, c, userTx(appA, []byte("sq")), live)
	out3 := mustExec(t, s, c, userTx(appA, []byte("a")), live)
	if string(out2.Result) != "svc:q" {
		t.Fatalf("service: %q", out2.Result)
	}
	rs := [][]protocol.OracleResponse{out.OracleResponses, out2.OracleResponses, out3.OracleResponses}
	if len(rs[0]) != 1 || rs[0][0].Kind != protocol.OracleHTTP || rs[0][0].Status != 200 || string(rs[0][0].Value) != "cba" ||
		len(rs[1]) != 1 || rs[1][0].Kind != protocol.OracleService || len(rs[2]) != 1 || rs[2][0].Kind != protocol.OracleAssert {
		t.Fatalf("recorded %+v", rs)
	}
	for i := range rs {
		if !UsesOracles(rs[i : i+1]) {
			t.Errorf("transaction %d's responses are not oracles", i)
		}
		// The responses round-trip through the codec.
		var back protocol.OracleResponse
		if err := codec.Unmarshal(codec.Marshal(&rs[i][0]), &back); err != nil || !bytes.Equal(codec.Marshal(&back), codec.Marshal(&rs[i][0])) {
			t.Errorf("response %d does not round-trip: %v", i, err)
		}
	}

	// Replay: same results, nothing performed, the clock is not read.
	h2 := &fakeHTTP{}
	for i, op := range []string{"habc", "sq", "a"} {
		r := ReplayOracles(nil, rs[i])
		r.env = LiveEnv{HTTP: h2, Now: 1 << 62}
		out := mustExec(t, n.load(id), c, userTx(appA, []byte(op)), r)
		if err := r.Finish(); err != nil {
			t.Fatal(err)
		}
		if i == 0 && string(out.Result) != "cba" {
			t.Fatalf("replayed HTTP: %q", out.Result)
		}
	}
	if h2.calls != 0 {
		t.Fatalf("replay performed %d requests", h2.calls)
	}
	// Another request, another query, another kind: ErrOracleMismatch.
	for _, x := range []struct {
		op string
		rs []protocol.OracleResponse
	}{{"habd", rs[0]}, {"sr", rs[1]}, {"habc", rs[1]}, {"a", rs[0]}, {"sq", rs[2]}, {"habc", nil}} {
		_, err := n.load(id).ExecuteTransaction(bg, c, userTx(appA, []byte(x.op)), ReplayOracles(nil, x.rs))
		wantErr(t, err, ErrOracleMismatch)
	}
}

// TestOutsideOraclesRefuse: failures are clear execution errors and record nothing.
func TestOutsideOraclesRefuse(t *testing.T) {
	n := newNet(t)
	n.loader = oracleLoader{}
	s, id := userChain(t, n)
	c := tc(id, &alice)
	c.Policy = oraclePolicy()
	run := func(op string, o *Oracles) error {
		_, err := s.ExecuteTransaction(bg, c, userTx(appA, []byte(op)), o)
		if len(o.Responses()) != 0 {
			t.Errorf("%q recorded %d responses after failing", op, len(o.Responses()))
		}
		s.Rollback()
		return err
	}
	// assert_before with the validator's clock at or after the deadline.
	wantErr(t, run("a", LiveOraclesWith(nil, LiveEnv{Now: 10_000})), ErrAssertBefore)
	// No HTTP performer on this node.
	wantErr(t, run("hx", LiveOraclesWith(nil, LiveEnv{})), ErrHTTPRequest)
	// A response over MaxOracleResponseBytes.
	small := oraclePolicy()
	small.MaxOracleResponseBytes = 2
	c.Policy = small
	wantErr(t, run("habc", LiveOraclesWith(nil, LiveEnv{HTTP: &fakeHTTP{}})), ErrHTTPRequest)
	// A service answer over MaxOracleResponseBytes.
	wantErr(t, run("sabc", LiveOraclesWith(nil, LiveEnv{})), ErrServiceOracle)
	// A service that runs past the block's budget; the budget is then used up.
	c.Policy = oraclePolicy()
	c.Policy.MaxServiceOracleMs = 50
	budget := NewServiceBudget(c.Policy)
	err := run("sslow", LiveOraclesWith(nil, LiveEnv{ServiceBudget: budget}))
	wantErr(t, err, ErrServiceOracle)
	if !strings.Contains(err.Error(), "service-as-oracle time") {
		t.Errorf("error %v does not name the budget", err)
	}
	wantErr(t, run("sq", LiveOraclesWith(nil, LiveEnv{ServiceBudget: budget})), ErrServiceOracle)
	// At most MaxHTTPRequestsPerBlock HTTP requests per block.
	budget = NewServiceBudget(c.Policy)
	h := &fakeHTTP{}
	for i := 0; i < MaxHTTPRequestsPerBlock; i++ {
		if _, err := s.ExecuteTransaction(bg, c, userTx(appA, []byte("hx")), LiveOraclesWith(nil, LiveEnv{HTTP: h, ServiceBudget: budget})); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	err = run("hx", LiveOraclesWith(nil, LiveEnv{HTTP: h, ServiceBudget: budget}))
	wantErr(t, err, ErrHTTPRequest)
	if h.calls != MaxHTTPRequestsPerBlock {
		t.Errorf("%d requests performed, want %d", h.calls, MaxHTTPRequestsPerBlock)
	}
	// Slow requests share a block's HTTP time (2 × HTTPRequestTimeoutMs): a request
	// that hangs uses it up, and the next request of the block is refused at once.
	c.Policy.HTTPRequestTimeoutMs = 20
	budget = NewServiceBudget(c.Policy)
	for i := 0; i < 2; i++ {
		err = run("hx", LiveOraclesWith(nil, LiveEnv{HTTP: &slowHTTP{d: time.Hour}, ServiceBudget: budget}))
		wantErr(t, err, ErrHTTPRequest)
		if !strings.Contains(err.Error(), "took their time") {
			t.Errorf("slow request %d: %v", i, err)
		}
	}
}

// slowHTTP answers after d, or fails when ctx ends first.
type slowHTTP struct{ d time.Duration }

func (s *slowHTTP) PerformHTTP(ctx context.Context, _ *protocol.ResourcePolicy, _ *HTTPRequest) (*HTTPResponse, error) {
	select {
	case <-time.After(s.d):
		return &HTTPResponse{Status: 200, Body: []byte("ok")}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestOracleFees: HTTPRequest and ServiceAsOracleQuery are charged per response.
func TestOracleFees(t *testing.T) {
	n := newNet(t)
	n.loader = oracleLoader{}
	s, id := userChain(t, n)
	c := tc(id, &alice)
	c.Policy = oraclePolicy()
	c.Policy.HTTPRequest = base.AmountFromAttos(7)
	c.Policy.ServiceAsOracleQuery = base.AmountFromAttos(11)
	before := balance(t, s, base.ChainOwner)
	live := LiveOraclesWith(nil, LiveEnv{HTTP: &fakeHTTP{}})
	if out := mustExec(t, s, c, userTx(appA, []byte("hx")), live); out.Fees != base.AmountFromAttos(7) {
		t.Fatalf("HTTP fee %s", out.Fees)
	}
	if out := mustExec(t, s, c, userTx(appA, []byte("sx")), live); out.Fees != base.AmountFromAttos(11) {
		t.Fatalf("service fee %s", out.Fees)
	}
	if got := before.SaturatingSub(balance(t, s, base.ChainOwner)); got != base.AmountFromAttos(18) {
		t.Fatalf("chain paid %s, want 18 attos", got)
	}
}

func TestCheckHTTPRequest(t *testing.T) {
	p := oraclePolicy()
	ok := []HTTPRequest{
		{Method: "GET", URL: "https://api.test/x?q=1"},
		{Method: "POST", URL: "http://API.test:8080/x", Headers: []HTTPHeader{{Name: "Content-Type", Value: "application/json"}}},
	}
	for _, r := range ok {
		if _, err := CheckHTTPRequest(p, &r); err != nil {
			t.Errorf("%s %s: %v", r.Method, r.URL, err)
		}
	}
	bad := []HTTPRequest{
		{Method: "get", URL: "https://api.test/"},
		{Method: "GET", URL: "https://other.test/"},
		{Method: "GET", URL: "https://api.test.evil.com/"},
		{Method: "GET", URL: "gopher://api.test/"},
		{Method: "GET", URL: "api.test/x"},
		{Method: "GET", URL: "https://api.test\x00/"},
		{Method: "GET", URL: "https:api.test"},
		{Method: "GET", URL: "https://x@api.test/"},
		{Method: "GET", URL: "https://api.test/", Headers: []HTTPHeader{{Name: "Host", Value: "other.test"}}},
		{Method: "GET", URL: "https://api.test/", Headers: []HTTPHeader{{Name: "Bad Name", Value: "v"}}},
	}
	for _, r := range bad {
		if _, err := CheckHTTPRequest(p, &r); !errors.Is(err, ErrHTTPRequest) {
			t.Errorf("%s %q accepted: %v", r.Method, r.URL, err)
		}
	}
}
