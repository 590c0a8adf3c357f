package client

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
)

// Proposals to a quorum (ADR 0006). A new proposal of a chain goes first to a quorum
// subset of the committee: the members ranked first for the chain by rendezvous hashing
// (chain id × validator key, weighted), taken in that order until their weight reaches
// the quorum. The others get the block with its certificate. If a member of the subset
// fails (an error, a refusal, a vote that does not verify) or has not answered after the
// adaptive wait (quorumHealth.wait), the proposal goes to the others at once, and the
// fan-out goes on as a full one. Validators that failed recently are left out of
// subsets until their back-off ends (quorumHealth), then asked besides a full subset
// until a call succeeds (probation), so that a validator still down costs no block a
// fallback. Only the choice of whom to ask first changes: votes, certificates and their
// checks are those of a full fan-out.

// The adaptive wait for a subset's answers before the proposal goes to everyone:
// waitFactor times the smoothed time a subset took to answer, within [min, maxWait]
// (min is Config.QuorumWait, DefaultQuorumWait by default; maxWait at least min);
// initialWait (at least min) until a subset has answered.
const (
	DefaultQuorumWait = 15 * time.Millisecond
	maxWait           = 500 * time.Millisecond
	initialWait       = 50 * time.Millisecond
	waitFactor        = 4
)

// A validator that failed a proposal call is left out of subsets for downFirst, doubled
// at each further failure up to downMax; one that was too slow (the wait passed) for
// slowFor. A success ends its back-off.
const (
	downFirst = time.Second
	downMax   = 30 * time.Second
	slowFor   = 500 * time.Millisecond
)

// quorumHealth remembers the validators that failed proposal calls recently, and how
// long subsets take to answer. It is safe for concurrent use. Its size is bounded by
// the client's pool (one entry per validator key).
type quorumHealth struct {
	minWait time.Duration

	mu   sync.Mutex
	down map[crypto.PublicKey]downState
	// smoothed is the exponentially smoothed time a subset took to answer, if seen.
	smoothed time.Duration
	seen     bool
}

// downState is a validator's back-off.
type downState struct {
	until    base.Timestamp
	failures int
}

func newQuorumHealth(minWait time.Duration) *quorumHealth {
	return &quorumHealth{minWait: minWait, down: map[crypto.PublicKey]downState{}}
}

// Health of a validator for ranking (quorumFirst).
const (
	healthy   = iota
	probation // its back-off ended, and it has not answered a call since
	backingOff
)

// health returns k's health at now: backingOff until its back-off ends, then on
// probation until a call succeeds (succeeded), healthy otherwise.
func (h *quorumHealth) health(k crypto.PublicKey, now base.Timestamp) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.down[k]
	switch {
	case !ok:
		return healthy
	case now < d.until:
		return backingOff
	default:
		return probation
	}
}

// failed records that k failed a call at now: it backs off for downFirst, doubled for
// each failure since its last success, up to downMax.
func (h *quorumHealth) failed(k crypto.PublicKey, now base.Timestamp) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.down[k]
	wait := downFirst << min(d.failures, 5)
	d.failures++
	d.until = now.Add(base.DeltaFromDuration(min(wait, downMax)))
	h.down[k] = d
}

// slow records that k had not answered when the wait passed: it is left out for slowFor
// (unless it already backs off longer).
func (h *quorumHealth) slow(k crypto.PublicKey, now base.Timestamp) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.down[k]
	d.until = max(d.until, now.Add(base.DeltaFromDuration(slowFor)))
	h.down[k] = d
}

// succeeded ends k's back-off.
func (h *quorumHealth) succeeded(k crypto.PublicKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.down, k)
}

// answered records that a subset answered in d.
func (h *quorumHealth) answered(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.seen {
		h.smoothed, h.seen = d, true
		return
	}
	h.smoothed += (d - h.smoothed) / 8
}

// wait returns how long to wait for a subset before asking everyone.
func (h *quorumHealth) wait() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.seen {
		return max(initialWait, h.minWait)
	}
	return min(max(waitFactor*h.smoothed, h.minWait), max(maxWait, h.minWait))
}

// quorumFirst returns m's validators reordered so that the first n of them are the
// quorum subset for chain id (see the top of this file), and n. Validators backing off
// at now are ranked after the others, so they are in the subset only if the others do
// not reach the quorum; those on probation come after a subset of healthy ones, within
// the first n (asked besides it). n is len(m.validators) if the whole pool does not reach the
// quorum (then there is nothing to gain). The order is a pure function of id, the
// members, their weights and which of them back off.
func (c *Client) quorumFirst(m members, id base.ChainID, now base.Timestamp) ([]Validator, int) {
	type ranked struct {
		v      Validator
		weight uint64
		health int
		score  float64
	}
	rs := make([]ranked, len(m.validators))
	for i, v := range m.validators {
		w := m.committee.Weight(v.PublicKey)
		rs[i] = ranked{v: v, weight: w, health: c.health.health(v.PublicKey, now), score: rendezvous(id, v.PublicKey, w)}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		if a.health != b.health {
			return cmp.Compare(a.health, b.health)
		}
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return a.v.PublicKey.Compare(b.v.PublicKey)
	})
	quorum := m.committee.QuorumThreshold()
	var weight uint64
	n := 0
	for n < len(rs) && weight < quorum {
		weight += rs[n].weight
		n++
	}
	out := make([]Validator, len(rs))
	if weight < quorum {
		for i := range rs {
			out[i] = rs[i].v
		}
		return out, len(rs)
	}
	// Leave out members the quorum does not need (with unequal weights, a light member
	// taken early can be redundant once a heavy one is in), latest first.
	keep := make([]bool, n)
	for i := range keep {
		keep[i] = true
	}
	for i := n - 1; i >= 0; i-- {
		if weight-rs[i].weight >= quorum {
			weight -= rs[i].weight
			keep[i] = false
		}
	}
	k := 0
	for i := range n {
		if keep[i] {
			out[k] = rs[i].v
			k++
		}
	}
	// Validators on probation join a subset of healthy ones in the first group: asked
	// besides a full subset, a recovering validator that fails again costs the block
	// nothing (a subset member that fails sends the proposal to everyone), and one that
	// answers is healthy again (its call finishes after the fan-out returns).
	probe := n > 0 && rs[n-1].health == healthy
	if probe {
		for i := n; i < len(rs); i++ {
			if rs[i].health == probation {
				out[k] = rs[i].v
				k++
			}
		}
	}
	first := k
	for i := range n {
		if !keep[i] {
			out[k] = rs[i].v
			k++
		}
	}
	for i := n; i < len(rs); i++ {
		if probe && rs[i].health == probation {
			continue // in the first group
		}
		out[k] = rs[i].v
		k++
	}
	return out, first
}

// rendezvous is the weighted rendezvous score of validator k with weight w for chain id:
// w / -ln(u), u uniform in (0, 1) from a hash of both. Over many chains a validator
// ranks first with a probability proportional to its weight.
func rendezvous(id base.ChainID, k crypto.PublicKey, w uint64) float64 {
	h := sha256.New()
	h.Write(id[:])
	h.Write(k.Bytes())
	var sum [sha256.Size]byte
	x := binary.BigEndian.Uint64(h.Sum(sum[:0]))
	u := (float64(x>>11) + 0.5) / (1 << 53) // in (0, 1)
	return float64(w) / -math.Log(u)
}

// staged says that a fan-out asks its first validators first (fanoutVetted): the rest
// only if those cannot reach a quorum any more, or have not all answered after wait.
type staged struct {
	first int
	wait  time.Duration
	// late is called with the first validators that had not answered when wait passed.
	late func([]Validator)
	// quick is called with the time the first validators took to reach the quorum, if
	// they did without the rest, or with wait if it passed first.
	quick func(time.Duration)
}

// proposalToQuorum returns the staging of a new proposal of chain id to m: its quorum
// subset first (quorumFirst), and m with its validators in that order. Without a
// subset (the whole pool is needed, or Config.QuorumWait is negative) it returns nil.
func (c *Client) proposalToQuorum(m members, id base.ChainID) (members, *staged) {
	if c.cfg.QuorumWait < 0 {
		return m, nil
	}
	now := c.cfg.Clock.Now()
	order, n := c.quorumFirst(m, id, now)
	if n >= len(order) {
		return m, nil
	}
	return members{committee: m.committee, validators: order}, &staged{
		first: n,
		wait:  c.health.wait(),
		late: func(vs []Validator) {
			now := c.cfg.Clock.Now()
			for _, v := range vs {
				c.health.slow(v.PublicKey, now)
			}
		},
		quick: c.health.answered,
	}
}

// noteProposalCall records how a proposal call to v ended in the validators' health: a
// vote is a success; a failure in transport or a missing or wrong vote (retryable
// errors, deadlines) is a failure; a reasoned answer (a lag the client updated, a
// refusal of the block, a round or height mismatch) and a cancelled call count for
// neither.
func (c *Client) noteProposalCall(v Validator, err error) {
	switch {
	case err == nil:
		c.health.succeeded(v.PublicKey)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, base.ErrRetryable) && !needsUpdate(err):
		c.health.failed(v.PublicKey, c.cfg.Clock.Now())
	}
}

// vetVotes is verifyVotes that records each vote that fails as its validator's failure.
func (c *Client) vetVotes(votes []*protocol.Vote) []error {
	errs := c.verifyVotes(votes)
	for i, err := range errs {
		if err != nil {
			c.health.failed(votes[i].Validator, c.cfg.Clock.Now())
		}
	}
	return errs
}
