package metrics

import "github.com/prometheus/client_golang/prometheus"

// Reasons a validator refuses a block proposal (the "reason" label of
// mica_proposal_refusals_total): the ones a client recovers from by waiting or pushing
// what the validator lacks, apart from the rest.
const (
	RefusalMissingBundle = "missing_bundle" // receives a bundle not delivered here yet
	RefusalWrongHeight   = "wrong_height"   // not at the chain's next height here
	RefusalMissingBlobs  = "missing_blobs"  // publishes or reads blobs not held here
	RefusalOther         = "other"
)

// Outcomes of a proposal's wait for a bundle whose delivery was under way (the "outcome"
// label of mica_bundle_waits_total).
const (
	WaitRetried  = "retried"   // the delivery went on: the proposal was executed again
	WaitTimedOut = "timed_out" // the wait's bound passed first
)

var (
	refusalReasons = []string{RefusalMissingBundle, RefusalWrongHeight, RefusalMissingBlobs, RefusalOther}
	waitOutcomes   = []string{WaitRetried, WaitTimedOut}
)

// refusals counts refused proposals by reason and the waits for bundles under way.
type refusals struct {
	byReason map[string]prometheus.Counter
	waits    map[string]prometheus.Counter
}

func newRefusals(reg prometheus.Registerer) *refusals {
	reasons := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "proposal_refusals_total",
		Help: "Block proposals refused, by reason (missing_bundle, wrong_height, missing_blobs, other)."}, []string{"reason"})
	waits := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "bundle_waits_total",
		Help: "Waits of proposals for a bundle whose delivery was under way on this validator, by outcome (retried, timed_out)."}, []string{"outcome"})
	reg.MustRegister(reasons, waits)
	r := &refusals{byReason: map[string]prometheus.Counter{}, waits: map[string]prometheus.Counter{}}
	for _, x := range refusalReasons {
		r.byReason[x] = reasons.WithLabelValues(x)
	}
	for _, x := range waitOutcomes {
		r.waits[x] = waits.WithLabelValues(x)
	}
	return r
}

// ProposalRefused counts a refused proposal by reason (RefusalMissingBundle...); an
// unknown reason counts as RefusalOther.
func (m *Validator) ProposalRefused(reason string) {
	if m == nil {
		return
	}
	c, ok := m.refusals.byReason[reason]
	if !ok {
		c = m.refusals.byReason[RefusalOther]
	}
	c.Inc()
}

// BundleWaited counts a proposal's wait for a bundle under way, by outcome
// (WaitRetried, WaitTimedOut); an unknown outcome counts as WaitTimedOut.
func (m *Validator) BundleWaited(outcome string) {
	if m == nil {
		return
	}
	c, ok := m.refusals.waits[outcome]
	if !ok {
		c = m.refusals.waits[WaitTimedOut]
	}
	c.Inc()
}
