package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// Fault is how one validator misbehaves.
type Fault uint8

// The fault types; see the package documentation.
const (
	None Fault = iota
	Offline
	CrashRestart
	Slow
	Dropping
	Byzantine
	// The attacks on the trust boundaries (attacks.go). Each is a Byzantine validator:
	// it is not honest, and at most f of them run at once.
	ForgedBlobs        // uploads forged chain descriptions and committees, then uses them
	EquivocatingVotes  // votes for every block it is asked about, and for made-up ones
	GarbageAnswers     // answers clients with malformed or mismatched data
	BundlesFromNowhere // reports inbox bundles that no block sent
	numFaults
)

var faultNames = [numFaults]string{"none", "offline", "crash-restart", "slow", "dropping", "byzantine",
	"forged-blobs", "equivocating-votes", "garbage-answers", "bundles-from-nowhere"}

func (f Fault) String() string {
	if f < numFaults {
		return faultNames[f]
	}
	return fmt.Sprintf("fault(%d)", uint8(f))
}

// FaultTypes returns every fault type except None, in a fixed order.
func FaultTypes() []Fault {
	return []Fault{Offline, CrashRestart, Slow, Dropping, Byzantine}
}

// AttackFaultTypes returns the fault types that attack the trust boundaries (see
// attacks.go), in a fixed order.
func AttackFaultTypes() []Fault {
	return []Fault{ForgedBlobs, EquivocatingVotes, GarbageAnswers, BundlesFromNowhere}
}

// IsByzantine reports whether the fault lies or attacks (as opposed to crashing, being
// slow or unreachable): at most f validators may have such a fault.
func (f Fault) IsByzantine() bool { return f >= Byzantine && f < numFaults }

// Errors a faulty node returns to clients. All are of class base.ErrRetryable.
var (
	ErrOffline = fmt.Errorf("%w: sim: validator is offline", base.ErrRetryable)
	ErrDown    = fmt.Errorf("%w: sim: validator is down (crashed)", base.ErrRetryable)
	ErrDropped = fmt.Errorf("%w: sim: request or response dropped", base.ErrRetryable)
	ErrLate    = fmt.Errorf("%w: sim: the answer arrived after the deadline", base.ErrRetryable)
)

// errStoreCrashed is what a crashed process's store returns to the worker still running
// the request that crashed it.
var errStoreCrashed = fmt.Errorf("%w: sim: the process crashed", base.ErrRetryable)

// faultParams are the probabilities that drive a node's fault, drawn once per run.
type faultParams struct {
	dropRequest, dropResponse float64 // Dropping
	late, deferred            float64 // Slow: answer late; of those, executed next step
	crash, restart, midCrash  float64 // CrashRestart: per step, per step, per request
	lie                       float64 // Byzantine and the attacks: per answer
	attack                    float64 // the attacks: per step
}

// NodeStats counts what happened to one validator during a run.
type NodeStats struct {
	Requests          int // calls from clients
	Refused           int // refused because the node was offline or down
	Dropped           int // requests or responses dropped
	Late              int // answers that arrived too late
	Deferred          int // requests executed at the next step
	Crashes           int // crashes between requests
	MidRequestCrashes int // crashes at a store write inside a request or delivery
	Restarts          int
	Lies              int // corrupted answers (Byzantine)
	Equivocations     int // votes signed for made-up values (Byzantine)
	Attacks           int // attack episodes (ForgedBlobs, BundlesFromNowhere)
	AttackAccepted    int // forged objects or certificates an honest validator accepted
}

// Node is one validator: a worker over its own store, reached through its fault. It
// implements client.ValidatorNode. It is not safe for concurrent use: the simulator is
// single-threaded.
type Node struct {
	net   *Network
	Index int
	Key   *crypto.PrivateKey
	Fault Fault
	Stats NodeStats

	disk     *crashStore
	worker   *worker.Worker // nil while crashed
	healed   bool           // the fault no longer applies (after Heal), except Byzantine lies
	rng      *rand.Rand
	params   faultParams
	deferred []func(w *worker.Worker)
	logs     *[]string // error-level log records of this node's workers

	// intercept, if set, sees every client request first (method name and argument);
	// a non-nil error refuses the request unexecuted. Tests use it to script faults.
	intercept func(method string, arg any) error
	// lieKinds, if set, restricts a Byzantine node's lies to these kinds (see lieInfo).
	lieKinds []int
	// atk is the state of an attacking node (attacks.go), created on first use.
	atk *attacker
	// caller is the index of the owner whose client made the current request (-1 for
	// the simulator itself).
	caller int
}

var (
	_ client.ValidatorNode      = (*Node)(nil)
	_ client.CertificateQuerier = (*Node)(nil)
)

func newNode(net *Network, index int, key *crypto.PrivateKey, fault Fault, rng *rand.Rand) *Node {
	n := &Node{net: net, Index: index, Key: key, Fault: fault, rng: rng, logs: new([]string), caller: -1}
	n.disk = &crashStore{inner: memkv.New(), armed: -1, rng: rng}
	p := &n.params
	switch fault {
	case Dropping:
		p.dropRequest = 0.1 + 0.3*rng.Float64()
		p.dropResponse = 0.1 + 0.3*rng.Float64()
	case Slow:
		p.late = 0.4 + 0.6*rng.Float64()
		p.deferred = 0.3
	case CrashRestart:
		p.crash = 0.25
		p.restart = 0.4
		p.midCrash = 0.04
	case Byzantine:
		p.lie = 0.3 + 0.5*rng.Float64()
	case ForgedBlobs, EquivocatingVotes, GarbageAnswers, BundlesFromNowhere:
		p.lie = 0.3 + 0.5*rng.Float64()
		p.attack = 0.5
	}
	return n
}

// Storage returns the node's store (it survives crashes).
func (n *Node) Storage() *storage.Storage { return storage.New(n.disk.inner) }

// Worker returns the node's current worker, or nil while it is down.
func (n *Node) Worker() *worker.Worker { return n.worker }

// Up reports whether the node is running (it may still be offline).
func (n *Node) Up() bool { return n.worker != nil }

// Honest reports whether the node follows the protocol for its own key (every fault but
// Byzantine; a crashed, slow or unreachable validator is still honest).
func (n *Node) Honest() bool { return !n.Fault.IsByzantine() }

func (n *Node) faulty() bool { return n.Fault != None && !n.healed }

func (n *Node) chance(p float64) bool { return p > 0 && n.rng.Float64() < p }

func (n *Node) start() {
	n.worker = worker.New(worker.Config{
		Storage: storage.New(n.disk),
		Signer:  n.Key,
		Clock:   n.net.Clock,
		Logger:  slog.New(&logRecorder{out: n.logs}),
	})
	// A restarted validator resumes the deliveries recorded in its store.
	if err := n.worker.Recover(context.Background()); err != nil {
		*n.logs = append(*n.logs, "recover deliveries: "+err.Error())
	}
}

// crash drops the worker (and with it every in-memory state: loaded chains, pending
// deliveries, caches). The store keeps what was written.
func (n *Node) crash() {
	if n.worker == nil {
		return
	}
	n.worker = nil
	n.deferred = nil
}

// restart starts a new worker over the same store.
func (n *Node) restart() {
	if n.worker != nil {
		return
	}
	n.disk.crashed = false
	n.disk.armed = -1
	n.Stats.Restarts++
	n.start()
}

// tick applies the node's per-step fault: crash or restart, and deferred requests.
func (n *Node) tick() {
	if !n.faulty() {
		return
	}
	switch n.Fault {
	case CrashRestart:
		if n.worker != nil && n.chance(n.params.crash) {
			n.Stats.Crashes++
			n.crash()
		} else if n.worker == nil && n.chance(n.params.restart) {
			n.restart()
		}
	case Slow:
		n.runDeferred()
	}
}

func (n *Node) runDeferred() {
	d := n.deferred
	n.deferred = nil
	for _, fn := range d {
		if n.worker == nil {
			return
		}
		fn(n.worker)
		n.net.settle()
	}
}

// heal ends the fault: an offline node comes back, a crashed one restarts, a slow one
// runs what it had deferred. Byzantine nodes keep lying.
func (n *Node) heal() {
	n.runDeferred()
	n.healed = true
	n.restart()
}

// call runs one client request through the node's fault.
func call[T any](n *Node, method string, arg any, fn func(w *worker.Worker) (T, error)) (T, error) {
	var zero T
	n.Stats.Requests++
	if n.worker == nil {
		n.Stats.Refused++
		return zero, ErrDown
	}
	if n.intercept != nil {
		if err := n.intercept(method, arg); err != nil {
			return zero, err
		}
	}
	late := false
	if n.faulty() {
		switch n.Fault {
		case Offline:
			n.Stats.Refused++
			return zero, ErrOffline
		case Dropping:
			if n.chance(n.params.dropRequest) {
				n.Stats.Dropped++
				return zero, ErrDropped
			}
		case CrashRestart:
			if n.chance(n.params.midCrash) {
				n.disk.armed = n.rng.IntN(3)
			}
		case Slow:
			if n.chance(n.params.late) {
				n.Stats.Late++
				if n.chance(n.params.deferred) {
					n.Stats.Deferred++
					n.deferred = append(n.deferred, func(w *worker.Worker) {
						if _, err := fn(w); err != nil {
							n.observeErr(err)
						}
					})
					return zero, ErrLate
				}
				late = true
			}
		}
	}
	v, err := fn(n.worker)
	n.observeErr(err)
	crashed := n.disk.crashed
	if crashed {
		n.Stats.MidRequestCrashes++
		n.crash()
	}
	n.net.settle()
	n.disk.armed = -1
	switch {
	case crashed:
		return zero, ErrDown // the process died before it could answer
	case late:
		return zero, ErrLate
	case n.faulty() && n.Fault == Dropping && n.chance(n.params.dropResponse):
		n.Stats.Dropped++
		return zero, ErrDropped
	}
	return v, err
}

// observeErr records errors no honest validator may return: corruption and recovered
// panics.
func (n *Node) observeErr(err error) {
	if err == nil || n.disk.crashed {
		return
	}
	if errors.Is(err, base.ErrCorrupt) || strings.Contains(err.Error(), "internal error while handling") {
		n.net.violation("invariant 5 (validator errors): validator %d (%s) returned %v", n.Index, n.Fault, err)
	}
}

// HandleBlockProposal implements client.ValidatorNode.
func (n *Node) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	info, err := call(n, "HandleBlockProposal", p, func(w *worker.Worker) (*protocol.ChainInfo, error) {
		info, err := w.HandleBlockProposal(ctx, p)
		n.net.observeInfo(n, info)
		return info, err
	})
	if err == nil && n.lies() {
		info = n.lieInfo(info, p)
	}
	switch n.Fault {
	case EquivocatingVotes:
		info, err = n.equivocateProposal(ctx, p, info, err)
	case GarbageAnswers:
		if err == nil {
			info = n.garbageInfo(ctx, info)
		}
	}
	return info, err
}

// HandleCertificate implements client.ValidatorNode.
func (n *Node) HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error) {
	return n.HandleCertificateQuery(ctx, c, nil)
}

// HandleCertificateQuery implements client.CertificateQuerier: HandleCertificate whose
// answer also answers q (nil: none). A faulty node's faults apply as to both requests
// (it is intercepted as "HandleCertificate").
func (n *Node) HandleCertificateQuery(ctx context.Context, c *protocol.Certificate, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	info, err := call(n, "HandleCertificate", c, func(w *worker.Worker) (*protocol.ChainInfo, error) {
		info, err := w.HandleCertificateQuery(ctx, c, nil, q)
		n.net.observeInfo(n, info)
		return info, err
	})
	if err == nil && c.Kind == protocol.KindConfirmed {
		n.net.ack(n, c)
	}
	if err == nil && n.lies() {
		info = n.lieInfo(info, nil)
	}
	switch n.Fault {
	case EquivocatingVotes:
		info, err = n.equivocateValidated(ctx, c, info, err)
	case GarbageAnswers:
		if err == nil {
			info = n.garbageInfo(ctx, info)
		}
	case BundlesFromNowhere:
		if err == nil && q != nil {
			info = n.nowhereInfo(info, q.RequestPendingBundles)
		}
	}
	return info, err
}

// HandleChainInfoQuery implements client.ValidatorNode.
func (n *Node) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	if n.Fault == Byzantine && q.RequestLeaderTimeout != nil && n.worker != nil && len(n.lieKinds) == 0 && n.chance(n.params.lie) {
		// It signs timeouts whenever asked, due or not (a correct value, at the wrong
		// time).
		return n.eagerTimeout(ctx, q)
	}
	info, err := call(n, "HandleChainInfoQuery", q, func(w *worker.Worker) (*protocol.ChainInfo, error) {
		info, err := w.HandleChainInfoQuery(ctx, q)
		n.net.observeInfo(n, info)
		return info, err
	})
	if err == nil && n.lies() {
		info = n.lieInfo(info, nil)
	}
	if err == nil {
		switch n.Fault {
		case GarbageAnswers:
			info = n.garbageInfo(ctx, info)
		case BundlesFromNowhere:
			info = n.nowhereInfo(info, q.RequestPendingBundles)
		}
	}
	return info, err
}

// HandleBlob implements client.ValidatorNode.
func (n *Node) HandleBlob(ctx context.Context, b protocol.Blob) error {
	_, err := call(n, "HandleBlob", b, func(w *worker.Worker) (struct{}, error) {
		return struct{}{}, w.HandleBlob(ctx, b)
	})
	return err
}

// ReadBlob implements client.ValidatorNode.
func (n *Node) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	b, err := call(n, "ReadBlob", id, func(w *worker.Worker) (protocol.Blob, error) {
		return w.ReadBlob(ctx, id)
	})
	if err == nil && n.lies() {
		b = n.lieBlob(b)
	}
	if err == nil && n.Fault == GarbageAnswers {
		b = n.garbageBlob(ctx, id, b)
	}
	return b, err
}

// Certificates implements client.ValidatorNode.
func (n *Node) Certificates(ctx context.Context, chain base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	cs, err := call(n, "Certificates", chain, func(w *worker.Worker) ([]*protocol.Certificate, error) {
		return w.Certificates(ctx, chain, from, to)
	})
	if err == nil && n.lies() {
		cs = n.lieCertificates(cs)
	}
	if err == nil && n.Fault == GarbageAnswers {
		cs = n.garbageCertificates(ctx, chain, from, to, cs)
	}
	return cs, err
}

// crashStore is a node's disk: a memkv store that survives the node's crashes and that
// can be armed to crash the process at its k-th next write. A write that crashes is
// applied whole or not at all (kv batches are atomic), chosen at random; every later
// operation fails until the node restarts.
type crashStore struct {
	inner   *memkv.Store
	rng     *rand.Rand
	armed   int // writes left before the crash; -1 when not armed
	crashed bool
}

var _ kv.Store = (*crashStore)(nil)

func (s *crashStore) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	if s.crashed {
		return nil, false, errStoreCrashed
	}
	return s.inner.Get(ctx, key)
}

func (s *crashStore) MultiGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	if s.crashed {
		return nil, errStoreCrashed
	}
	return s.inner.MultiGet(ctx, keys)
}

func (s *crashStore) Scan(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error {
	if s.crashed {
		return errStoreCrashed
	}
	return s.inner.Scan(ctx, prefix, fn)
}

func (s *crashStore) Write(ctx context.Context, b *kv.Batch) error {
	if s.crashed {
		return errStoreCrashed
	}
	if s.armed == 0 {
		s.armed = -1
		s.crashed = true
		if s.rng.IntN(2) == 0 {
			if err := s.inner.Write(ctx, b); err != nil {
				return err
			}
		}
		return errStoreCrashed
	}
	if s.armed > 0 {
		s.armed--
	}
	return s.inner.Write(ctx, b)
}

// Close does nothing: the disk outlives the process.
func (s *crashStore) Close() error { return nil }

// logRecorder is a slog handler that keeps error-level records: a worker logs at error
// level only when something that must never happen did (a recovered panic, a conflicting
// confirmed certificate, an outcome mismatch).
type logRecorder struct {
	out   *[]string
	attrs []slog.Attr
}

func (h *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	for _, a := range h.attrs {
		b.WriteString(" " + a.String())
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "stack" {
			b.WriteString(" " + a.String())
		}
		return true
	})
	*h.out = append(*h.out, b.String())
	return nil
}

func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecorder{out: h.out, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *logRecorder) WithGroup(string) slog.Handler { return h }
