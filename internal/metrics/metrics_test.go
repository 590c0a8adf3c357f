package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNilSetsCountNothing(t *testing.T) {
	var v *Validator
	v.BlockExecuted()
	v.BlockCommitted(3)
	v.ProposalHandled()
	v.CrossChainHandled()
	v.VoteSigned(KindConfirmed)
	v.CertificateHandled(KindTimeout)
	v.Failed(RequestProposal, ClassInvalid)
	v.LogLinesSuppressed(2)
	var r *RPC
	r.Observe("/m", "OK", time.Millisecond)
}

func TestValidatorCounters(t *testing.T) {
	reg := NewRegistry()
	v := NewValidator(reg)
	v.BlockExecuted()
	v.BlockCommitted(3)
	v.BlockCommitted(2)
	v.VoteSigned(KindConfirmed)
	v.VoteSigned(KindConfirmed)
	v.VoteSigned("bogus")
	v.CertificateHandled(KindValidated)
	v.Failed(RequestProposal, ClassInvalid)
	v.Failed("made-up", "made-up")
	if got := testutil.ToFloat64(v.blocksExecuted); got != 1 {
		t.Errorf("blocks executed = %v", got)
	}
	text := scrape(t, Handler(reg, HandlerOptions{}))
	for _, line := range []string{
		"mica_blocks_executed_total 1",
		"mica_blocks_committed_total 2",
		"mica_transactions_committed_total 5",
		`mica_votes_signed_total{kind="confirmed"} 2`,
		`mica_votes_signed_total{kind="other"} 1`,
		`mica_certificates_handled_total{kind="validated"} 1`,
		`mica_request_errors_total{class="invalid",request="proposal"} 1`,
		`mica_request_errors_total{class="other",request="other"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// TestAttackRPCMethodLabelsAreBounded: a peer calling ever new method names (were the
// gRPC server to pass them to the interceptor) cannot grow the registry past
// MaxRPCMethods label values.
func TestAttackRPCMethodLabelsAreBounded(t *testing.T) {
	reg := NewRegistry()
	r := NewRPC(reg, "public")
	for i := range 10 * MaxRPCMethods {
		r.Observe(fmt.Sprintf("/svc/M%d", i), "OK", time.Millisecond)
	}
	if n := testutil.CollectAndCount(r.vec); n > MaxRPCMethods+1 {
		t.Fatalf("%d series for %d methods; the bound is %d", n, 10*MaxRPCMethods, MaxRPCMethods+1)
	}
	text := scrape(t, Handler(reg, HandlerOptions{}))
	if !strings.Contains(text, `mica_rpc_duration_seconds_count{code="OK",method="other",server="public"}`) {
		t.Fatal("calls past the bound are not counted under method=\"other\"")
	}
}

func TestHealthReadyAndPprof(t *testing.T) {
	reg := NewRegistry()
	ready := fmt.Errorf("store closed")
	h := Handler(reg, HandlerOptions{Ready: func() error { return ready }})
	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "store closed") {
		t.Fatalf("/readyz while not ready: %d %q", code, body)
	}
	ready = nil
	if code, _ := get(t, h, "/readyz"); code != 200 {
		t.Fatalf("/readyz when ready: %d", code)
	}
	if code, _ := get(t, h, "/debug/pprof/"); code != 404 {
		t.Fatalf("pprof served without the flag: %d", code)
	}
	if code, _ := get(t, Handler(reg, HandlerOptions{Pprof: true}), "/debug/pprof/"); code != 200 {
		t.Fatalf("pprof with the flag: %d", code)
	}
	if code, _ := get(t, h, "/nothing"); code != 404 {
		t.Fatalf("unknown path: %d", code)
	}
}

func TestServerRunsAndStops(t *testing.T) {
	reg := NewRegistry()
	GaugeFunc(reg, "test_gauge", "a test gauge", func() float64 { return 42 })
	s, err := Listen("127.0.0.1:0", Handler(reg, HandlerOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	resp, err := http.Get("http://" + s.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "mica_test_gauge 42") {
		t.Fatalf("gauge missing from:\n%s", b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func BenchmarkCounters(b *testing.B) {
	v := NewValidator(NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		v.BlockCommitted(2)
		v.VoteSigned(KindConfirmed)
		v.CertificateHandled(KindConfirmed)
	}
}

func TestCountersDoNotAllocate(t *testing.T) {
	v := NewValidator(NewRegistry())
	if n := testing.AllocsPerRun(100, func() {
		v.BlockExecuted()
		v.BlockCommitted(2)
		v.VoteSigned(KindConfirmed)
		v.CertificateHandled(KindTimeout)
		v.Failed(RequestCertificate, ClassRetryable)
	}); n != 0 {
		t.Fatalf("%v allocations per block's worth of counting", n)
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	code, body := get(t, h, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	return body
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

func BenchmarkRPCObserve(b *testing.B) {
	r := NewRPC(NewRegistry(), "public")
	b.ReportAllocs()
	for b.Loop() {
		r.Observe("/mica.ValidatorNode/HandleCertificate", "OK", time.Millisecond)
	}
}

// TestRPCAnswerBacklogGauge: the gauge reads its source at each scrape, 0 without one.
func TestRPCAnswerBacklogGauge(t *testing.T) {
	reg := NewRegistry()
	r := NewRPC(reg, "public")
	h := Handler(reg, HandlerOptions{})
	if text := scrape(t, h); !strings.Contains(text, `mica_rpc_answer_backlog_bytes{server="public"} 0`) {
		t.Fatal("no answer backlog gauge at 0 before a source is set")
	}
	r.SetAnswerBacklog(func() int64 { return 12345 })
	if text := scrape(t, h); !strings.Contains(text, `mica_rpc_answer_backlog_bytes{server="public"} 12345`) {
		t.Fatal("the answer backlog gauge does not read its source")
	}
}
