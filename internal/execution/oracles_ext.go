package execution

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
)

// This file holds the oracles that reach outside the chain: HTTP requests, queries of
// an application's service (service as oracle) and assertions on the validator's clock.
// Each is recorded in live mode and replayed from the record otherwise (see Oracles).

// Errors of the outside-world oracles. Each is of class base.ErrInvalid: the transaction
// (hence the block) fails with a clear message, and nothing is recorded.
var (
	// ErrHTTPRequest: an HTTP request was refused (host not on the committee's
	// allow-list, malformed URL, bad method or headers, too large) or failed (network
	// error, timeout, response over the limit).
	ErrHTTPRequest = fmt.Errorf("%w: HTTP request failed", base.ErrInvalid)
	// ErrServiceOracle: a contract's query of a service failed or ran out of the
	// block's MaxServiceOracleMs.
	ErrServiceOracle = fmt.Errorf("%w: service as oracle failed", base.ErrInvalid)
	// ErrAssertBefore: the validator's clock is not before the deadline a contract
	// asserted.
	ErrAssertBefore = fmt.Errorf("%w: assert_before failed", base.ErrInvalid)
)

// Bounds of an HTTP request from an application (the response is bounded by the
// policy's MaxHTTPResponseBytes and MaxOracleResponseBytes).
const (
	MaxHTTPURLLen      = 2048
	MaxHTTPHeaders     = 32
	MaxHTTPHeaderBytes = 4096 // one header's name and value together
	MaxHTTPRequestBody = 64 << 10
	// MaxHTTPRequestsPerBlock bounds the recorded HTTP requests of one block: each may
	// take up to the policy's HTTPRequestTimeoutMs of the validator's time (while it
	// holds the chain) and add a response of up to MaxOracleResponseBytes to the block.
	MaxHTTPRequestsPerBlock = 16
	ValidatorHeader         = "Mica-Validator" // names the validator that makes a request
	ClientValidatorValue    = "client"         // ValidatorHeader value of a client's own node
)

// HTTPHeader is one request header.
type HTTPHeader struct {
	Name, Value string
}

// HTTPRequest is an HTTP request made by an application.
type HTTPRequest struct {
	Method  string // GET, HEAD, POST, PUT, PATCH or DELETE
	URL     string // http or https, host on the policy's allow-list
	Headers []HTTPHeader
	Body    []byte
}

// Encode writes the canonical encoding (hashed into OracleHTTP responses).
func (r *HTTPRequest) Encode(w *codec.Writer) {
	w.String(r.Method)
	w.String(r.URL)
	w.Length(len(r.Headers))
	for _, h := range r.Headers {
		w.String(h.Name)
		w.String(h.Value)
	}
	w.VarBytes(r.Body)
}

// Decode reads the canonical encoding, bounded by the codec reader's budget.
func (r *HTTPRequest) Decode(d *codec.Reader) {
	r.Method = d.String()
	r.URL = d.String()
	n := d.Length(2)
	for i := 0; i < n && d.Err() == nil; i++ {
		r.Headers = append(r.Headers, HTTPHeader{Name: d.String(), Value: d.String()})
	}
	r.Body = d.VarBytes()
}

// Hash is the request hash recorded with its response.
func (r *HTTPRequest) Hash() base.Hash { return crypto.HashValue("HTTPRequest", r) }

// HTTPResponse is what an application sees of an HTTP response: the status code and the
// body (headers are not kept: they vary between servers and requests, and would make
// validators disagree for nothing).
type HTTPResponse struct {
	Status uint16
	Body   []byte
}

// HTTPPerformer performs HTTP requests for applications; the worker implements it with
// net/http. Implementations must enforce what CheckHTTPRequest checks (the allow-list
// again, for redirects), policy.HTTPRequestTimeoutMs and MaxHTTPResponseBytes, and
// identify the node with the ValidatorHeader. Errors are reported to the application's
// transaction as ErrHTTPRequest. Safe for concurrent use.
type HTTPPerformer interface {
	PerformHTTP(ctx context.Context, policy *protocol.ResourcePolicy, req *HTTPRequest) (*HTTPResponse, error)
}

var allowedMethods = []string{"DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"}

// CheckHTTPRequest checks an application's request against the fixed bounds and the
// policy: method, URL (http or https, host on the allow-list, no user info), headers
// and body size. It returns the parsed URL.
func CheckHTTPRequest(policy *protocol.ResourcePolicy, req *HTTPRequest) (*url.URL, error) {
	if !containsString(allowedMethods, req.Method) {
		return nil, failf(ErrHTTPRequest, "method %q is not one of %s", truncate(req.Method), strings.Join(allowedMethods, ", "))
	}
	if len(req.URL) > MaxHTTPURLLen {
		return nil, failf(ErrHTTPRequest, "URL of %d bytes, at most %d", len(req.URL), MaxHTTPURLLen)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, failf(ErrHTTPRequest, "malformed URL %q: %v", truncate(req.URL), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, failf(ErrHTTPRequest, "URL %q: scheme must be http or https", truncate(req.URL))
	}
	if u.User != nil || u.Opaque != "" || u.Hostname() == "" {
		return nil, failf(ErrHTTPRequest, "malformed URL %q: want scheme://host[:port]/path", truncate(req.URL))
	}
	if len(policy.HTTPAllowList) == 0 {
		return nil, failf(ErrHTTPRequest, "the committee allows no HTTP requests (empty allow-list)")
	}
	if !policy.AllowsHost(u.Hostname()) {
		return nil, failf(ErrHTTPRequest, "host %q is not on the committee's HTTP allow-list", truncate(u.Hostname()))
	}
	if len(req.Headers) > MaxHTTPHeaders {
		return nil, failf(ErrHTTPRequest, "%d headers, at most %d", len(req.Headers), MaxHTTPHeaders)
	}
	for _, h := range req.Headers {
		if len(h.Name)+len(h.Value) > MaxHTTPHeaderBytes || !validHeaderName(h.Name) || strings.ContainsAny(h.Value, "\r\n\x00") {
			return nil, failf(ErrHTTPRequest, "invalid header %q", truncate(h.Name))
		}
		if strings.EqualFold(h.Name, ValidatorHeader) || strings.EqualFold(h.Name, "Host") {
			return nil, failf(ErrHTTPRequest, "header %q is set by the node", h.Name)
		}
	}
	if len(req.Body) > MaxHTTPRequestBody {
		return nil, failf(ErrHTTPRequest, "request body of %d bytes, at most %d", len(req.Body), MaxHTTPRequestBody)
	}
	return u, nil
}

// MaxHTTPBody is the largest response body an application may receive under policy.
func MaxHTTPBody(policy *protocol.ResourcePolicy, recorded bool) uint64 {
	if recorded {
		return min(policy.MaxHTTPResponseBytes, policy.MaxOracleResponseBytes)
	}
	return policy.MaxHTTPResponseBytes
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// performHTTP checks req and performs it with p, bounding the response by max bytes.
func performHTTP(ctx context.Context, p HTTPPerformer, policy *protocol.ResourcePolicy, req *HTTPRequest, max uint64) (*HTTPResponse, error) {
	if _, err := CheckHTTPRequest(policy, req); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, failf(ErrHTTPRequest, "this node performs no HTTP requests")
	}
	resp, err := p.PerformHTTP(ctx, policy, req)
	if err != nil {
		if errors.Is(err, ErrHTTPRequest) {
			return nil, err
		}
		return nil, failf(ErrHTTPRequest, "%s %s: %v", req.Method, truncate(req.URL), err)
	}
	if uint64(len(resp.Body)) > max {
		return nil, failf(ErrHTTPRequest, "response body of %d bytes is over the limit of %d", len(resp.Body), max)
	}
	return &HTTPResponse{Status: resp.Status, Body: bytes.Clone(nonNil(resp.Body))}, nil
}

// LiveEnv is what live oracles need besides the Resolver: the HTTP performer, the
// validator's clock reading and the block's service-oracle time budget.
type LiveEnv struct {
	// HTTP performs HTTP requests; nil refuses them.
	HTTP HTTPPerformer
	// Now is the validator's clock when it started executing the block (assert_before
	// compares with it).
	Now base.Timestamp
	// ServiceBudget is the block's wall-time budget for service-as-oracle queries,
	// shared by its transactions; nil means a fresh budget per transaction.
	ServiceBudget *ServiceBudget
}

// LiveOraclesWith returns live oracles with the outside-world environment env.
func LiveOraclesWith(r Resolver, env LiveEnv) *Oracles {
	return &Oracles{resolver: r, env: env}
}

// ServiceBudget is what is left to a block's outside-world oracles: the wall time of
// its service-as-oracle queries, the number (MaxHTTPRequestsPerBlock) and the total
// wall time of its HTTP requests. Safe for concurrent use.
type ServiceBudget struct {
	mu       sync.Mutex
	left     time.Duration
	httpLeft int
	// httpTime is the wall time left to the block's HTTP requests together: twice the
	// policy's HTTPRequestTimeoutMs, so a block holds its chain for a bounded time
	// whatever its number of slow requests.
	httpTime time.Duration
}

// NewServiceBudget returns a budget of policy.MaxServiceOracleMs and
// MaxHTTPRequestsPerBlock requests.
func NewServiceBudget(policy *protocol.ResourcePolicy) *ServiceBudget {
	return &ServiceBudget{left: time.Duration(policy.MaxServiceOracleMs) * time.Millisecond, httpLeft: MaxHTTPRequestsPerBlock,
		httpTime: 2 * time.Duration(policy.HTTPRequestTimeoutMs) * time.Millisecond}
}

func (b *ServiceBudget) httpTimeLeft() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.httpTime
}

func (b *ServiceBudget) spendHTTP(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.httpTime = max(b.httpTime-d, 0)
}

// takeHTTP counts one HTTP request, reporting false if none is left.
func (b *ServiceBudget) takeHTTP() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.httpLeft <= 0 {
		return false
	}
	b.httpLeft--
	return true
}

// budget returns the block's budget, creating one (for this Oracles only) if the
// environment has none.
func (o *Oracles) budget(policy *protocol.ResourcePolicy) *ServiceBudget {
	if o.env.ServiceBudget == nil {
		o.env.ServiceBudget = NewServiceBudget(policy)
	}
	return o.env.ServiceBudget
}

func (b *ServiceBudget) remaining() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left
}

func (b *ServiceBudget) spend(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left = max(b.left-d, 0)
}

// HTTPRequest performs an HTTP request for a contract and records (live) or replays an
// OracleHTTP response. The request is checked against policy in both modes; replay
// checks that the recorded response answers the same request (by hash).
func (o *Oracles) HTTPRequest(ctx context.Context, policy *protocol.ResourcePolicy, req *HTTPRequest) (*HTTPResponse, error) {
	if o == nil {
		return nil, failf(ErrHTTPRequest, "no oracles")
	}
	hash := req.Hash()
	if o.replay {
		if _, err := CheckHTTPRequest(policy, req); err != nil {
			return nil, err
		}
		r, err := o.expect(protocol.OracleHTTP, "HTTP "+truncate(req.URL))
		if err != nil {
			return nil, err
		}
		if r.Request != hash {
			return nil, failf(ErrOracleMismatch, "execution requests %s %s but the recorded response answers another request", req.Method, truncate(req.URL))
		}
		o.next++
		return &HTTPResponse{Status: r.Status, Body: bytes.Clone(nonNil(r.Value))}, nil
	}
	if _, err := CheckHTTPRequest(policy, req); err != nil {
		return nil, err
	}
	budget := o.budget(policy)
	if !budget.takeHTTP() {
		return nil, failf(ErrHTTPRequest, "more than %d HTTP requests in one block", MaxHTTPRequestsPerBlock)
	}
	left := budget.httpTimeLeft()
	if left <= 0 {
		return nil, failf(ErrHTTPRequest, "the block's HTTP requests took their time (2 × %d ms)", policy.HTTPRequestTimeoutMs)
	}
	hctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	start := time.Now()
	resp, err := performHTTP(hctx, o.env.HTTP, policy, req, MaxHTTPBody(policy, true))
	if hctx.Err() != nil {
		budget.spendHTTP(left) // ran to the deadline: the block's HTTP time is used up
	} else {
		budget.spendHTTP(time.Since(start))
	}
	if err != nil {
		if hctx.Err() != nil && ctx.Err() == nil {
			return nil, failf(ErrHTTPRequest, "%s %s: the block's HTTP requests took their time (2 × %d ms)", req.Method, truncate(req.URL), policy.HTTPRequestTimeoutMs)
		}
		return nil, err
	}
	o.record(protocol.OracleResponse{Kind: protocol.OracleHTTP, Request: hash, Status: resp.Status, Value: bytes.Clone(resp.Body)})
	return resp, nil
}

// serviceQueryHash is the Request hash of an OracleService response.
func serviceQueryHash(app base.ApplicationID, query []byte) base.Hash {
	w := codec.NewWriter(nil)
	w.Hash(base.Hash(app))
	w.VarBytes(query)
	return crypto.HashValue("ServiceOracleQuery", rawBytes(w.Bytes()))
}

type rawBytes []byte

func (b rawBytes) Encode(w *codec.Writer) { w.Fixed(b) }

// QueryService answers a contract's query of app's service: live, it runs run within
// what is left of the block's MaxServiceOracleMs and records the answer; replay returns
// the recorded answer (checking it answers the same query) without running anything.
func (o *Oracles) QueryService(ctx context.Context, policy *protocol.ResourcePolicy, app base.ApplicationID, query []byte, run func(context.Context) ([]byte, error)) ([]byte, error) {
	if o == nil {
		return nil, failf(ErrServiceOracle, "no oracles")
	}
	hash := serviceQueryHash(app, query)
	if o.replay {
		r, err := o.expect(protocol.OracleService, "service of application "+app.String())
		if err != nil {
			return nil, err
		}
		if r.Request != hash {
			return nil, failf(ErrOracleMismatch, "execution queries the service of %s but the recorded response answers another query", app)
		}
		o.next++
		return bytes.Clone(nonNil(r.Value)), nil
	}
	budget := o.budget(policy)
	left := budget.remaining()
	if left <= 0 {
		return nil, failf(ErrServiceOracle, "the block's service-as-oracle time (%d ms) is used up", policy.MaxServiceOracleMs)
	}
	qctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	start := time.Now()
	out, err := run(qctx)
	if qctx.Err() != nil {
		budget.spend(left) // ran to the deadline: the budget is used up
	} else {
		budget.spend(time.Since(start))
	}
	if err != nil {
		if qctx.Err() != nil && ctx.Err() == nil {
			return nil, failf(ErrServiceOracle, "query of the service of %s ran past the block's service-as-oracle time (%d ms)", app, policy.MaxServiceOracleMs)
		}
		return nil, fmt.Errorf("%w: query of the service of %s: %w", ErrServiceOracle, app, err)
	}
	if uint64(len(out)) > policy.MaxOracleResponseBytes {
		return nil, failf(ErrServiceOracle, "answer of the service of %s is %d bytes, over the limit of %d", app, len(out), policy.MaxOracleResponseBytes)
	}
	out = bytes.Clone(nonNil(out))
	o.record(protocol.OracleResponse{Kind: protocol.OracleService, Request: hash, Value: bytes.Clone(out)})
	return out, nil
}

// AssertBefore fails, in live mode, if the validator's clock (LiveEnv.Now) is not
// before deadline, and records an OracleAssert response; replay consumes the record.
func (o *Oracles) AssertBefore(deadline base.Timestamp) error {
	if o == nil {
		return failf(ErrAssertBefore, "no oracles")
	}
	if o.replay {
		if _, err := o.expect(protocol.OracleAssert, "assert_before"); err != nil {
			return err
		}
		o.next++
		return nil
	}
	if o.env.Now >= deadline {
		return failf(ErrAssertBefore, "validator time %s is not before %s", o.env.Now, deadline)
	}
	o.record(protocol.OracleResponse{Kind: protocol.OracleAssert})
	return nil
}

// QueryHTTP performs an HTTP request for a service (not replicated, not recorded), with
// the same checks and limits as contracts' requests.
func QueryHTTP(ctx context.Context, p HTTPPerformer, policy *protocol.ResourcePolicy, req *HTTPRequest) (*HTTPResponse, error) {
	return performHTTP(ctx, p, policy, req, MaxHTTPBody(policy, false))
}
