package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
)

// Config describes a run.
type Config struct {
	// Validators is the committee size (default 4).
	Validators int
	// Chains is the number of root chains (default 4).
	Chains int
	// Steps is the number of random actions before healing and draining (default 25).
	Steps int
	// MaxChains bounds the number of chains, roots and children (default 2 × Chains).
	MaxChains int
	// Faults has one entry per validator. Nil means Faulty validators, chosen from the
	// seed, get fault types chosen from the seed (never None, and at most f Byzantine).
	Faults []Fault
	// Faulty is the number of faulty validators when Faults is nil (default 1). More
	// than f = ⌊(Validators−1)/3⌋ costs liveness until the network heals, never safety.
	Faulty int
	// FaultTypes are the fault types drawn from when Faults is nil (default
	// FaultTypes(); AttackFaultTypes() for the attacks on the trust boundaries).
	FaultTypes []Fault
}

func (c *Config) setDefaults() {
	if c.Validators == 0 {
		c.Validators = 4
	}
	if c.Chains == 0 {
		c.Chains = 4
	}
	if c.Steps == 0 {
		c.Steps = 25
	}
	if c.MaxChains == 0 {
		c.MaxChains = 2 * c.Chains
	}
	if c.Faulty == 0 {
		c.Faulty = 1
	}
}

// randomFaults gives cfg.Faulty distinct validators a random fault type each (from
// cfg.FaultTypes, default FaultTypes()), with at most f Byzantine ones (of any kind).
func randomFaults(rng *rand.Rand, cfg *Config) []Fault {
	faults := make([]Fault, cfg.Validators)
	maxByzantine := (cfg.Validators - 1) / 3
	types := cfg.FaultTypes
	if types == nil {
		types = FaultTypes()
	}
	var benign []Fault
	for _, f := range types {
		if !f.IsByzantine() {
			benign = append(benign, f)
		}
	}
	for _, i := range rng.Perm(cfg.Validators)[:min(cfg.Faulty, cfg.Validators)] {
		f := types[rng.IntN(len(types))]
		if f.IsByzantine() {
			switch {
			case maxByzantine > 0:
				maxByzantine--
			case len(benign) > 0:
				f = benign[rng.IntN(len(benign))]
			default:
				f = None
			}
		}
		faults[i] = f
	}
	return faults
}

// Stats counts what a run did.
type Stats struct {
	Transfers      int // transfer actions (including overdrafts)
	TransfersOK    int // transfers committed
	Overdrafts     int // transfers of more than the total supply (all must be refused)
	Refused        int // operations refused for lack of funds (nothing changed)
	Retryable      int // client calls that failed with a retryable error
	WaitForTimeout int // of which: a round to wait out
	InboxBlocks    int // blocks committed by process-inbox actions
	ChainsOpened   int
	Claims         int
	ClaimsOK       int
	ClockAdvances  int
	ClientRestarts int
	DrainRounds    int
	Blocks         int // confirmed blocks at the end, over all chains
	Bundles        int // incoming bundles received by those blocks
	Rejected       int // of which rejected (their tracked messages bounced)
	Chains         int // chains at the end
}

// BlockRecord names a confirmed block.
type BlockRecord struct {
	Chain  base.ChainID
	Height base.BlockHeight
	Hash   base.Hash
}

// Result is what a run produced. Two runs with the same seed and Config have equal
// Results (Digest covers everything else).
type Result struct {
	Seed   uint64
	Faults []Fault
	// Trace has one line per step and per drain round.
	Trace []string
	// Blocks lists every confirmed block: chains in the order they were found (roots
	// first), heights in order.
	Blocks []BlockRecord
	// Tips is each chain's last block (zero hash for a chain without blocks).
	Tips []BlockRecord
	// Balances is each chain's total balance (chain account plus owner accounts) at the
	// end, as the first honest validator sees it, in the order of Tips.
	Balances []base.Amount
	Stats    Stats
	Nodes    []NodeStats
	// Digest is SHA-256 over the seed, faults, trace, blocks and tips.
	Digest [32]byte
}

// Summary is a one-line description of the run.
func (r *Result) Summary() string {
	fs := make([]string, len(r.Faults))
	for i, f := range r.Faults {
		fs[i] = f.String()
	}
	s := &r.Stats
	return fmt.Sprintf("seed=%d faults=[%s] chains=%d blocks=%d transfers=%d/%d refused=%d retryable=%d drain=%d digest=%x",
		r.Seed, strings.Join(fs, ","), s.Chains, s.Blocks, s.TransfersOK, s.Transfers, s.Refused, s.Retryable, s.DrainRounds, r.Digest[:8])
}

func newRunRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, streamRun)) }

// runner is one run in progress.
type runner struct {
	seed uint64
	cfg  Config
	net  *Network
	rng  *rand.Rand
	res  *Result
}

// Run executes one seeded run and checks the invariants. It returns the Result even on
// failure (as far as the run got); the error names the seed and what broke.
func Run(seed uint64, cfg Config) (*Result, error) {
	cfg.setDefaults()
	rng := newRunRand(seed)
	faults := cfg.Faults
	if faults == nil {
		faults = randomFaults(rng, &cfg)
	}
	res := &Result{Seed: seed, Faults: faults}
	net, err := NewNetwork(seed, NetworkConfig{Validators: cfg.Validators, Chains: cfg.Chains, Faults: faults})
	if err != nil {
		return res, fmt.Errorf("seed=%d: %w", seed, err)
	}
	r := &runner{seed: seed, cfg: cfg, net: net, rng: rng, res: res}
	err = r.run()
	r.finish()
	if err != nil {
		return res, fmt.Errorf("seed=%d (faults %v): %w", seed, faults, err)
	}
	return res, nil
}

func (r *runner) run() error {
	for step := 0; step < r.cfg.Steps; step++ {
		if err := r.step(step); err != nil {
			return err
		}
		if err := r.checkViolations(); err != nil {
			return fmt.Errorf("after step %d: %w", step, err)
		}
	}
	if err := r.drain(); err != nil {
		return err
	}
	return r.checkInvariants()
}

func (r *runner) checkViolations() error {
	if v := r.net.violations; len(v) > 0 {
		return errors.New(strings.Join(v, "; "))
	}
	return nil
}

func (r *runner) trace(format string, args ...any) {
	r.res.Trace = append(r.res.Trace, fmt.Sprintf(format, args...))
}

// Action weights, out of 100 (cumulative).
const (
	actTransfer      = 36
	actOverdraft     = 42
	actNearOverdraft = 47
	actProcessInbox  = 63
	actOpenChain     = 71
	actClaim         = 79
	actClientRestart = 82
)

func (r *runner) step(step int) error {
	r.net.Tick()
	for _, n := range r.net.Nodes {
		if out := n.attack(); out != "" {
			r.trace("step %2d attack: %s", step, out)
		}
	}
	ch := r.net.Chains[r.rng.IntN(len(r.net.Chains))]
	d := ch.Drivers[r.rng.IntN(len(ch.Drivers))]
	x := r.rng.IntN(100)
	if x >= actProcessInbox && x < actOpenChain && len(r.net.Chains) >= r.cfg.MaxChains {
		x = 0 // no room for another chain: transfer instead
	}
	var out string
	var err error
	switch {
	case x < actTransfer:
		out, err = r.transfer(step, ch, d, transferNormal)
	case x < actOverdraft:
		out, err = r.transfer(step, ch, d, transferOverdraft)
	case x < actNearOverdraft:
		out, err = r.transfer(step, ch, d, transferNearBalance)
	case x < actProcessInbox:
		out, err = r.processInbox(step, ch, d)
	case x < actOpenChain:
		out, err = r.openChain(step, ch, d)
	case x < actClaim:
		out, err = r.claim(step, ch, d)
	case x < actClientRestart:
		r.net.RestartClient(d.Owner)
		r.res.Stats.ClientRestarts++
		out = fmt.Sprintf("restart the client of owner%d", d.Owner.Index)
	default:
		d := base.TimeDelta(r.rng.IntN(15_000_001))
		r.net.Clock.Advance(d)
		r.res.Stats.ClockAdvances++
		out = fmt.Sprintf("clock +%dms", d/1000)
	}
	if err != nil {
		out = "FAILED"
	}
	r.trace("step %2d chain %s owner%d: %s", step, ch.ID.Short(), d.Owner.Index, out)
	return err
}

// classify sorts a client error: tolerated (retryable; a refusal for lack of funds when
// refusable) or a failure of the run.
func (r *runner) classify(step int, ch *Chain, d *Driver, what string, err error, refusable bool) (string, error) {
	var wt *client.WaitForTimeoutError
	switch {
	case err == nil:
		return "ok", nil
	case errors.As(err, &wt):
		r.res.Stats.Retryable++
		r.res.Stats.WaitForTimeout++
		return fmt.Sprintf("%s: wait for round %v to time out", what, wt.Round), nil
	case errors.Is(err, base.ErrRetryable):
		r.res.Stats.Retryable++
		return what + ": retryable: " + firstLine(err), nil
	case refusable && errors.Is(err, execution.ErrInsufficientBalance):
		r.res.Stats.Refused++
		return what + ": refused: insufficient balance", nil
	}
	return "", fmt.Errorf("step %d: %s on chain %s (owner %d): unexpected error: %w", step, what, ch.ID.Short(), d.Owner.Index, err)
}

func firstLine(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// milli is a thousandth of a token, the unit of random amounts.
var milli = base.AmountFromAttos(1_000_000_000_000_000)

func amountBig(a base.Amount) *big.Int {
	hi, lo := a.Parts()
	x := new(big.Int).SetUint64(hi)
	x.Lsh(x, 64)
	return x.Or(x, new(big.Int).SetUint64(lo))
}

// randomAmount returns a whole number of milli-tokens in [1 milli, max] (1 milli if max
// is smaller).
func randomAmount(rng *rand.Rand, max base.Amount) base.Amount {
	m := new(big.Int).Quo(amountBig(max), amountBig(milli))
	n := uint64(1)
	if m.Sign() > 0 {
		bound := uint64(1 << 62)
		if m.IsUint64() {
			bound = m.Uint64()
		}
		n = 1 + rng.Uint64N(bound)
	}
	a, err := milli.MulUint64(n)
	if err != nil {
		return milli
	}
	return a
}

func quarter(a base.Amount) base.Amount {
	q := new(big.Int).Rsh(amountBig(a), 2)
	lo := new(big.Int).And(q, new(big.Int).SetUint64(^uint64(0))).Uint64()
	hi := new(big.Int).Rsh(q, 64).Uint64()
	return base.AmountFromParts(hi, lo)
}

// randomAccount picks a chain account or an owner's account on any chain.
func (r *runner) randomAccount() base.Account {
	ch := r.net.Chains[r.rng.IntN(len(r.net.Chains))]
	if r.rng.IntN(2) == 0 {
		return base.Account{Chain: ch.ID, Owner: base.ChainOwner}
	}
	return base.Account{Chain: ch.ID, Owner: r.net.Owners[r.rng.IntN(len(r.net.Owners))].Address()}
}

// localBalance is the balance a driver's client sees (zero if it cannot tell).
func (r *runner) localBalance(ch *Chain, d *Driver, owner base.Owner) base.Amount {
	b, err := d.Owner.Client.LocalBalance(r.net.ctx, base.Account{Chain: ch.ID, Owner: owner})
	if err != nil {
		return base.Amount{}
	}
	return b
}

type transferKind int

const (
	transferNormal transferKind = iota
	transferOverdraft
	transferNearBalance
)

// snapshot records each validator's height of a chain before an operation, so that a
// refused operation can be checked to have changed nothing.
type snapshot struct {
	heights []base.BlockHeight
}

func (r *runner) snapshot(ch *Chain) (snapshot, error) {
	var s snapshot
	for _, n := range r.net.Nodes {
		h, err := r.net.nextHeight(n.Storage(), ch.ID)
		if err != nil {
			return s, err
		}
		s.heights = append(s.heights, h)
	}
	return s, nil
}

// checkUnchanged checks that a refused operation changed nothing: no block committed
// since the snapshot holds it, and no fast proposal holding it is left signed. (Blocks may
// have been committed meanwhile: the client first finishes what an earlier attempt
// started, such as a pending fast proposal or a block locked in a validated certificate.)
func (r *runner) checkUnchanged(step int, ch *Chain, d *Driver, before snapshot, op protocol.Operation) error {
	opBytes := string(codec.Marshal(&op))
	holds := func(p *protocol.ProposedBlock) bool {
		for _, tx := range p.Transactions {
			if tx.Operation != nil && string(codec.Marshal(tx.Operation)) == opBytes {
				return true
			}
		}
		return false
	}
	if p := d.Client.PendingFastProposal(); p != nil && holds(&p.Content.Block) {
		return fmt.Errorf("step %d: invariant (refusal): a refused operation on chain %s was signed in a fast proposal at height %d", step, ch.ID.Short(), p.Content.Block.Height)
	}
	for i, n := range r.net.Nodes {
		st := n.Storage()
		for h := before.heights[i]; ; h++ {
			c, err := st.CertificateAt(r.net.ctx, ch.ID, h)
			if base.IsNotFound(err) {
				break
			}
			if err != nil {
				return err
			}
			if holds(&c.Block.Proposed) {
				return fmt.Errorf("step %d: invariant (refusal): a refused operation on chain %s was committed at height %d", step, ch.ID.Short(), h)
			}
		}
	}
	return nil
}

func (r *runner) transfer(step int, ch *Chain, d *Driver, kind transferKind) (string, error) {
	from := base.ChainOwner
	bal := r.localBalance(ch, d, from)
	if r.rng.IntN(3) == 0 {
		// The owner's account, usually only when it holds something.
		if b := r.localBalance(ch, d, d.Owner.Address()); !b.IsZero() || r.rng.IntN(4) == 0 {
			from, bal = d.Owner.Address(), b
		}
	}
	to := r.randomAccount()
	var amount base.Amount
	switch kind {
	case transferNormal:
		amount = randomAmount(r.rng, bal)
	case transferOverdraft:
		amount, _ = r.net.Genesis.TotalSupply().Add(base.Tokens(1 + uint64(r.rng.IntN(1000))))
		r.res.Stats.Overdrafts++
	case transferNearBalance:
		amount, _ = bal.Add(milli)
	}
	before, err := r.snapshot(ch)
	if err != nil {
		return "", err
	}
	r.res.Stats.Transfers++
	op := protocol.SystemOp(&protocol.Transfer{Owner: from, Recipient: to, Amount: amount})
	cert, err := d.Client.ExecuteOperations(r.net.ctx, []protocol.Operation{op}, nil)
	what := fmt.Sprintf("transfer %s from %s to %s", amount, accountName(r.net, base.Account{Chain: ch.ID, Owner: from}), accountName(r.net, to))
	out, err := r.classify(step, ch, d, what, err, true)
	if err != nil {
		return out, err
	}
	if err := r.checkReported(step, d, what, cert); err != nil {
		return out, err
	}
	switch {
	case out == "ok" && kind == transferOverdraft:
		return out, fmt.Errorf("step %d: invariant (overdraft): %s exceeds the total supply but was committed", step, what)
	case out == "ok":
		r.res.Stats.TransfersOK++
		return what + ": ok", nil
	case strings.HasSuffix(out, "insufficient balance"):
		return out, r.checkUnchanged(step, ch, d, before, op)
	}
	return out, nil
}

func accountName(net *Network, a base.Account) string {
	who := "chain"
	if !a.Owner.IsChain() {
		who = "owner?"
		if o := net.ownerOf(a.Owner); o != nil {
			who = fmt.Sprintf("owner%d", o.Index)
		}
		for _, n := range net.Nodes {
			if n.owner() == a.Owner {
				who = fmt.Sprintf("validator%d", n.Index)
			}
		}
	}
	return who + "@" + a.Chain.Short()
}

func (r *runner) processInbox(step int, ch *Chain, d *Driver) (string, error) {
	cert, err := d.Client.ProcessInbox(r.net.ctx)
	out, err := r.classify(step, ch, d, "process inbox", err, false)
	if err != nil || out != "ok" {
		return out, err
	}
	if err := r.checkReported(step, d, "process inbox", cert); err != nil {
		return out, err
	}
	if cert == nil {
		return "process inbox: nothing to do", nil
	}
	r.res.Stats.InboxBlocks++
	return fmt.Sprintf("process inbox: block %d", cert.Height()), nil
}

func (r *runner) openChain(step int, ch *Chain, d *Driver) (string, error) {
	// A super owner (fast round), a regular owner, or two regular owners who compete in
	// the multi-leader rounds.
	owners := []*Owner{r.net.Owners[r.rng.IntN(len(r.net.Owners))]}
	var ownership protocol.ChainOwnership
	kind := r.rng.IntN(4)
	switch kind {
	case 0, 1:
		ownership = protocol.SingleSuperOwner(owners[0].Address())
	case 2:
		ownership = protocol.SingleOwner(owners[0].Address())
	default:
		other := r.net.Owners[(owners[0].Index+1+r.rng.IntN(len(r.net.Owners)-1))%len(r.net.Owners)]
		owners = append(owners, other)
		ownership = protocol.MultiOwner([]base.Owner{owners[0].Address(), other.Address()}, 2)
		if ownership.Owners[0].Owner != owners[0].Address() {
			owners[0], owners[1] = owners[1], owners[0] // ownership order
		}
	}
	super := kind < 2
	var amount base.Amount
	if r.rng.IntN(5) != 0 {
		amount = randomAmount(r.rng, quarter(r.localBalance(ch, d, base.ChainOwner)))
	}
	before, err := r.snapshot(ch)
	if err != nil {
		return "", err
	}
	id, cert, err := d.Client.OpenChain(r.net.ctx, ownership, amount)
	names := make([]string, len(owners))
	for i, o := range owners {
		names[i] = fmt.Sprintf("owner%d", o.Index)
	}
	what := fmt.Sprintf("open chain for %s (super=%v) with %s", strings.Join(names, "+"), super, amount)
	out, err := r.classify(step, ch, d, what, err, true)
	if err != nil || out != "ok" {
		if err == nil && strings.HasSuffix(out, "insufficient balance") {
			// The operation OpenChain builds.
			op := protocol.SystemOp(&protocol.OpenChain{Ownership: ownership, Balance: amount})
			err = r.checkUnchanged(step, ch, d, before, op)
		}
		return out, err
	}
	if err := r.checkReported(step, d, what, cert); err != nil {
		return out, err
	}
	r.net.addChain(id, owners, super, false)
	r.res.Stats.ChainsOpened++
	return fmt.Sprintf("%s: opened %s", what, id.Short()), nil
}

// claim withdraws from the chain owner's account on a random chain: when that account
// is short, the Withdraw message is rejected there and bounces back.
func (r *runner) claim(step int, ch *Chain, d *Driver) (string, error) {
	target := r.net.Chains[r.rng.IntN(len(r.net.Chains))]
	to := r.randomAccount()
	amount := randomAmount(r.rng, base.Tokens(20))
	me := d.Owner.Address()
	op := protocol.SystemOp(&protocol.Claim{Owner: me, Target: target.ID, Recipient: to, Amount: amount})
	r.res.Stats.Claims++
	before, err := r.snapshot(ch)
	if err != nil {
		return "", err
	}
	cert, err := d.Client.ExecuteOperations(r.net.ctx, []protocol.Operation{op}, nil)
	what := fmt.Sprintf("claim %s from owner%d@%s to %s", amount, d.Owner.Index, target.ID.Short(), accountName(r.net, to))
	out, err := r.classify(step, ch, d, what, err, true)
	if err != nil || out != "ok" {
		if err == nil && strings.HasSuffix(out, "insufficient balance") {
			err = r.checkUnchanged(step, ch, d, before, op)
		}
		return out, err
	}
	if err := r.checkReported(step, d, what, cert); err != nil {
		return out, err
	}
	r.res.Stats.ClaimsOK++
	return what + ": ok", nil
}

const maxDrainRounds = 20

// drain heals the network, then processes every inbox until nothing is pending anywhere.
func (r *runner) drain() error {
	r.net.Heal()
	r.trace("heal")
	last := ""
	for round := 0; round < maxDrainRounds; round++ {
		r.res.Stats.DrainRounds++
		// Past any round timeout, so that stuck rounds can be left.
		r.net.Clock.Advance(12_000_000)
		if err := r.net.DiscoverChains(); err != nil {
			return err
		}
		var outs []string
		for i := 0; i < len(r.net.Chains); i++ {
			ch := r.net.Chains[i]
			out, err := r.processInbox(-1, ch, ch.Drivers[0])
			if err != nil {
				return fmt.Errorf("drain round %d: %w", round, err)
			}
			if out != "process inbox: nothing to do" {
				outs = append(outs, ch.ID.Short()+": "+out)
			}
		}
		if err := r.net.SyncAll(); err != nil {
			return fmt.Errorf("drain round %d: %w", round, err)
		}
		r.trace("drain %d: %s", round, strings.Join(outs, "; "))
		var err error
		if last, err = r.pendingWork(); err != nil {
			return err
		}
		if last == "" {
			return nil
		}
	}
	return fmt.Errorf("liveness: the network did not drain in %d rounds: %s", maxDrainRounds, last)
}

// pendingWork describes what is still pending: deliveries, inbox bundles on any
// validator, uncommitted fast proposals. Empty when the network is quiescent.
func (r *runner) pendingWork() (string, error) {
	var out []string
	for _, n := range r.net.Nodes {
		// A Byzantine validator's own deliveries are its business (an attacker's worker
		// may owe bounces to the chains it forged elsewhere).
		if w := n.worker; w != nil && n.Honest() && w.HasPendingDeliveries() {
			out = append(out, fmt.Sprintf("validator %d has pending deliveries", n.Index))
		}
	}
	for _, ch := range r.net.Chains {
		for _, d := range ch.Drivers {
			if p := d.Client.PendingFastProposal(); p != nil {
				out = append(out, fmt.Sprintf("chain %s has an uncommitted fast proposal at height %d", ch.ID.Short(), p.Content.Block.Height))
			}
		}
		for _, n := range r.net.Nodes {
			w := n.worker
			if w == nil {
				continue
			}
			var k int
			err := w.ChainState(r.net.ctx, ch.ID, func(s *chain.State) error {
				b, err := s.PendingBundles(r.net.ctx, math.MaxInt, math.MaxInt)
				k = len(b)
				return err
			})
			if err != nil {
				return "", fmt.Errorf("pending bundles of chain %s on validator %d: %w", ch.ID.Short(), n.Index, err)
			}
			if k > 0 {
				out = append(out, fmt.Sprintf("chain %s has %d pending bundles on validator %d", ch.ID.Short(), k, n.Index))
			}
		}
	}
	return strings.Join(out, "; "), nil
}

// finish fills the blocks, tips, stats and digest.
func (r *runner) finish() {
	res := r.res
	for _, n := range r.net.Nodes {
		res.Nodes = append(res.Nodes, n.Stats)
	}
	if err := r.net.DiscoverChains(); err != nil {
		r.trace("discover chains: %v", err)
	}
	for _, ch := range r.net.Chains {
		tip := BlockRecord{Chain: ch.ID}
		for h := base.BlockHeight(0); ; h++ {
			c, err := r.net.certificate(ch.ID, h)
			if err != nil {
				break
			}
			tip = BlockRecord{Chain: ch.ID, Height: h, Hash: c.Block.Hash()}
			for _, ib := range c.Block.Proposed.Bundles() {
				res.Stats.Bundles++
				if ib.Action == protocol.Reject {
					res.Stats.Rejected++
				}
			}
			res.Blocks = append(res.Blocks, tip)
		}
		res.Tips = append(res.Tips, tip)
		res.Balances = append(res.Balances, r.totalBalance(ch.ID))
	}
	res.Stats.Blocks = len(res.Blocks)
	res.Stats.Chains = len(r.net.Chains)
	h := sha256.New()
	var b [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	put(res.Seed)
	for _, f := range res.Faults {
		put(uint64(f))
	}
	for _, l := range res.Trace {
		put(uint64(len(l)))
		h.Write([]byte(l))
	}
	for _, a := range res.Balances {
		hi, lo := a.Parts()
		put(hi)
		put(lo)
	}
	for _, list := range [][]BlockRecord{res.Blocks, res.Tips} {
		put(uint64(len(list)))
		for _, br := range list {
			h.Write(br.Chain[:])
			put(uint64(br.Height))
			h.Write(br.Hash[:])
		}
	}
	h.Sum(res.Digest[:0])
}

// totalBalance is a chain's total balance on the first honest running validator (zero if
// none can tell).
func (r *runner) totalBalance(id base.ChainID) base.Amount {
	for _, n := range r.net.Nodes {
		if !n.Honest() || n.worker == nil {
			continue
		}
		var total base.Amount
		err := n.worker.ChainState(r.net.ctx, id, func(s *chain.State) error {
			var err error
			total, err = s.Execution().TotalBalance(r.net.ctx)
			return err
		})
		if err == nil {
			return total
		}
	}
	return base.Amount{}
}
