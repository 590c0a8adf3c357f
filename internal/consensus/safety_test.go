package consensus

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

var (
	simSeeds = flag.Int("sim.seeds", 2000, "number of schedules TestSafety explores")
	simSeed  = flag.Uint64("sim.seed", 0, "run TestSafety for this one seed only (0: all)")
)

// simEnv holds what every simulated schedule shares: keys (with memoized signatures) and
// caches of checks already done on identical inputs.
type simEnv struct {
	validators []*memoSigner
	committee  *protocol.Committee
	owners     map[string]*memoSigner
	ownerNames []string // S, A, B: chain owners in the schedules; N: never an owner
	blocks     []*protocol.Block

	mu      sync.Mutex
	checked map[string]error // canonical bytes -> result of the worker-side check
}

func newSimEnv(height base.BlockHeight) *simEnv {
	keys := prototest.Validators(4)
	env := &simEnv{
		committee:  prototest.Committee(keys),
		owners:     make(map[string]*memoSigner),
		ownerNames: []string{"S", "A", "B", "N"},
		checked:    make(map[string]error),
	}
	for _, k := range keys {
		env.validators = append(env.validators, newMemoSigner(k))
	}
	for _, n := range env.ownerNames {
		env.owners[n] = newMemoSigner(ownerKey(n))
	}
	for _, n := range []string{"X", "Y", "Z"} {
		env.blocks = append(env.blocks, testBlock(height, n))
	}
	return env
}

// check runs f once per distinct canonical input (proposal invariants, certificate
// signatures): schedules repeat the same few values thousands of times.
func (env *simEnv) check(v codec.Encoder, f func() error) error {
	key := string(codec.Marshal(v))
	env.mu.Lock()
	err, ok := env.checked[key]
	env.mu.Unlock()
	if ok {
		return err
	}
	err = f()
	env.mu.Lock()
	env.checked[key] = err
	env.mu.Unlock()
	return err
}

type voteKey struct {
	kind  protocol.CertificateKind
	hash  base.Hash
	round base.Round
}

// simValidator is an honest validator: a manager plus the history the checks need.
type simValidator struct {
	m         *Manager
	lastRound *base.Round     // round of the latest vote signed (any kind)
	confirmed []protocol.Vote // every confirmed vote signed
}

type simStats struct {
	committed, committedLater, validatedCerts, timeoutCerts, retriesVoted, fastRetriesVoted, lockedNoVote, restarts int
}

func (s *simStats) add(o simStats) {
	s.committed += o.committed
	s.committedLater += o.committedLater
	s.validatedCerts += o.validatedCerts
	s.timeoutCerts += o.timeoutCerts
	s.retriesVoted += o.retriesVoted
	s.fastRetriesVoted += o.fastRetriesVoted
	s.lockedNoVote += o.lockedNoVote
	s.restarts += o.restarts
}

// sim is one adversarial schedule: 4 validators (one of them possibly Byzantine: it signs
// whatever helps form a certificate), owners who equivocate and propose in any round, and
// a network that delivers any message to any subset of validators in any order, any
// number of times.
type sim struct {
	env      *simEnv
	rng      *rand.Rand
	height   base.BlockHeight
	own      protocol.ChainOwnership
	byz      int // index of the Byzantine validator, or -1
	vals     []*simValidator
	disabled ruleSet
	local    bool // check each validator's own voting invariants, not only agreement
	now      base.Timestamp

	proposals      []*protocol.BlockProposal
	fastOriginals  []*protocol.BlockProposal
	validatedCerts []*protocol.Certificate
	timeoutCerts   []*protocol.Certificate
	voteKeys       []voteKey // in order of first vote, for deterministic choices
	votes          map[voteKey][]protocol.Vote
	committed      map[base.Hash]base.Round

	stats     simStats
	violation string
}

func newSim(env *simEnv, seed uint64, disabled ruleSet, local bool) *sim {
	s := &sim{
		env:       env,
		rng:       rand.New(rand.NewPCG(seed, 0x6d6963612d73696d)),
		height:    env.blocks[0].Height(),
		byz:       -1,
		disabled:  disabled,
		local:     local,
		votes:     make(map[voteKey][]protocol.Vote),
		committed: make(map[base.Hash]base.Round),
	}
	owner := func(n string) base.Owner { return env.owners[n].Public().Owner() }
	w := func() uint64 { return 1 + s.rng.Uint64N(3) }
	o := &s.own
	o.Timeouts = protocol.DefaultTimeoutConfig()
	switch s.rng.IntN(3) {
	case 0: // one super owner, two regular owners
		o.SuperOwners = []base.Owner{owner("S")}
		o.Owners = []protocol.OwnerWeight{{Owner: owner("A"), Weight: w()}, {Owner: owner("B"), Weight: w()}}
	case 1: // three regular owners
		o.Owners = []protocol.OwnerWeight{{Owner: owner("S"), Weight: w()}, {Owner: owner("A"), Weight: w()}, {Owner: owner("B"), Weight: w()}}
	default: // two super owners, one regular owner
		o.SuperOwners = []base.Owner{owner("S"), owner("A")}
		o.Owners = []protocol.OwnerWeight{{Owner: owner("B"), Weight: w()}}
	}
	slices.SortFunc(o.SuperOwners, base.Owner.Compare)
	slices.SortFunc(o.Owners, func(x, y protocol.OwnerWeight) int { return x.Owner.Compare(y.Owner) })
	o.MultiLeaderRounds = uint32(s.rng.IntN(4))
	if s.rng.IntN(2) == 0 {
		d := base.TimeDelta(5_000_000)
		o.Timeouts.FastRoundDuration = &d
	}
	if s.rng.IntN(10) < 7 {
		s.byz = s.rng.IntN(4)
	}
	for i := range env.validators {
		if i == s.byz {
			s.vals = append(s.vals, nil)
			continue
		}
		m := NewManager(*o, s.height, 0)
		m.disabled = disabled
		s.vals = append(s.vals, &simValidator{m: m})
	}
	return s
}

func (s *sim) fail(format string, args ...any) {
	if s.violation == "" {
		s.violation = fmt.Sprintf("t=%v: ", s.now) + fmt.Sprintf(format, args...)
	}
}

// honest returns the indices of the honest validators.
func (s *sim) honest() []int {
	var out []int
	for i, v := range s.vals {
		if v != nil {
			out = append(out, i)
		}
	}
	return out
}

// subset picks each honest validator with probability 3/5.
func (s *sim) subset() []int {
	var out []int
	for _, i := range s.honest() {
		if s.rng.IntN(5) < 3 {
			out = append(out, i)
		}
	}
	return out
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// run executes the schedule and returns the first violation ("" if none).
func (s *sim) run(steps int) string {
	for step := 0; step < steps && s.violation == ""; step++ {
		switch x := s.rng.IntN(100); {
		case x < 35:
			s.propose()
		case x < 55:
			s.validatedCertificate()
		case x < 63:
			if len(s.proposals) > 0 {
				p := pick(s.rng, s.proposals)
				for _, i := range s.subset() {
					s.deliverProposal(i, p)
				}
			}
		case x < 78:
			s.timeouts()
		case x < 88:
			s.now = s.now.Add(base.TimeDelta(s.rng.Uint64N(12_000_001)))
		case x < 93:
			if hs := s.honest(); len(hs) > 0 {
				s.restart(pick(s.rng, hs))
			}
		default:
			if len(s.timeoutCerts) > 0 {
				c := pick(s.rng, s.timeoutCerts)
				for _, i := range s.subset() {
					s.deliverTimeout(i, c)
				}
			}
		}
		for _, i := range s.honest() {
			if msg := s.vals[i].m.invariantViolation(); msg != "" {
				s.fail("v%d: state invariant: %s", i, msg)
			}
		}
	}
	if len(s.committed) > 0 {
		s.stats.committed++
		for _, r := range s.committed {
			if !r.IsFast() {
				s.stats.committedLater++
				break
			}
		}
	}
	return s.violation
}

// rounds lists the rounds proposals are drawn from: every round of the ownership up to
// a few single-leader rounds, plus a multi-leader round that does not exist.
func (s *sim) rounds() []base.Round {
	rs := []base.Round{base.FastRound}
	for n := uint32(0); n <= s.own.MultiLeaderRounds; n++ {
		rs = append(rs, base.MultiLeader(n))
	}
	for n := uint32(0); n < 5; n++ {
		rs = append(rs, base.SingleLeader(n))
	}
	return append(rs, base.ValidatorRound(0))
}

func (s *sim) propose() {
	hs := s.honest()
	ref := s.vals[pick(s.rng, hs)].m
	var round base.Round
	switch x := s.rng.IntN(10); {
	case x < 5:
		round = ref.CurrentRound()
	case x < 7:
		round, _ = s.own.NextRound(ref.CurrentRound())
	default:
		round = pick(s.rng, s.rounds())
	}
	name := pick(s.rng, s.env.ownerNames[:3])
	if s.rng.IntN(20) == 0 {
		name = "N"
	} else if l, ok := ref.Leader(round); ok && s.rng.IntN(10) < 6 {
		for _, n := range s.env.ownerNames {
			if s.env.owners[n].Public().Owner() == l {
				name = n
			}
		}
	}
	signer := s.env.owners[name]

	var older []*protocol.Certificate
	for _, c := range s.validatedCerts {
		if c.Round.Less(round) {
			older = append(older, c)
		}
	}
	var p *protocol.BlockProposal
	var err error
	switch x := s.rng.IntN(10); {
	case x < 4 && len(older) > 0:
		p, err = protocol.SignRegularRetry(signer, pick(s.rng, older), round, nil)
	case x < 6 && len(s.fastOriginals) > 0 && !round.IsFast():
		p, err = protocol.SignFastRetry(signer, pick(s.rng, s.fastOriginals), round)
	default:
		b := pick(s.rng, s.env.blocks)
		p, err = protocol.SignProposal(signer, b.Proposed, round, nil)
		if err == nil && round.IsFast() {
			s.fastOriginals = append(s.fastOriginals, p)
		}
	}
	if err != nil {
		s.fail("sign proposal: %v", err)
		return
	}
	// The worker's checks before the manager's: shape and signatures, retry certificate.
	if err := s.env.check(p, func() error {
		if err := p.CheckInvariants(); err != nil {
			return err
		}
		if p.IsRegularRetry() {
			return p.Original.Regular.Check(s.env.committee)
		}
		return nil
	}); err != nil {
		s.fail("the simulation built an invalid proposal: %v", err)
		return
	}
	s.proposals = append(s.proposals, p)
	for _, i := range s.subset() {
		s.deliverProposal(i, p)
	}
}

// deliverProposal is the worker's handling of a proposal at honest validator i.
func (s *sim) deliverProposal(i int, p *protocol.BlockProposal) {
	v := s.vals[i]
	out, err := v.m.CheckProposal(p)
	if err != nil || out == Skip {
		return
	}
	v.m.RecordSignedProposal(p, s.now)
	if s.rng.IntN(10) == 0 {
		return // Execution failed (e.g. a missing message): no vote.
	}
	vote, err := v.m.VoteForProposal(p, executeProposal(p), s.env.validators[i], s.now)
	if err != nil {
		s.fail("v%d: VoteForProposal refused a proposal CheckProposal accepted: %v", i, err)
		return
	}
	if p.IsRegularRetry() {
		s.stats.retriesVoted++
	}
	if p.IsFastRetry() {
		s.stats.fastRetriesVoted++
	}
	if s.local {
		switch vote.Value.Kind {
		case protocol.KindConfirmed:
			if !p.Content.Round.IsFast() {
				s.fail("v%d: confirmed vote on a proposal outside the fast round (%v)", i, p.Content.Round)
			}
		case protocol.KindValidated:
			for _, cv := range v.confirmed {
				if cv.Value.ValueHash == vote.Value.ValueHash || vote.Round.Less(cv.Round) {
					continue
				}
				if !p.IsRegularRetry() || !cv.Round.Less(p.Original.Regular.Round) {
					s.fail("v%d: validated %s in %v after confirming %s in %v without a later certificate", i, vote.Value.ValueHash.Short(), vote.Round, cv.Value.ValueHash.Short(), cv.Round)
				}
			}
		}
	}
	s.record(i, vote)
}

// record adds an honest vote to the pool and checks round monotonicity and agreement.
func (s *sim) record(i int, vote protocol.Vote) {
	v := s.vals[i]
	if s.local && v.lastRound != nil && vote.Round.Less(*v.lastRound) {
		s.fail("v%d: %v vote in %v after a vote in %v", i, vote.Value.Kind, vote.Round, *v.lastRound)
	}
	r := vote.Round
	v.lastRound = &r
	if vote.Value.Kind == protocol.KindConfirmed {
		v.confirmed = append(v.confirmed, vote)
	}
	k := voteKey{vote.Value.Kind, vote.Value.ValueHash, vote.Round}
	for _, old := range s.votes[k] {
		if old.Validator == vote.Validator {
			return
		}
	}
	if _, ok := s.votes[k]; !ok {
		s.voteKeys = append(s.voteKeys, k)
	}
	s.votes[k] = append(s.votes[k], vote)
	if k.kind == protocol.KindConfirmed && s.quorum(k) {
		if _, ok := s.committed[k.hash]; !ok {
			s.committed[k.hash] = k.round
		}
		if len(s.committed) > 1 {
			var desc []string
			for h, r := range s.committed {
				desc = append(desc, fmt.Sprintf("%s in %v", h.Short(), r))
			}
			slices.Sort(desc)
			s.fail("AGREEMENT VIOLATED: confirmed certificates for different blocks: %v", desc)
		}
	}
}

// quorum reports whether the honest votes for k plus the Byzantine validator's reach
// the quorum (3 of 4).
func (s *sim) quorum(k voteKey) bool {
	n := len(s.votes[k])
	if s.byz >= 0 {
		n++
	}
	return uint64(n) >= s.env.committee.QuorumThreshold()
}

// certify builds a certificate for k from 3 real votes: the honest ones, completed by the
// Byzantine validator's signature.
func (s *sim) certify(k voteKey, block *protocol.Block, timeout *protocol.Timeout) *protocol.Certificate {
	votes := slices.Clone(s.votes[k])
	if len(votes) > 3 {
		votes = votes[:3]
	}
	if len(votes) < 3 && s.byz >= 0 {
		lv := protocol.LiteValue{ValueHash: k.hash, ChainID: testChain, Height: s.height, Kind: k.kind}
		bv, err := protocol.SignVote(s.env.validators[s.byz], lv, k.round)
		if err != nil {
			s.fail("byzantine vote: %v", err)
			return nil
		}
		votes = append(votes, bv)
	}
	c := protocol.CertificateFromVotes(k.kind, block, timeout, k.round, votes)
	if err := s.env.check(c, func() error { return c.Check(s.env.committee) }); err != nil {
		s.fail("formed an invalid certificate: %v", err)
		return nil
	}
	return c
}

func (s *sim) blockByHash(h base.Hash) *protocol.Block {
	for _, b := range s.env.blocks {
		if b.Hash() == h {
			return b
		}
	}
	return nil
}

// validatedCertificate forms a new validated certificate from a quorum of validated
// votes (or re-sends a known one) and delivers it to a random subset.
func (s *sim) validatedCertificate() {
	var c *protocol.Certificate
	var ready []voteKey
	for _, k := range s.voteKeys {
		if k.kind == protocol.KindValidated && s.quorum(k) {
			ready = append(ready, k)
		}
	}
	if len(ready) > 0 && (len(s.validatedCerts) == 0 || s.rng.IntN(3) > 0) {
		k := pick(s.rng, ready)
		if c = s.certify(k, s.blockByHash(k.hash), nil); c == nil {
			return
		}
		s.validatedCerts = append(s.validatedCerts, c)
		s.stats.validatedCerts++
	} else if len(s.validatedCerts) > 0 {
		c = pick(s.rng, s.validatedCerts)
	} else {
		return
	}
	for _, i := range s.subset() {
		v := s.vals[i]
		out, err := v.m.CheckValidatedCertificate(c)
		if err != nil || out == Skip {
			continue
		}
		vote, err := v.m.VoteForValidated(c, s.env.validators[i], s.now)
		if err != nil {
			s.fail("v%d: VoteForValidated refused a certificate CheckValidatedCertificate accepted: %v", i, err)
			return
		}
		if vote == nil {
			s.stats.lockedNoVote++
			continue
		}
		if s.local && (vote.Round != c.Round || vote.Value.ValueHash != c.Block.Hash() || vote.Value.Kind != protocol.KindConfirmed) {
			s.fail("v%d: final vote does not match its validated certificate", i)
		}
		s.record(i, *vote)
	}
}

// timeouts asks a random subset for timeout votes in their current rounds, then forms a
// timeout certificate if some round has a quorum and delivers it.
func (s *sim) timeouts() {
	t := &protocol.Timeout{ChainID: testChain, Height: s.height}
	for _, i := range s.subset() {
		v := s.vals[i]
		vote, err := v.m.VoteTimeout(testChain, 0, v.m.CurrentRound(), s.env.validators[i], s.now)
		if err != nil {
			continue
		}
		if vote.Value.ValueHash != t.Hash() || vote.Value.Kind != protocol.KindTimeout {
			s.fail("v%d: malformed timeout vote", i)
			return
		}
		s.record(i, *vote)
	}
	var ready []voteKey
	for _, k := range s.voteKeys {
		if k.kind == protocol.KindTimeout && s.quorum(k) {
			ready = append(ready, k)
		}
	}
	if len(ready) == 0 {
		return
	}
	c := s.certify(pick(s.rng, ready), nil, t)
	if c == nil {
		return
	}
	s.timeoutCerts = append(s.timeoutCerts, c)
	s.stats.timeoutCerts++
	for _, i := range s.subset() {
		s.deliverTimeout(i, c)
	}
}

func (s *sim) deliverTimeout(i int, c *protocol.Certificate) {
	if _, err := s.vals[i].m.HandleTimeoutCertificate(c, s.now); err != nil {
		s.fail("v%d: timeout certificate refused: %v", i, err)
	}
}

// restart persists and reloads validator i, as after a crash.
func (s *sim) restart(i int) {
	d, _, err := roundTripManager(s.vals[i].m)
	if err != nil {
		s.fail("v%d: persistence: %v", i, err)
		return
	}
	s.vals[i].m = d
	s.stats.restarts++
}

const simSteps = 60

// runSims runs n schedules (seeds 1..n) and returns the first violation with its seed.
func runSims(env *simEnv, n int, disabled ruleSet, local bool) (seed uint64, violation string, stats simStats) {
	for seed = 1; seed <= uint64(n); seed++ {
		s := newSim(env, seed, disabled, local)
		if v := s.run(simSteps); v != "" {
			return seed, v, stats
		}
		stats.add(s.stats)
	}
	return 0, "", stats
}

// TestSafety explores random adversarial schedules (see sim) and checks that at most one
// block ever gathers a quorum of confirmed votes at the height, and that every honest
// validator keeps the voting invariants of §2.7. A failure prints its seed; rerun it
// with -sim.seed=N.
func TestSafety(t *testing.T) {
	env := newSimEnv(9)
	if *simSeed != 0 {
		s := newSim(env, *simSeed, 0, true)
		if v := s.run(simSteps); v != "" {
			t.Fatalf("seed %d: %s", *simSeed, v)
		}
		return
	}
	n := *simSeeds
	if raceEnabled && n > 1000 {
		n = 1000 // The race detector makes each schedule several times slower.
	}
	seed, v, stats := runSims(env, n, 0, true)
	if v != "" {
		t.Fatalf("seed %d (rerun with -sim.seed=%d): %s", seed, seed, v)
	}
	t.Logf("%d schedules: %+v", n, stats)
	// The schedules must reach the interesting states, or the check proves nothing.
	if stats.committed < n/10 || stats.committedLater == 0 || stats.retriesVoted == 0 || stats.fastRetriesVoted == 0 ||
		stats.timeoutCerts == 0 || stats.lockedNoVote == 0 || stats.restarts == 0 || stats.validatedCerts == 0 {
		t.Fatalf("the schedules are too tame: %+v", stats)
	}
}

var _ crypto.Signer = (*memoSigner)(nil)
