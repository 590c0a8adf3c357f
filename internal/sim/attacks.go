package sim

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// The attacks on the trust boundaries (DESIGN §9). Each attacker is a validator of the
// committee running a real worker (it votes honestly for the real chains unless its
// attack says otherwise) that also:
//
//   - ForgedBlobs: uploads to the honest validators forged ChainDescription blobs (a
//     chain nobody created, with a fortune, owned by the attacker) and forged Committee
//     blobs (a committee of the attacker alone), then commits blocks on those chains:
//     certified by its forged committee alone, or proposed with its own key and voted
//     by the honest validators when the forged chain names the real committee. The
//     blocks credit real chains (a transfer) and claim from a victim's account on a
//     real chain (a block whose AuthenticatedOwner is the victim, certified by the
//     forged committee: no proposal signature is ever checked for it).
//   - EquivocatingVotes: signs conflicting votes: a vote for every block it is asked
//     about (so each of two competing clients gets a vote for its own block at the same
//     height and round), votes of the wrong kind (confirmed for validated), and votes
//     for made-up blocks at the same height and round.
//   - GarbageAnswers: answers client requests with malformed or mismatched data: another
//     chain's info, empty info, huge bogus heights, votes with a broken signature or
//     claiming another validator's key, certificates of other heights or chains, blobs
//     whose content does not match their id or another blob.
//   - BundlesFromNowhere: reports inbox bundles that no block sent (from chains that do
//     not exist, from the chains it forged, or made-up cursors on real chains), and
//     hides the real ones.

// attacker is the state of an attacking node.
type attacker struct {
	shop   *workshop
	forged []*forgedChain
	// votes are the votes the node handed out, to count its equivocations.
	votes map[voteKey]base.Hash
	// script, if set, fixes the forger's choices (tests).
	script *forgeScript
}

// forgeScript fixes a ForgedBlobs attacker's next episodes: always a new chain, with a
// forged committee or the real one, a credit to Credit or a claim on Victim's account
// on Target.
type forgeScript struct {
	forgedCommittee bool
	claim           bool
	victim          *Owner
	target          base.ChainID
	credit          base.Account
	amount          base.Amount
}

// workshop is the attacker's private node: a worker without a key over its own store,
// where it writes its forged blobs directly and executes its forged blocks to learn
// their outcome. (The attacker's validator worker runs the same code as the honest
// ones, so it cannot be relied on to accept forged blobs.)
type workshop struct {
	st *storage.Storage
	w  *worker.Worker
}

// forgedChain is a chain that only a forged description blob created.
type forgedChain struct {
	desc      protocol.ChainDescription
	id        base.ChainID
	committee *protocol.Committee // the committee its description trusts
	forged    bool                // committee is the attacker's forged one
	next      base.BlockHeight
	tip       *base.Hash
	certs     []*protocol.Certificate
}

func (n *Node) attackState() *attacker {
	if n.atk == nil {
		n.atk = &attacker{votes: make(map[voteKey]base.Hash)}
	}
	return n.atk
}

func (n *Node) workshop() (*workshop, error) {
	a := n.attackState()
	if a.shop != nil {
		return a.shop, nil
	}
	st := storage.New(memkv.New())
	if err := installGenesis(n.net.ctx, st, n.net.Genesis); err != nil {
		return nil, err
	}
	a.shop = &workshop{st: st, w: worker.New(worker.Config{Storage: st, Clock: n.net.Clock})}
	return a.shop, nil
}

// honestNodes are the validators other than n.
func (n *Node) others() []*Node {
	var out []*Node
	for _, m := range n.net.Nodes {
		if m != n {
			out = append(out, m)
		}
	}
	return out
}

// attack runs one attack episode at a step, if the node's fault has one and it is due.
// It returns a line for the trace ("" when nothing was done).
func (n *Node) attack() string {
	if n.worker == nil || !n.chance(n.params.attack) {
		return ""
	}
	switch n.Fault {
	case ForgedBlobs:
		n.Stats.Attacks++
		out, err := n.forgeAttack()
		if err != nil {
			// The attacker's own tools failing is a bug of the simulator.
			n.net.violation("sim: validator %d cannot forge: %v", n.Index, err)
		}
		return fmt.Sprintf("validator %d (%s): %s", n.Index, n.Fault, out)
	}
	return ""
}

// forgedBalance is what a forged chain starts with: more than the whole genesis supply.
var forgedBalance = base.Tokens(1_000_000)

// newForgedChain makes a forged chain, writes its blobs into the workshop and uploads
// them to every other validator.
func (n *Node) newForgedChain() (*forgedChain, int, error) {
	a := n.attackState()
	shop, err := n.workshop()
	if err != nil {
		return nil, 0, err
	}
	g := n.net.Genesis
	fc := &forgedChain{committee: n.net.Committee}
	var blobs []protocol.Blob
	useForged := n.rng.IntN(2) == 0
	if a.script != nil {
		useForged = a.script.forgedCommittee
	}
	if useForged {
		c, err := protocol.NewCommittee([]protocol.ValidatorState{{PublicKey: n.Key.Public(), NetworkAddress: "127.0.0.1:6666", Votes: 1}}, protocol.NoFeesPolicy())
		if err != nil {
			return nil, 0, err
		}
		fc.committee, fc.forged = c, true
		blobs = append(blobs, c.Blob())
	}
	k := uint32(len(a.forged))
	origin := protocol.RootOrigin(1000 + 100*uint32(n.Index) + k)
	if n.rng.IntN(2) == 0 {
		// A child of a real chain, at a height that never opened it.
		parent := n.net.Chains[n.rng.IntN(len(n.net.Chains))].ID
		// A child of a real chain, at a height that never opened it: far ahead, or one
		// the parent may well have reached (its block there opened nothing of the kind).
		h := base.BlockHeight(500 + n.rng.IntN(500))
		if n.rng.IntN(2) == 0 {
			h = base.BlockHeight(n.rng.IntN(3))
		}
		origin = protocol.ChainOrigin{IsChild: true, Parent: parent, Height: h, Index: 7 + k}
	}
	committees := []protocol.EpochCommittee{{Epoch: 0, CommitteeHash: fc.committee.Hash()}}
	epoch := base.Epoch(0)
	if fc.forged && n.rng.IntN(2) == 0 {
		// The real committee at epoch 0, the forged one at epoch 1, the chain in epoch 1.
		committees = []protocol.EpochCommittee{{Epoch: 0, CommitteeHash: n.net.Committee.Hash()}, {Epoch: 1, CommitteeHash: fc.committee.Hash()}}
		epoch = 1
	}
	fc.desc = protocol.ChainDescription{
		Origin:     origin,
		Timestamp:  g.Timestamp,
		AdminChain: g.AdminChainID(),
		Committees: committees,
		Config:     protocol.InitialChainConfig{Ownership: protocol.SingleSuperOwner(n.owner()), Epoch: epoch, Balance: forgedBalance},
	}
	fc.id = fc.desc.ID()
	blobs = append(blobs, fc.desc.Blob())
	var b kv.Batch
	for i := range blobs {
		storage.PutBlob(&b, &blobs[i])
	}
	if err := shop.st.Write(n.net.ctx, &b); err != nil {
		return nil, 0, err
	}
	accepted := 0
	for _, m := range n.others() {
		ok := true
		for _, blob := range blobs {
			if err := m.HandleBlob(n.net.ctx, blob); err != nil {
				ok = false
			}
		}
		if ok {
			accepted++
		}
	}
	a.forged = append(a.forged, fc)
	return fc, accepted, nil
}

// forgeAttack forges a chain (or reuses one) and commits a block on it that credits a
// real chain or claims from a victim's account.
func (n *Node) forgeAttack() (string, error) {
	a := n.attackState()
	fc := (*forgedChain)(nil)
	what := ""
	if len(a.forged) == 0 || a.script != nil || n.rng.IntN(3) == 0 {
		var uploaded int
		var err error
		if fc, uploaded, err = n.newForgedChain(); err != nil {
			return "", err
		}
		what = fmt.Sprintf("forged chain %s (forged committee=%v, epoch %d, %s) uploaded to %d validators; ", fc.id.Short(), fc.forged, fc.desc.Config.Epoch, originString(&fc.desc.Origin), uploaded)
	} else {
		fc = a.forged[n.rng.IntN(len(a.forged))]
	}
	shop, err := n.workshop()
	if err != nil {
		return "", err
	}
	me := n.owner()
	signer := me
	var tx protocol.Transaction
	sc := a.script
	if (sc == nil && fc.forged && n.rng.IntN(2) == 0) || (sc != nil && sc.claim) {
		// Claim from a victim's account on a real chain: the block says the victim signed
		// it, and only the forged committee certifies that.
		victim := n.net.Owners[n.rng.IntN(len(n.net.Owners))]
		target := n.net.Chains[n.rng.IntN(len(n.net.Chains))].ID
		to := base.Account{Chain: n.net.Chains[n.rng.IntN(len(n.net.Chains))].ID, Owner: me}
		amount := randomAmount(n.rng, base.Tokens(20))
		if sc != nil {
			victim, target, to, amount = sc.victim, sc.target, sc.credit, sc.amount
		}
		signer = victim.Address()
		tx = protocol.SystemTx(&protocol.Claim{Owner: signer, Target: target, Recipient: to, Amount: amount})
		what += fmt.Sprintf("claim %s from owner%d@%s to %s", amount, victim.Index, target.Short(), accountName(n.net, to))
	} else {
		to := base.Account{Chain: n.net.Chains[n.rng.IntN(len(n.net.Chains))].ID}
		if n.rng.IntN(2) == 0 {
			to.Owner = me
		}
		amount := base.Tokens(100 + uint64(n.rng.IntN(900)))
		if sc != nil {
			to, amount = sc.credit, sc.amount
		}
		tx = protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: to, Amount: amount})
		what += fmt.Sprintf("transfer %s to %s", amount, accountName(n.net, to))
	}
	pb := protocol.ProposedBlock{
		ChainID:            fc.id,
		Epoch:              fc.desc.Config.Epoch,
		Height:             fc.next,
		Timestamp:          n.net.Clock.Now(),
		PreviousBlockHash:  fc.tip,
		AuthenticatedOwner: &signer,
		Transactions:       []protocol.Transaction{tx},
	}
	block, err := shop.w.StageBlock(n.net.ctx, &pb, nil)
	if err != nil {
		// Not a failure of the run: the attacker's tools are the project's worker, which
		// may one day refuse to execute a chain without provenance even here.
		return fmt.Sprintf("%s: the workshop cannot execute forged block %d of %s (%v); attack skipped", what, pb.Height, fc.id.Short(), err), nil
	}
	what += fmt.Sprintf(" in forged block %d of %s", pb.Height, fc.id.Short())
	var cert *protocol.Certificate
	if fc.forged {
		cert = prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, []*crypto.PrivateKey{n.Key})
	} else {
		// The forged chain trusts the real committee: propose the block with the
		// attacker's key (its owner) and collect the honest validators' votes.
		cert, what = n.collectVotes(&pb, block, what)
		if cert == nil {
			return what, nil
		}
	}
	if _, err := shop.w.HandleCertificate(n.net.ctx, cert); err != nil {
		return fmt.Sprintf("%s: the workshop refuses forged block %d of %s (%v); attack skipped", what, pb.Height, fc.id.Short(), err), nil
	}
	fc.certs = append(fc.certs, cert)
	fc.next++
	h := block.Hash()
	fc.tip = &h
	accepted := 0
	for _, m := range n.others() {
		ok := true
		for _, c := range fc.certs {
			if _, err := m.HandleCertificate(n.net.ctx, c); err != nil {
				ok = false
			}
		}
		if ok {
			accepted++
			n.Stats.AttackAccepted++
		}
	}
	return fmt.Sprintf("%s: certificate accepted by %d validators", what, accepted), nil
}

// collectVotes proposes a forged chain's block to the other validators and builds a
// certificate if a quorum votes for it (the attacker's own vote included).
func (n *Node) collectVotes(pb *protocol.ProposedBlock, block *protocol.Block, what string) (*protocol.Certificate, string) {
	p, err := protocol.SignProposal(n.Key, *pb, base.FastRound, nil)
	if err != nil {
		return nil, what + ": cannot sign: " + err.Error()
	}
	want := protocol.LiteValue{ValueHash: block.Hash(), ChainID: pb.ChainID, Height: pb.Height, Kind: protocol.KindConfirmed}
	own := n.sign(want, base.FastRound)
	if own == nil {
		return nil, what + ": cannot vote"
	}
	votes := []protocol.Vote{*own}
	weight := n.net.Committee.Weight(n.Key.Public())
	for _, m := range n.others() {
		info, err := m.HandleBlockProposal(n.net.ctx, p)
		if err != nil || info == nil {
			continue
		}
		v := info.Manager.PendingVote
		if v == nil || v.Value != want || v.Round != base.FastRound || v.Verify() != nil {
			continue
		}
		votes = append(votes, *v)
		weight += n.net.Committee.Weight(v.Validator)
	}
	if weight < n.net.Committee.QuorumThreshold() {
		return nil, fmt.Sprintf("%s: proposed, %d of %d votes", what, weight, n.net.Committee.TotalVotes())
	}
	n.Stats.AttackAccepted++
	return protocol.CertificateFromVotes(protocol.KindConfirmed, block, nil, base.FastRound, votes), what + ": voted by a quorum"
}

func originString(o *protocol.ChainOrigin) string {
	if o.IsChild {
		return fmt.Sprintf("child of %s at height %d", o.Parent.Short(), o.Height)
	}
	return fmt.Sprintf("root %d", o.RootIndex)
}

// --- EquivocatingVotes ---

// recordVote notes a vote the attacker handed out and counts it as an equivocation if
// it signed another value for the same (chain, height, round, kind).
func (n *Node) recordVote(v *protocol.Vote) {
	if v == nil {
		return
	}
	a := n.attackState()
	k := voteKey{n.Index, v.Value.ChainID, v.Value.Height, v.Round, v.Value.Kind}
	if prev, ok := a.votes[k]; !ok {
		a.votes[k] = v.Value.ValueHash
	} else if prev != v.Value.ValueHash {
		n.Stats.Equivocations++
	}
}

// infoFor returns info, or the chain's info from the node's worker when the worker
// refused (the attacker answers anyway).
func (n *Node) infoFor(ctx context.Context, id base.ChainID, info *protocol.ChainInfo) *protocol.ChainInfo {
	if info != nil {
		c := *info
		return &c
	}
	if n.worker == nil {
		return nil
	}
	i, err := n.worker.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id})
	if err != nil {
		return nil
	}
	return i
}

// equivocateProposal answers a proposal with a vote the honest worker would not give: a
// vote for the proposed block even if it voted for another one in this round (or
// refused), a vote of the wrong kind, or a vote for a made-up block at the same height
// and round.
func (n *Node) equivocateProposal(ctx context.Context, p *protocol.BlockProposal, info *protocol.ChainInfo, err error) (*protocol.ChainInfo, error) {
	if info != nil {
		n.recordVote(info.Manager.PendingVote)
	}
	if n.worker == nil || !n.chance(n.params.lie) {
		return info, err
	}
	block := &p.Content.Block
	round := p.Content.Round
	kind := protocol.KindValidated
	if round.IsFast() {
		kind = protocol.KindConfirmed
	}
	var hash base.Hash
	x := n.rng.IntN(3)
	if n.caller%2 == 1 {
		// Different clients get different votes: odd-numbered clients get a vote for a
		// made-up block at the height and round they asked about.
		x = 2
	}
	switch x {
	case 0, 1: // A vote for whatever it is asked about (of the wrong kind, once in two).
		staged, serr := n.worker.StageBlock(ctx, block, p.Blobs)
		if serr != nil {
			return info, err
		}
		hash = staged.Hash()
		if n.rng.IntN(2) == 0 {
			kind = protocol.KindConfirmed + protocol.KindValidated - kind
		}
	default: // A vote for a made-up block at the same height and round.
		hash = n.randomHash()
	}
	out := n.infoFor(ctx, block.ChainID, info)
	if out == nil {
		return info, err
	}
	m := out.Manager
	m.PendingVote = n.sign(protocol.LiteValue{ValueHash: hash, ChainID: block.ChainID, Height: block.Height, Kind: kind}, round)
	out.Manager = m
	n.recordVote(m.PendingVote)
	n.Stats.Lies++
	return out, nil
}

// equivocateValidated answers a validated certificate with a confirmed vote for another
// block at the same height and round, or for the certified block even when its worker
// refused.
func (n *Node) equivocateValidated(ctx context.Context, c *protocol.Certificate, info *protocol.ChainInfo, err error) (*protocol.ChainInfo, error) {
	if info != nil {
		n.recordVote(info.Manager.PendingVote)
	}
	if c.Kind != protocol.KindValidated || c.Block == nil || n.worker == nil || !n.chance(n.params.lie) {
		return info, err
	}
	hash := c.Block.Hash()
	if n.rng.IntN(2) == 0 {
		hash = n.randomHash()
	}
	out := n.infoFor(ctx, c.ChainID(), info)
	if out == nil {
		return info, err
	}
	m := out.Manager
	m.PendingVote = n.sign(protocol.LiteValue{ValueHash: hash, ChainID: c.ChainID(), Height: c.Height(), Kind: protocol.KindConfirmed}, c.Round)
	out.Manager = m
	n.recordVote(m.PendingVote)
	n.Stats.Lies++
	return out, nil
}

// clientLinks gives one client its own view of the validators, so that a validator
// knows which client it answers (an equivocator tells different clients different
// things).
func clientLinks(vs []client.Validator, owner int) []client.Validator {
	out := make([]client.Validator, len(vs))
	for i, v := range vs {
		out[i] = client.Validator{PublicKey: v.PublicKey, Node: &clientLink{node: v.Node.(*Node), owner: owner}}
	}
	return out
}

// clientLink is one client's connection to a validator.
type clientLink struct {
	node  *Node
	owner int
}

var (
	_ client.ValidatorNode      = (*clientLink)(nil)
	_ client.CertificateQuerier = (*clientLink)(nil)
)

// enter marks the validator as answering this client; the returned function ends that.
func (l *clientLink) enter() func() {
	l.node.caller = l.owner
	return func() { l.node.caller = -1 }
}

func (l *clientLink) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	defer l.enter()()
	return l.node.HandleBlockProposal(ctx, p)
}

func (l *clientLink) HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error) {
	defer l.enter()()
	return l.node.HandleCertificate(ctx, c)
}

func (l *clientLink) HandleCertificateQuery(ctx context.Context, c *protocol.Certificate, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	defer l.enter()()
	return l.node.HandleCertificateQuery(ctx, c, q)
}

func (l *clientLink) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	defer l.enter()()
	return l.node.HandleChainInfoQuery(ctx, q)
}

func (l *clientLink) HandleBlob(ctx context.Context, b protocol.Blob) error {
	defer l.enter()()
	return l.node.HandleBlob(ctx, b)
}

func (l *clientLink) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	defer l.enter()()
	return l.node.ReadBlob(ctx, id)
}

func (l *clientLink) Certificates(ctx context.Context, id base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	defer l.enter()()
	return l.node.Certificates(ctx, id, from, to)
}

// --- GarbageAnswers ---

// garbageInfo returns malformed or mismatched chain info.
func (n *Node) garbageInfo(ctx context.Context, info *protocol.ChainInfo) *protocol.ChainInfo {
	if info == nil || !n.chance(n.params.lie) {
		return info
	}
	n.Stats.Lies++
	c := *info
	m := c.Manager
	switch n.rng.IntN(6) {
	case 0: // Another chain's info (genuine, for the wrong chain).
		other := n.net.Chains[n.rng.IntN(len(n.net.Chains))].ID
		if i, err := n.worker.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: other, RequestPendingBundles: true}); err == nil {
			return i
		}
		c.ChainID = other
	case 1: // Empty.
		return &protocol.ChainInfo{}
	case 2: // Huge bogus heights.
		heights := []base.BlockHeight{math.MaxUint64, math.MaxUint64 - 1, 1 << 62, c.NextBlockHeight + 1_000_000}
		c.NextBlockHeight = heights[n.rng.IntN(len(heights))]
		if n.rng.IntN(2) == 0 {
			c.ReceivedLogLength = math.MaxUint64
		}
	case 3: // The vote with a broken signature.
		if v := m.PendingVote; v != nil {
			w := *v
			b := w.Signature.Bytes()
			if len(b) > 0 {
				b[n.rng.IntN(len(b))] ^= 1 << n.rng.IntN(8)
			}
			if sig, err := crypto.NewSignature(w.Signature.Scheme(), b); err == nil && n.rng.IntN(2) == 0 {
				w.Signature = sig
			} else if other := n.sign(protocol.LiteValue{ValueHash: n.randomHash(), ChainID: v.Value.ChainID, Height: v.Value.Height, Kind: v.Value.Kind}, v.Round); other != nil {
				w.Signature = other.Signature // a signature of another value
			}
			m.PendingVote = &w
		}
	case 4: // The vote claiming another validator's key.
		if v := m.PendingVote; v != nil {
			w := *v
			others := n.others()
			w.Validator = others[n.rng.IntN(len(others))].Key.Public()
			m.PendingVote = &w
		}
	default: // A vote for the next height, and the tip of another height.
		if v := m.PendingVote; v != nil {
			lv := v.Value
			lv.Height++
			m.PendingVote = n.sign(lv, v.Round)
		}
		c.NextBlockHeight++
	}
	c.Manager = m
	return &c
}

// garbageCertificates returns certificates of other heights or chains, or duplicates.
func (n *Node) garbageCertificates(ctx context.Context, id base.ChainID, from, to base.BlockHeight, cs []*protocol.Certificate) []*protocol.Certificate {
	if !n.chance(n.params.lie) {
		return cs
	}
	n.Stats.Lies++
	switch n.rng.IntN(5) {
	case 0: // Other heights of the same chain.
		shift := base.BlockHeight(1 + n.rng.IntN(3))
		if from >= shift && n.rng.IntN(2) == 0 {
			from -= shift
		} else {
			from += shift
		}
		if out, err := n.worker.Certificates(ctx, id, from, from+max(to-from, 1)); err == nil && len(out) > 0 {
			return out
		}
		return nil
	case 1: // Another chain's certificates.
		other := n.net.Chains[n.rng.IntN(len(n.net.Chains))].ID
		if out, err := n.worker.Certificates(ctx, other, 0, 10); err == nil {
			return out
		}
		return nil
	case 3: // A made-up next block, certified by the attacker alone.
		info, err := n.worker.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id})
		if err != nil {
			return cs
		}
		block := n.fakeExecutedBlock(info)
		v := n.sign(protocol.LiteValue{ValueHash: block.Hash(), ChainID: id, Height: block.Height(), Kind: protocol.KindConfirmed}, base.FastRound)
		if v == nil {
			return cs
		}
		return append(slices.Clone(cs), protocol.CertificateFromVotes(protocol.KindConfirmed, block, nil, base.FastRound, []protocol.Vote{*v}))
	case 2: // Duplicates, out of order.
		out := slices.Clone(cs)
		for i := 0; i < len(cs); i++ {
			out = append(out, cs[n.rng.IntN(len(cs))])
		}
		slices.Reverse(out)
		return out
	}
	return n.lieCertificates(cs)
}

// garbageBlob returns a blob whose content does not match the id asked for.
func (n *Node) garbageBlob(ctx context.Context, id base.BlobID, b protocol.Blob) protocol.Blob {
	if !n.chance(n.params.lie) {
		return b
	}
	n.Stats.Lies++
	switch n.rng.IntN(3) {
	case 0:
		return n.lieBlob(b)
	case 1: // Another blob: the genesis committee, or a root chain's description.
		if n.rng.IntN(2) == 0 {
			return n.net.Committee.Blob()
		}
		d := n.net.Genesis.Descriptions()
		return d[n.rng.IntN(len(d))].Blob()
	}
	return protocol.NewBlob(id.Type, nil)
}

// --- BundlesFromNowhere ---

// nowhereInfo replaces the pending bundles a client asked for with bundles that no
// block sent.
func (n *Node) nowhereInfo(info *protocol.ChainInfo, asked bool) *protocol.ChainInfo {
	if info == nil || !asked || !n.chance(n.params.lie) {
		return info
	}
	n.Stats.Lies++
	c := *info
	var out []protocol.IncomingBundle
	if n.rng.IntN(2) == 0 {
		out = slices.Clone(c.RequestedPendingBundles) // keep the real ones, or hide them
	}
	for k := 1 + n.rng.IntN(2); k > 0; k-- {
		b := n.bogusBundle()
		if a := n.atk; a != nil && len(a.forged) > 0 && n.rng.IntN(2) == 0 {
			b.Origin = a.forged[n.rng.IntN(len(a.forged))].id
		}
		out = append(out, b)
	}
	c.RequestedPendingBundles = out
	return &c
}
