package client

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// sendProposal sends a proposal to the members of m (the committee of the block's
// epoch) and turns a quorum of their votes into a certificate: confirmed in the fast
// round, validated otherwise (then finalize makes it confirmed). The certificate is
// published and checked by the local node before it is returned. enc is p's canonical
// encoding if the caller holds it (nil: it is made here, once for all validators).
// toQuorum sends it to the chain's quorum subset first (proposalToQuorum, ADR 0006); the
// certificate goes to every member either way.
func (cc *ChainClient) sendProposal(ctx context.Context, m members, p *protocol.BlockProposal, enc []byte, target *protocol.Block, toQuorum bool) (*protocol.Certificate, error) {
	c := cc.c
	kind := protocol.KindValidated
	if p.Content.Round.IsFast() {
		kind = protocol.KindConfirmed
	}
	want := protocol.LiteValue{ValueHash: target.Hash(), ChainID: cc.id, Height: target.Height(), Kind: kind}
	ask := m
	var st *staged
	if toQuorum {
		ask, st = c.proposalToQuorum(m, cc.id)
	}
	as := fanoutStaged(withEncoded(ctx, p, enc), c, ask, func(ctx context.Context, v Validator) (*protocol.Vote, error) {
		vote, err := cc.proposeTo(ctx, v, p, want)
		c.noteProposalCall(v, err)
		return vote, err
	}, func(v *protocol.Vote) bool { return v != nil }, c.vetVotes, st)
	cert, err := cc.certificateFrom(m, as, kind, target, p.Content.Round)
	if err != nil {
		return nil, err
	}
	if kind == protocol.KindValidated {
		return cc.finalize(ctx, m, cert, p.Blobs...)
	}
	if err := cc.publish(ctx, m, cert, p.Blobs); err != nil {
		return nil, err
	}
	cc.clearFast(cert.Height())
	return cert, nil
}

// proposeTo sends proposal p to v and returns v's vote for want, updating v first if it
// lags.
func (cc *ChainClient) proposeTo(ctx context.Context, v Validator, p *protocol.BlockProposal, want protocol.LiteValue) (*protocol.Vote, error) {
	c := cc.c
	cc.awaitCertificateCall(ctx, v)
	info, err := v.Node.HandleBlockProposal(ctx, p)
	// A validator that lags is updated and asked again; not if the block's height
	// is certified meanwhile (the quorum's certificate overtook this proposal on
	// its way to a slower validator, which is now past the height: updating it and
	// asking again, twice, only cost it a chain-state query and two refusals).
	for try := 0; err != nil && needsUpdate(err) && !cc.certified(p.Content.Block.Height) &&
		(try < 2 || c.waitsForBundle(err) && try < maxBundleWaits); try++ {
		if c.waitsForBundle(err) && try > 0 {
			// The validator holds the sender's block (the update pushed it) but
			// has not delivered its bundle to this chain's inbox yet: delivery is
			// asynchronous inside the validator. Give it a moment, growing, rather
			// than give up on this validator after two immediate tries (which,
			// for two validators at once, left the block without a quorum).
			if !sleepCtx(ctx, bundleWait<<(try-1)) {
				break
			}
		}
		uerr := c.updateValidator(ctx, v, &p.Content.Block, p.Blobs)
		if mb, ok := errorsAs[*execution.MissingBlobError](uerr); ok && mb.ID.Type == base.BlobCommittee {
			// Replaying the chain's epoch change needs the committee, which the
			// admin chain's block created: push the admin chain, then the chain.
			if uerr = c.pushAdminChain(ctx, v, cc.id); uerr == nil {
				uerr = c.updateValidator(ctx, v, &p.Content.Block, p.Blobs)
			}
		}
		if me, ok := errorsAs[*execution.MissingEventError](err); ok && uerr == nil {
			// The validator lags on the chain that emitted the event (the admin
			// chain for epoch changes): push it up to our view of that chain.
			if tip, terr := c.LocalTip(ctx, me.ID.Chain); terr == nil {
				uerr = c.updateChainTo(ctx, v, me.ID.Chain, tip.NextHeight, 0)
			}
		}
		if uerr != nil {
			break
		}
		info, err = v.Node.HandleBlockProposal(ctx, p)
	}
	if err != nil {
		return nil, err
	}
	return cc.voteFrom(v, info.Manager.PendingVote, want, p.Content.Round)
}

// A validator that lacks an incoming bundle of a proposal is asked again up to
// maxBundleWaits times, waiting bundleWait, then twice as long each time (about 0.25 s in
// all).
const (
	maxBundleWaits = 8
	bundleWait     = 2 * time.Millisecond
)

// waitsForBundle reports whether a validator's refusal is one to wait out: a bundle
// not delivered yet, with validators that deliver on their own (not the simulator's,
// which steps them itself).
func (c *Client) waitsForBundle(err error) bool { return chain.IsMissing(err) && !c.cfg.Sequential }

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pushAdminChain makes v execute the admin chain of chain id up to the local replica's
// tip of it: a validator of a new committee learns the committees from there.
func (c *Client) pushAdminChain(ctx context.Context, v Validator, id base.ChainID) error {
	admin, err := c.adminChain(ctx, id)
	if err != nil {
		return err
	}
	tip, err := c.LocalTip(ctx, admin)
	if err != nil {
		return err
	}
	return c.updateChainTo(ctx, v, admin, tip.NextHeight, 0)
}

// finalize sends a validated certificate and turns a quorum of confirmed votes into a
// confirmed certificate, then publishes it. carried are the blobs the proposal carried,
// if the caller has them.
func (cc *ChainClient) finalize(ctx context.Context, m members, validated *protocol.Certificate, carried ...protocol.Blob) (*protocol.Certificate, error) {
	c := cc.c
	want := validated.LiteValue()
	want.Kind = protocol.KindConfirmed
	as := c.collectVotes(withEncoding(ctx, validated), m, func(ctx context.Context, v Validator) (*protocol.Vote, error) {
		info, err := c.handleCertificate(ctx, v, validated, nil)
		if err != nil {
			return nil, err
		}
		return cc.voteFrom(v, info.Manager.PendingVote, want, validated.Round)
	})
	cert, err := cc.certificateFrom(m, as, protocol.KindConfirmed, validated.Block, validated.Round)
	if err != nil {
		return nil, err
	}
	if err := cc.publish(ctx, m, cert, carried); err != nil {
		return nil, err
	}
	cc.clearFast(cert.Height())
	return cert, nil
}

func (cc *ChainClient) clearFast(h base.BlockHeight) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.pendingFast != nil && cc.pendingFast.Content.Block.Height <= h {
		cc.pendingFast = nil
	}
}

// voteFrom checks that a validator's vote is the one we asked for, from that
// validator. Its signature is checked later, with those of a quorum's other votes in one
// batch (verifyVotes, by fanoutVetted): a vote that fails then counts for nothing. A
// vote for another outcome of the block is checked at once, as it is the evidence of a
// disagreement.
func (cc *ChainClient) voteFrom(v Validator, vote *protocol.Vote, want protocol.LiteValue, round base.Round) (*protocol.Vote, error) {
	if vote != nil && vote.Round == round && vote.Validator == v.PublicKey && vote.Value.ChainID == want.ChainID &&
		vote.Value.Height == want.Height && vote.Value.Kind == want.Kind && vote.Value.ValueHash != want.ValueHash && cc.c.verifyVote(vote) == nil {
		// A genuine vote for another outcome of the block: the validator's execution
		// differed from ours (oracle responses).
		return nil, &otherVoteError{validator: v.PublicKey, value: vote.Value.ValueHash}
	}
	if vote == nil || vote.Value != want || vote.Round != round || vote.Validator != v.PublicKey {
		return nil, fmt.Errorf("%w: validator %s did not vote for the block", base.ErrRetryable, v.PublicKey)
	}
	return vote, nil
}

// collectVotes fans fn out to m and returns the answers, the votes among them checked
// as fanoutVetted does: the signatures of the first quorum of votes in one batch.
func (c *Client) collectVotes(ctx context.Context, m members, fn func(ctx context.Context, v Validator) (*protocol.Vote, error)) []answer[*protocol.Vote] {
	return fanoutVetted(ctx, c, m, fn, func(v *protocol.Vote) bool { return v != nil }, c.verifyVotes)
}

// verifyVote verifies a vote's signature with the client's key cache.
func (c *Client) verifyVote(v *protocol.Vote) error {
	vv := protocol.VoteValue{ValueHash: v.Value.ValueHash, Round: v.Round, Kind: v.Value.Kind}
	if err := c.keys.Verify(v.Validator, vv.SigningHash(), v.Signature); err != nil {
		return fmt.Errorf("vote from %s: %w", v.Validator, err)
	}
	return nil
}

// verifyVotes verifies the signatures of votes in one batch (same rules as verifyVote)
// and returns one error per vote: all nil if the batch verifies, otherwise each vote's
// own verdict.
func (c *Client) verifyVotes(votes []*protocol.Vote) []error {
	errs := make([]error, len(votes))
	b := c.keys.NewBatchVerifier(len(votes))
	for _, v := range votes {
		vv := protocol.VoteValue{ValueHash: v.Value.ValueHash, Round: v.Round, Kind: v.Value.Kind}
		b.Add(v.Validator, vv.SigningHash(), v.Signature)
	}
	if b.Verify() == nil {
		return errs
	}
	for i, v := range votes {
		errs[i] = c.verifyVote(v)
	}
	return errs
}

// certificateFrom assembles a certificate from the good votes of m's committee (the
// committee of the block's epoch), or explains why not. Votes of anyone else count for
// nothing, and so do votes whose signature was not verified (collectVotes verifies those
// of the first quorum; later ones are not needed).
func (cc *ChainClient) certificateFrom(m members, as []answer[*protocol.Vote], kind protocol.CertificateKind, block *protocol.Block, round base.Round) (*protocol.Certificate, error) {
	committee := m.committee
	var votes []protocol.Vote
	var weight, refused uint64
	for _, a := range as {
		w := committee.Weight(a.v.PublicKey)
		if w == 0 {
			continue
		}
		if a.err != nil {
			if isRefusal(a.err) {
				refused += w
			}
			continue
		}
		if a.val != nil && a.vetted {
			votes = append(votes, *a.val)
			weight += w
		}
	}
	if weight < committee.QuorumThreshold() {
		// Only a block that consults oracles can execute differently on honest
		// validators; otherwise a vote for another outcome is Byzantine, and the
		// failure is an ordinary (retryable) lack of quorum.
		if usesOracles(block) {
			if d := disagreement(committee, as, block, weight); d != nil {
				return nil, d
			}
		}
		err := firstError(as)
		if refused >= committee.ValidityThreshold() && err != nil {
			return nil, err // refused by at least one honest validator: the block is invalid
		}
		return nil, fmt.Errorf("%w (%d of %d votes): %v", ErrNoQuorum, weight, committee.TotalVotes(), err)
	}
	cert := protocol.CertificateFromVotes(kind, block, nil, round, votes)
	// Every vote was verified (collectVotes): a signature of its validator on this value
	// and round, which is what the certificate's signatures are checked against. What is
	// left to check is the assembly: sorted distinct signers, members of the committee,
	// a quorum. The local node does not verify the signatures again either (publish).
	lite := cert.Lite()
	if err := lite.AddTo(crypto.NewBatchVerifier(len(cert.Signatures)), committee); err != nil {
		return nil, err
	}
	return cert, nil
}

// ErrValidatorsDisagree: validators voted for different outcomes of the same proposed
// block (their executions consulted oracles that answered them differently) and no
// outcome has a quorum. The error is a *DisagreementError. It is not retryable as is:
// re-proposing the block makes validators consult the oracles again.
var ErrValidatorsDisagree = errors.New("validators disagree on the block's outcome")

// DisagreementError says how validators' votes split over the outcomes of a block.
type DisagreementError struct {
	Height base.BlockHeight
	Ours   base.Hash // the block as the client's node executed it
	// Votes is the weight that voted for each outcome, Ours first, then the others by
	// decreasing weight (ties by hash).
	Votes  []OutcomeVotes
	Total  uint64
	Quorum uint64
}

// OutcomeVotes is the weight that voted for one outcome.
type OutcomeVotes struct {
	Block  base.Hash
	Weight uint64
}

func (e *DisagreementError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "validators disagree on the block's outcome (oracle responses differ) at height %d: ", e.Height)
	if len(e.Votes) > 1 && e.Quorum > 0 && e.Votes[1].Weight >= e.Quorum {
		// Not finished: the client cannot fetch the outcome the quorum computed (no
		// validator request returns a voted block's outcome), so it cannot certify it.
		fmt.Fprintf(&b, "a quorum (%d of %d) voted for block %s, which differs from this node's execution (%s); ",
			e.Votes[1].Weight, e.Total, e.Votes[1].Block.Short(), e.Ours.Short())
	}
	for i, v := range e.Votes {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 0 {
			fmt.Fprintf(&b, "%d of %d votes for block %s (as executed here)", v.Weight, e.Total, v.Block.Short())
		} else {
			fmt.Fprintf(&b, "%d for %s", v.Weight, v.Block.Short())
		}
	}
	b.WriteString("; no quorum")
	return b.String()
}

// Is matches ErrValidatorsDisagree.
func (e *DisagreementError) Is(target error) bool { return target == ErrValidatorsDisagree }

// otherVoteError: a validator voted for another outcome of the block.
type otherVoteError struct {
	validator crypto.PublicKey
	value     base.Hash
}

func (e *otherVoteError) Error() string {
	return fmt.Sprintf("validator %s voted for another outcome of the block (%s)", e.validator, e.value.Short())
}

func (e *otherVoteError) Is(target error) bool { return target == base.ErrRetryable }

// disagreement returns a *DisagreementError if members of committee voted for other
// outcomes of block than ours (which has weight votes), nil otherwise.
func disagreement(committee *protocol.Committee, as []answer[*protocol.Vote], block *protocol.Block, weight uint64) error {
	others := map[base.Hash]uint64{}
	for _, a := range as {
		var ov *otherVoteError
		if w := committee.Weight(a.v.PublicKey); w > 0 && errors.As(a.err, &ov) {
			others[ov.value] += w
		}
	}
	if len(others) == 0 {
		return nil
	}
	ours := block.Hash()
	d := &DisagreementError{Height: block.Height(), Ours: ours, Votes: []OutcomeVotes{{Block: ours, Weight: weight}}, Total: committee.TotalVotes(), Quorum: committee.QuorumThreshold()}
	var rest []OutcomeVotes
	for h, w := range others {
		rest = append(rest, OutcomeVotes{Block: h, Weight: w})
	}
	slices.SortFunc(rest, func(a, b OutcomeVotes) int {
		if a.Weight != b.Weight {
			return cmp.Compare(b.Weight, a.Weight)
		}
		return bytes.Compare(a.Block[:], b.Block[:])
	})
	d.Votes = append(d.Votes, rest...)
	return d
}

// ErrLocalRefused: the client's own node refused a certificate the client assembled, so
// the block is not confirmed as far as this client can tell. The wrapped error says why.
var ErrLocalRefused = errors.New("the local node refused the certificate")

// publish executes a confirmed certificate on the local node (which checks it against the
// committee the chain trusts for the block's epoch) and sends it to the members of m. A
// certificate the local node refuses is still sent (validators check it themselves) but
// is reported as an error: the caller never hears "confirmed" for it. carried are the
// blobs the proposal carried: the local node takes those the verified certificate
// publishes; any others it fetches from the validators once they hold the certificate.
//
// The broadcast asks the query of the chain's next block (nextQuery) if the local node
// executed the block; the answers are kept for that block (keepNext, nextstate.go).
func (cc *ChainClient) publish(ctx context.Context, m members, cert *protocol.Certificate, carried []protocol.Blob) error {
	c := cc.c
	// The client assembled cert from votes it verified against m.committee
	// (collectVotes, certificateFrom): the local node checks that this is the committee the
	// chain trusts for the block's epoch and does not verify the signatures again.
	// Whatever it refuses (a blob to fetch first...) goes the general way.
	// One encoding for the local store and every validator.
	enc := codec.Marshal(cert)
	_, lerr := c.cfg.Local.HandleVerifiedEncodedCertificate(ctx, cert, enc, m.committee)
	if lerr != nil {
		lerr = c.processLocally(ctx, cert, carried...)
	}
	var q *protocol.ChainInfoQuery
	if lerr == nil {
		cc.markCertified(cert.Height())
		q = cc.nextQuery(ctx, cert)
	}
	if replies := c.broadcastCertificate(ctx, m, cert, enc, q, cc.trackCertificateCalls(m)); q != nil {
		c.keepNext(m, cert, q, replies)
	}
	if errors.Is(lerr, worker.ErrBlobsNotFound) {
		// The validators now hold the certificate and the blobs it publishes.
		lerr = c.processLocally(ctx, cert, carried...)
	}
	if lerr != nil {
		return fmt.Errorf("%w: block %d of chain %s: %w", ErrLocalRefused, cert.Height(), cert.ChainID().Short(), lerr)
	}
	cc.markCertified(cert.Height())
	return nil
}

// markCertified records that the client holds a confirmed certificate of the chain at
// height h, which its local node accepted.
func (cc *ChainClient) markCertified(h base.BlockHeight) {
	for {
		old := cc.certifiedBelow.Load()
		if uint64(h) < old || cc.certifiedBelow.CompareAndSwap(old, uint64(h)+1) {
			return
		}
	}
}

// certified reports whether the client holds a confirmed certificate of the chain at
// height h or above (markCertified).
func (cc *ChainClient) certified(h base.BlockHeight) bool {
	return uint64(h) < cc.certifiedBelow.Load()
}

// trackCertificateCalls records that the certificate of the chain's latest block is on
// its way to the validators of m, and returns the calls for the broadcast to report to.
func (cc *ChainClient) trackCertificateCalls(m members) certificateCalls {
	cur := &certificateBroadcast{calls: make([]certificateCall, len(m.validators))}
	for i, v := range m.validators {
		cur.calls[i].key = v.PublicKey
	}
	cc.mu.Lock()
	prev := cc.certCalls
	cc.certCalls = cur
	cc.mu.Unlock()
	return certificateCalls{prev: prev, cur: cur}
}

// certificateCalls are the calls of one certificate broadcast of a chain (publish), and
// those of the chain's broadcast before it. The calls to one validator go in order:
// each waits for the one before it (start) and reports when it ends (end). The
// broadcast returns once a quorum has answered, so without this the certificate of the
// next block, or the next block's proposal (awaitCertificateCall), could overtake the
// certificate on its way to a slower validator, be refused there, and cost a
// chain-state query and the certificate pushed again (updateValidator) instead of a
// short wait. Only the chain's latest broadcast is kept (ChainClient.certCalls). The
// zero value tracks nothing.
type certificateCalls struct {
	prev, cur *certificateBroadcast
}

// certificateBroadcast is the calls of one certificate broadcast, one per validator.
type certificateBroadcast struct {
	calls []certificateCall
}

// call returns the broadcast's call to the validator with key k, nil if none (or if b
// is nil).
func (b *certificateBroadcast) call(k crypto.PublicKey) *certificateCall {
	if b == nil {
		return nil
	}
	for i := range b.calls {
		if b.calls[i].key == k {
			return &b.calls[i]
		}
	}
	return nil
}

// certificateCall is a certificate broadcast's call to one validator. Its channel is
// made only if someone waits while it runs (most calls end before the next block's
// calls to the same validator start).
type certificateCall struct {
	key   crypto.PublicKey
	mu    sync.Mutex
	ended bool
	done  chan struct{} // nil until a waiter needs it; closed when the call ends
}

// start waits for the previous broadcast's call to v to end, or ctx to end.
func (b certificateCalls) start(ctx context.Context, v Validator) {
	b.prev.call(v.PublicKey).wait(ctx)
}

// end records that the call to v has ended.
func (b certificateCalls) end(v Validator) {
	if call := b.cur.call(v.PublicKey); call != nil {
		call.mu.Lock()
		if !call.ended {
			call.ended = true
			if call.done != nil {
				close(call.done)
			}
		}
		call.mu.Unlock()
	}
}

// wait waits until the call ends or ctx ends; a nil call has ended.
func (call *certificateCall) wait(ctx context.Context) {
	if call == nil {
		return
	}
	call.mu.Lock()
	if call.ended {
		call.mu.Unlock()
		return
	}
	if call.done == nil {
		call.done = make(chan struct{})
	}
	done := call.done
	call.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// awaitCertificateCall waits until the broadcast of the chain's latest certificate to v
// has ended (or ctx ends): a proposal for the next block must not overtake it
// (certificateCalls).
func (cc *ChainClient) awaitCertificateCall(ctx context.Context, v Validator) {
	cc.mu.Lock()
	call := cc.certCalls.call(v.PublicKey)
	cc.mu.Unlock()
	call.wait(ctx)
}

// handleCertificate sends a certificate to v, pushing what v lacks and retrying once.
// q, if not nil, is asked with it if v takes queries with certificates
// (CertificateQuerier).
func (c *Client) handleCertificate(ctx context.Context, v Validator, cert *protocol.Certificate, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	send := v.Node.HandleCertificate
	if cq, ok := v.Node.(CertificateQuerier); ok && q != nil {
		send = func(ctx context.Context, cert *protocol.Certificate) (*protocol.ChainInfo, error) {
			return cq.HandleCertificateQuery(ctx, cert, q)
		}
	}
	info, err := send(ctx, cert)
	if err == nil || !needsUpdate(err) || cert.Kind == protocol.KindTimeout {
		return info, err
	}
	if uerr := c.updateValidator(ctx, v, &cert.Block.Proposed, nil); uerr != nil {
		return nil, err
	}
	return send(ctx, cert)
}

// requestTimeout asks the members of the committee of the chain's current epoch for
// timeout votes on a round and, with a quorum, moves them to the next round. It reports
// whether the round moved.
func (cc *ChainClient) requestTimeout(ctx context.Context, height base.BlockHeight, round base.Round) (bool, error) {
	c := cc.c
	epoch, m, err := cc.currentMembers(ctx)
	if err != nil {
		return false, err
	}
	as := fanout(ctx, c, m, func(ctx context.Context, v Validator) (*protocol.Vote, error) {
		info, err := queryInfo(ctx, v, m.committee, &protocol.ChainInfoQuery{ChainID: cc.id, RequestLeaderTimeout: &protocol.LeaderTimeoutRequest{Height: height, Round: round}})
		if err != nil {
			return nil, err
		}
		tv := info.Manager.TimeoutVote
		if tv == nil || tv.Round != round || tv.Value.Kind != protocol.KindTimeout || tv.Value.ChainID != cc.id || tv.Value.Height != height || tv.Validator != v.PublicKey {
			return nil, nil
		}
		return tv, tv.Verify()
	}, func(v *protocol.Vote) bool { return v != nil })
	// Only votes for the timeout value we expect count: a Byzantine validator's vote for
	// a made-up value is ignored.
	timeout := &protocol.Timeout{ChainID: cc.id, Height: height, Epoch: epoch}
	hash := timeout.Hash()
	var votes []protocol.Vote
	var weight uint64
	for _, a := range as {
		if a.err == nil && a.val != nil && a.val.Value.ValueHash == hash {
			votes = append(votes, *a.val)
			weight += m.committee.Weight(a.v.PublicKey)
		}
	}
	if weight < m.committee.QuorumThreshold() {
		return false, nil
	}
	cert := protocol.CertificateFromVotes(protocol.KindTimeout, nil, timeout, round, votes)
	if err := cert.Check(m.committee); err != nil {
		return false, err
	}
	fanout(ctx, c, m, func(ctx context.Context, v Validator) (*protocol.ChainInfo, error) {
		return v.Node.HandleCertificate(ctx, cert)
	}, nil)
	return true, nil
}

// RequestTimeout asks the validators to time out the chain's current round at its next
// height, and reports whether the round moved. Validators sign only once the round's
// deadline has passed on their clocks.
func (cc *ChainClient) RequestTimeout(ctx context.Context) (bool, error) {
	next, ans, err := cc.c.syncChain(ctx, cc.stateQuery())
	if err != nil {
		return false, err
	}
	epoch, m, err := cc.currentMembers(ctx)
	if err != nil {
		return false, err
	}
	var st *roundState
	if proposed := (&protocol.ProposedBlock{ChainID: cc.id, Height: next}); ans.epoch == epoch {
		st, err = cc.roundStateFrom(ctx, m, proposed, ans.as)
	} else {
		st, err = cc.roundState(ctx, m, proposed)
	}
	if err != nil {
		return false, err
	}
	return cc.requestTimeout(ctx, next, st.round)
}

// usesOracles reports whether b consulted an oracle, which the fast round forbids; blob
// reads do not count (execution.IsOracle).
func usesOracles(b *protocol.Block) bool { return execution.UsesOracles(b.Outcome.OracleResponses) }

// isRefusal reports whether a validator refused a block for what it is (an invalid
// operation, a bad signature), as opposed to because it lags or is in another round.
func isRefusal(err error) bool {
	if !base.IsInvalid(err) || errors.Is(err, base.ErrRetryable) {
		return false
	}
	for _, lag := range []error{worker.ErrWrongHeight, consensus.ErrWrongHeight, consensus.ErrWrongRound, consensus.ErrRoundTooLow,
		consensus.ErrNotNewerThanLock, consensus.ErrIncompatibleConfirmedVote, consensus.ErrAlreadyHandled} {
		if errors.Is(err, lag) {
			return false
		}
	}
	return true
}
