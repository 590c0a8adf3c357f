// Package metrics is the operators' view of a process: a Prometheus registry per
// process, the counters and histograms the validator core updates on its hot path, and
// one HTTP handler serving /metrics, /healthz, /readyz and, behind a flag,
// /debug/pprof/.
//
// It sits low in the layering (stdlib and client_golang only) so that the worker and
// the RPC layer can count; the consensus state machine never imports it (it stays pure:
// the worker counts what consensus decided). The composition roots (internal/validator,
// and the node service later) create the registry, hand the typed metric sets to the
// components and serve the handler.
//
// Cost: every counter of a set is resolved to its label values when the set is
// created, so an update on the hot path is one atomic add and allocates nothing. Every
// method of Validator and RPC is safe on a nil receiver (no metrics wired: nothing
// happens), and safe for concurrent use.
//
// Label values are bounded: request kinds, error classes and certificate kinds come
// from fixed lists (anything else counts as "other"), and RPC method names are capped
// at MaxRPCMethods distinct values, so no peer can grow the registry.
package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every Mica metric.
const Namespace = "mica"

// NewRegistry returns a registry with the Go runtime and process collectors, for one
// process.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Request kinds a validator handles (the "request" label of mica_request_errors_total).
const (
	RequestProposal    = "proposal"
	RequestCertificate = "certificate"
	RequestChainInfo   = "chain_info"
	RequestCrossChain  = "cross_chain"
	RequestDelivery    = "delivery"
)

// Error classes (the "class" label of mica_request_errors_total).
const (
	ClassInvalid   = "invalid"
	ClassNotFound  = "not_found"
	ClassCorrupt   = "corrupt"
	ClassRetryable = "retryable"
	ClassCanceled  = "canceled"
	ClassOther     = "other"
)

// Certificate and vote kinds (the "kind" label).
const (
	KindValidated = "validated"
	KindConfirmed = "confirmed"
	KindTimeout   = "timeout"
)

var (
	requests = []string{RequestProposal, RequestCertificate, RequestChainInfo, RequestCrossChain, RequestDelivery}
	classes  = []string{ClassInvalid, ClassNotFound, ClassCorrupt, ClassRetryable, ClassCanceled, ClassOther}
	kinds    = []string{KindValidated, KindConfirmed, KindTimeout}
)

// Validator holds the counters of a validator's workers (one set per process, shared by
// its shards). A nil *Validator counts nothing.
type Validator struct {
	blocksExecuted   prometheus.Counter
	blocksCommitted  prometheus.Counter
	proposals        prometheus.Counter
	transactions     prometheus.Counter
	crossChain       prometheus.Counter
	votes            map[string]prometheus.Counter
	certificates     map[string]prometheus.Counter
	errors           map[[2]string]prometheus.Counter
	logLinesDropped  prometheus.Counter
	unknownVote      prometheus.Counter
	unknownCertKind  prometheus.Counter
	unknownErrorPair prometheus.Counter
	refusals         *refusals
}

// NewValidator registers the validator counters on reg.
func NewValidator(reg prometheus.Registerer) *Validator {
	f := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	votes := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "votes_signed_total",
		Help: "Votes this validator signed, by kind (validated, confirmed, timeout)."}, []string{"kind"})
	certs := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "certificates_handled_total",
		Help: "Certificates handled successfully, by kind (validated, confirmed, timeout)."}, []string{"kind"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "request_errors_total",
		Help: "Requests that failed, by request kind and error class."}, []string{"request", "class"})
	reg.MustRegister(votes, certs, errs)
	m := &Validator{
		blocksExecuted:  f("blocks_executed_total", "Blocks executed to vote on a proposal (validation)."),
		blocksCommitted: f("blocks_committed_total", "Confirmed blocks executed and committed to the store."),
		proposals:       f("proposals_handled_total", "Block proposals answered without error (voted, or already handled)."),
		transactions:    f("transactions_committed_total", "Transactions (operations and received bundles) in committed blocks."),
		crossChain:      f("cross_chain_requests_handled_total", "Cross-chain requests (message bundles from other chains, confirmations) handled."),
		logLinesDropped: f("log_lines_suppressed_total", "Failure log lines not written because of the per-process log rate limit."),
		votes:           map[string]prometheus.Counter{},
		certificates:    map[string]prometheus.Counter{},
		errors:          map[[2]string]prometheus.Counter{},
		refusals:        newRefusals(reg),
	}
	for _, k := range kinds {
		m.votes[k] = votes.WithLabelValues(k)
		m.certificates[k] = certs.WithLabelValues(k)
	}
	m.unknownVote = votes.WithLabelValues(ClassOther)
	m.unknownCertKind = certs.WithLabelValues(ClassOther)
	for _, r := range requests {
		for _, c := range classes {
			m.errors[[2]string{r, c}] = errs.WithLabelValues(r, c)
		}
	}
	m.unknownErrorPair = errs.WithLabelValues(ClassOther, ClassOther)
	return m
}

// BlockExecuted counts a block executed for a vote.
func (m *Validator) BlockExecuted() {
	if m != nil {
		m.blocksExecuted.Inc()
	}
}

// BlockCommitted counts a confirmed block committed with its transactions.
func (m *Validator) BlockCommitted(transactions int) {
	if m != nil {
		m.blocksCommitted.Inc()
		m.transactions.Add(float64(transactions))
	}
}

// ProposalHandled counts a proposal answered without error.
func (m *Validator) ProposalHandled() {
	if m != nil {
		m.proposals.Inc()
	}
}

// CrossChainHandled counts a cross-chain request handled.
func (m *Validator) CrossChainHandled() {
	if m != nil {
		m.crossChain.Inc()
	}
}

// VoteSigned counts a vote of kind (KindValidated, KindConfirmed, KindTimeout).
func (m *Validator) VoteSigned(kind string) {
	if m == nil {
		return
	}
	if c, ok := m.votes[kind]; ok {
		c.Inc()
		return
	}
	m.unknownVote.Inc()
}

// CertificateHandled counts a certificate of kind handled without error.
func (m *Validator) CertificateHandled(kind string) {
	if m == nil {
		return
	}
	if c, ok := m.certificates[kind]; ok {
		c.Inc()
		return
	}
	m.unknownCertKind.Inc()
}

// Failed counts a failed request of kind request with an error of class.
func (m *Validator) Failed(request, class string) {
	if m == nil {
		return
	}
	if c, ok := m.errors[[2]string{request, class}]; ok {
		c.Inc()
		return
	}
	m.unknownErrorPair.Inc()
}

// LogLinesSuppressed counts failure log lines dropped by the rate limit.
func (m *Validator) LogLinesSuppressed(n int) {
	if m != nil && n > 0 {
		m.logLinesDropped.Add(float64(n))
	}
}

// MaxRPCMethods bounds the distinct method labels of the RPC histogram; calls to
// further methods are counted under "other".
const MaxRPCMethods = 64

// RPCBuckets are the latency buckets of mica_rpc_duration_seconds (100 µs to 30 s).
var RPCBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// RPC holds the latency histogram of a gRPC server and the gauge of the answers it
// holds for its peers. A nil *RPC records nothing.
type RPC struct {
	vec *prometheus.HistogramVec
	mu  sync.Mutex
	// methods caches the per-(method, code) observers. Invariant: at most
	// MaxRPCMethods distinct methods besides "other".
	methods map[string]map[string]prometheus.Observer
	backlog atomic.Pointer[func() int64] // SetAnswerBacklog's source (nil: 0)
}

// NewRPC registers mica_rpc_duration_seconds and mica_rpc_answer_backlog_bytes on reg;
// server names the listener ("public" for a proxy's endpoint, "internal" for a shard's).
func NewRPC(reg prometheus.Registerer, server string) *RPC {
	labels := prometheus.Labels{"server": server}
	vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "rpc_duration_seconds",
		Help:        "Time to answer a gRPC call (streams: their whole life), by method and status code.",
		ConstLabels: labels, Buckets: RPCBuckets}, []string{"method", "code"})
	m := &RPC{vec: vec, methods: map[string]map[string]prometheus.Observer{}}
	backlog := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "rpc_answer_backlog_bytes",
		Help:        "Bytes of large answers reserved for calls being handled or held for peers until written to them.",
		ConstLabels: labels}, m.answerBacklog)
	reg.MustRegister(vec, backlog)
	return m
}

// SetAnswerBacklog makes fn (safe for concurrent use, cheap) the source of the answer
// backlog gauge.
func (m *RPC) SetAnswerBacklog(fn func() int64) {
	if m != nil {
		m.backlog.Store(&fn)
	}
}

func (m *RPC) answerBacklog() float64 {
	if fn := m.backlog.Load(); fn != nil {
		return float64((*fn)())
	}
	return 0
}

// Observe records one call of method that ended with status code after d.
func (m *RPC) Observe(method, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.observer(method, code).Observe(d.Seconds())
}

func (m *RPC) observer(method, code string) prometheus.Observer {
	m.mu.Lock()
	defer m.mu.Unlock()
	byCode, ok := m.methods[method]
	if !ok {
		if len(m.methods) >= MaxRPCMethods {
			method = "other"
			if byCode, ok = m.methods[method]; !ok {
				byCode = map[string]prometheus.Observer{}
				m.methods[method] = byCode
			}
		} else {
			byCode = map[string]prometheus.Observer{}
			m.methods[method] = byCode
		}
	}
	o, ok := byCode[code]
	if !ok {
		// Codes are gRPC status codes: 17 values at most.
		o = m.vec.WithLabelValues(method, code)
		byCode[code] = o
	}
	return o
}

// GaugeFunc registers a gauge whose value fn computes at each scrape (sizes, backlogs).
// fn must be safe for concurrent use and cheap.
func GaugeFunc(reg prometheus.Registerer, name, help string, fn func() float64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, fn))
}
