package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// pendingBundles returns the bundles waiting in the chain's inboxes that at least f+1
// weight of validators at the chain's current height report (so at least one honest
// validator holds each), ordered by origin then cursor.
func (cc *ChainClient) pendingBundles(ctx context.Context, m members, height base.BlockHeight) []protocol.IncomingBundle {
	return cc.pendingBundlesCounted(ctx, m, height, nil)
}

// pendingBundlesCounted is pendingBundles that, with sf, records there what it could not
// count.
func (cc *ChainClient) pendingBundlesCounted(ctx context.Context, m members, height base.BlockHeight, sf *inboxShortfall) []protocol.IncomingBundle {
	as := fanout(withDecodeMemo(ctx), cc.c, m, func(ctx context.Context, v Validator) (*protocol.ChainInfo, error) {
		return queryInfo(ctx, v, m.committee, &protocol.ChainInfoQuery{ChainID: cc.id, RequestPendingBundles: true})
	}, nil)
	return cc.countPending(m, height, as, sf)
}

// pendingBundlesFrom is pendingBundles over answers already received (to a query with
// RequestPendingBundles): only those of m's committee count.
func (cc *ChainClient) pendingBundlesFrom(m members, height base.BlockHeight, as []answer[*protocol.ChainInfo]) []protocol.IncomingBundle {
	return cc.countPending(m, height, as, nil)
}

// countPending is pendingBundlesFrom that, with sf, also records there what it could not
// count (inboxShortfall).
func (cc *ChainClient) countPending(m members, height base.BlockHeight, as []answer[*protocol.ChainInfo], sf *inboxShortfall) []protocol.IncomingBundle {
	committee := m.committee
	// Bundles are told apart by their canonical bytes, encoded into one scratch writer
	// and, for each distinct bundle, copied once into chunks of pendingChunk bytes: a
	// bundle every validator reports costs one entry and its bytes once, and no
	// allocation of its own. They are found by a hash of the bytes under a seed of this
	// process (which nobody sending bundles knows: no crafted collisions), then
	// compared.
	type entry struct {
		b    *protocol.IncomingBundle
		w    uint64
		n    int    // validators
		enc  []byte // its bytes
		next int    // the next entry of the same hash; -1: none
	}
	// Answers decoded with one memo (rpc.Node, DecodeMemoOf) share their bundles' slice
	// when the validators reported the same bytes: each such slice is counted once,
	// with the weight of all the validators that reported it.
	type report struct {
		bundles []protocol.IncomingBundle
		w       uint64
		n       int // validators
	}
	reports := make([]report, 0, len(as))
	most := 0
	for _, a := range as {
		if a.err != nil || a.val == nil || a.val.ChainID != cc.id {
			continue
		}
		bs := a.val.RequestedPendingBundles
		if len(bs) == 0 || len(bs) > protocol.MaxListedPendingBundles {
			// Over the bound no validator lists past: a lie, not counted bundle by
			// bundle (each would cost a map entry and a copy of its bytes).
			continue
		}
		weight := committee.Weight(a.v.PublicKey)
		if a.val.NextBlockHeight != height {
			if sf != nil && a.val.NextBlockHeight < height && weight > 0 {
				sf.behind = append(sf.behind, a.v)
			}
			continue
		}
		one := 0 // validators of the committee
		if weight > 0 {
			one = 1
		}
		shared := false
		for i := range reports {
			if r := &reports[i]; len(r.bundles) == len(bs) && &r.bundles[0] == &bs[0] {
				r.w += weight
				r.n += one
				shared = true
				break
			}
		}
		if !shared {
			reports = append(reports, report{bundles: bs, w: weight, n: one})
			most = max(most, len(bs))
		}
	}
	if len(reports) == 1 && reports[0].w >= committee.ValidityThreshold() {
		// One list, reported with enough weight (every validator answered with the same
		// bytes): all of it counts, as below, without telling bundles apart by their
		// bytes; duplicates (same origin and cursor) are dropped below as there.
		return sortPending(slices.Clone(reports[0].bundles))
	}
	seen := make(map[uint64]int, most) // the latest entry of each hash
	entries := make([]entry, 0, most)
	var chunk []byte // filled up to its capacity, then replaced
	w := codec.AcquireWriter()
	defer codec.ReleaseWriter(w)
	for _, r := range reports {
		for i := range r.bundles {
			b := &r.bundles[i]
			w.Reset()
			b.Encode(w)
			enc := w.Bytes()
			h := maphash.Bytes(pendingSeed, enc)
			head, ok := seen[h]
			j := -1
			for e := head; ok && e >= 0; e = entries[e].next {
				if bytes.Equal(entries[e].enc, enc) {
					j = e
					break
				}
			}
			if j < 0 {
				next := -1
				if ok {
					next = head
				}
				if cap(chunk)-len(chunk) < len(enc) {
					chunk = make([]byte, 0, max(pendingChunk, len(enc)))
				}
				start := len(chunk)
				chunk = append(chunk, enc...)
				j = len(entries)
				entries = append(entries, entry{b: b, enc: chunk[start:len(chunk):len(chunk)], next: next})
				seen[h] = j
			}
			entries[j].w += r.w
			entries[j].n += r.n
		}
	}
	var out []protocol.IncomingBundle
	for i := range entries {
		e := &entries[i]
		if e.w >= committee.ValidityThreshold() {
			if out == nil {
				out = make([]protocol.IncomingBundle, 0, len(entries)-i)
			}
			out = append(out, *e.b)
		} else if sf != nil && e.w > 0 {
			sf.uncounted(e.b, e.n)
		}
	}
	return sortPending(out)
}

// pendingSeed is the seed of countPending's hashes of bundles.
var pendingSeed = maphash.MakeSeed()

// pendingChunk is the size of the chunks countPending copies bundles' bytes into: small
// objects (a few bundles' worth each), not one array that doubles.
const pendingChunk = 8 << 10

// sortPending sorts bundles by origin then cursor, keeping the first of those with the
// same origin and cursor (equivocating reports are dropped).
func sortPending(out []protocol.IncomingBundle) []protocol.IncomingBundle {
	slices.SortStableFunc(out, func(a, b protocol.IncomingBundle) int {
		if c := a.Origin.Compare(b.Origin); c != 0 {
			return c
		}
		return a.Bundle.Cursor().Compare(b.Bundle.Cursor())
	})
	return slices.CompactFunc(out, func(a, b protocol.IncomingBundle) bool {
		return a.Origin == b.Origin && a.Bundle.Cursor() == b.Bundle.Cursor()
	})
}

// blockOverhead bounds the encoded size of a block's fields other than its transactions
// and of the proposal around it (round, signature, key).
const blockOverhead = 4096

// fitBundles returns the oldest of the pending bundles that fit in one block beside ops
// under the policy's limits: transactions per block and block size. The rest stay in the
// inbox for later blocks, so that no sender can make the chain's next block too big to
// be accepted (a flood of tiny transfers). Bundles from one origin stay in inbox order.
// It fails only if ops alone exceed the limits. It sorts bundles and returns a prefix
// of their array.
func fitBundles(bundles []protocol.IncomingBundle, ops []protocol.Operation, policy *protocol.ResourcePolicy) ([]protocol.IncomingBundle, error) {
	maxTxs := policy.MaxTransactionsBlock
	size := uint64(blockOverhead)
	for i := range ops {
		size += uint64(codec.Size(&ops[i])) + 8
	}
	if uint64(len(ops)) > maxTxs || size > policy.MaxBlockSize {
		return nil, base.Invalidf("%d operations (%d bytes) exceed the block limits (%d transactions, %d bytes)", len(ops), size, maxTxs, policy.MaxBlockSize)
	}
	room := maxTxs - uint64(len(ops))
	// Oldest first. Within one origin, timestamps never decrease along the cursor, so
	// sorting by (timestamp, origin, cursor) keeps every origin's bundles in order and
	// what is taken is a prefix of each origin's queue.
	slices.SortStableFunc(bundles, func(a, b protocol.IncomingBundle) int {
		if c := cmpTimestamp(a.Bundle.Timestamp, b.Bundle.Timestamp); c != 0 {
			return c
		}
		if c := a.Origin.Compare(b.Origin); c != 0 {
			return c
		}
		return a.Bundle.Cursor().Compare(b.Bundle.Cursor())
	})
	// What is taken is compacted at the head of bundles (the caller's to give).
	out := bundles[:0]
	var skipped map[base.ChainID]bool
	for i := range bundles {
		b := &bundles[i]
		if uint64(len(out)) >= room {
			break
		}
		if skipped[b.Origin] {
			continue // an earlier bundle of this origin did not fit: keep the order
		}
		n := uint64(codec.Size(b)) + 8
		if size+n > policy.MaxBlockSize {
			if skipped == nil {
				skipped = map[base.ChainID]bool{}
			}
			skipped[b.Origin] = true
			continue
		}
		size += n
		out = append(out, *b)
	}
	return out, nil
}

// blockTransactions returns the transactions of a block receiving bundles (rejecting
// them if reject) then executing ops, in two allocations whatever their number: the
// transactions point into bundles, which the block takes over, and into one copy of
// ops, which stays the caller's.
func blockTransactions(bundles []protocol.IncomingBundle, ops []protocol.Operation, reject bool) []protocol.Transaction {
	n := len(bundles) + len(ops)
	if n == 0 {
		return nil
	}
	txs := make([]protocol.Transaction, 0, n)
	for i := range bundles {
		if reject {
			bundles[i].Action = protocol.Reject
		}
		txs = append(txs, protocol.Transaction{Bundle: &bundles[i]})
	}
	own := slices.Clone(ops)
	for i := range own {
		txs = append(txs, protocol.Transaction{Operation: &own[i]})
	}
	return txs
}

// leadingBundles is the number of incoming bundles at the head of txs (a block puts
// them before its operations).
func leadingBundles(txs []protocol.Transaction) int {
	n := 0
	for n < len(txs) && txs[n].Bundle != nil {
		n++
	}
	return n
}

func cmpTimestamp(a, b base.Timestamp) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// stateQuery asks in one round trip for everything a block needs from the validators:
// their height (sync), the pending bundles and the consensus state with the locked
// values (the round state, which ADR 0002 requires from a quorum before a new fast
// proposal).
func (cc *ChainClient) stateQuery() *protocol.ChainInfoQuery {
	return &protocol.ChainInfoQuery{ChainID: cc.id, RequestPendingBundles: true, RequestManagerValues: true}
}

// prepare builds the next block: as many pending bundles as fit (oldest first), then the
// operations. It returns nil if there is nothing to do, and the answers of the chain-state
// query (which commit reuses for its first round state). The answers are those the
// broadcast of the chain's previous block gathered if they still serve (nextstate.go),
// else a fresh query's; nothing to do is concluded from a fresh query only.
func (cc *ChainClient) prepare(ctx context.Context, ops []protocol.Operation, blobs []protocol.Blob) (*protocol.ProposedBlock, *protocol.Block, *chainAnswers, error) {
	ns := cc.c.takeNext(cc.id)
	p, staged, ans, err := cc.prepareWith(ctx, ops, blobs, ns)
	if err == nil && p == nil && ans != nil && ans.reused {
		// Bundles may have arrived since those answers: ask.
		return cc.prepareWith(ctx, ops, blobs, nil)
	}
	return p, staged, ans, err
}

// prepareWith is prepare with the answers ns kept from the previous block's broadcast
// (nil: none).
func (cc *ChainClient) prepareWith(ctx context.Context, ops []protocol.Operation, blobs []protocol.Blob, ns *nextState) (*protocol.ProposedBlock, *protocol.Block, *chainAnswers, error) {
	c := cc.c
	var next base.BlockHeight
	var ans *chainAnswers
	var lv *localView
	var err error
	if ns != nil {
		if lv, err = c.readLocal(ctx, cc.id); err != nil {
			return nil, nil, nil, err
		}
		if cc.reusable(ns, lv) {
			next, ans = ns.next, ns.ans
			ans.reused = true
		}
	}
	if ans == nil {
		if next, ans, err = c.syncChain(ctx, cc.stateQuery()); err != nil {
			return nil, nil, nil, err
		}
		if lv, err = c.readLocal(ctx, cc.id); err != nil {
			return nil, nil, nil, err
		}
	}
	tip, epoch := lv.tip, lv.epoch
	if tip.NextHeight != next {
		return nil, nil, nil, fmt.Errorf("local chain at height %d after sync to %d", tip.NextHeight, next)
	}
	if err := c.checkEpochLive(ctx, lv, cc.id, ops); err != nil {
		return nil, nil, nil, err
	}
	committee, err := lv.committee(ctx, c, cc.id, epoch)
	if err != nil {
		return nil, nil, nil, err
	}
	m := c.membersOf(ctx, committee)
	var pending []protocol.IncomingBundle
	sf := &inboxShortfall{m: m, height: next}
	if ans.epoch == epoch {
		pending = cc.countPending(m, next, ans.as, sf)
	} else {
		// The sync moved the chain to another epoch: ask that epoch's committee.
		ans = nil
		pending = cc.pendingBundlesCounted(ctx, m, next, sf)
	}
	bundles, err := fitBundles(pending, ops, &m.committee.Policy)
	if err != nil {
		return nil, nil, nil, err
	}
	ts := max(c.cfg.Clock.Now(), tip.Timestamp)
	for _, b := range bundles {
		ts = max(ts, b.Bundle.Timestamp)
	}
	// A closed chain's blocks may only reject incoming bundles: rejecting bounces the
	// tokens of tracked messages back to their senders instead of leaving them stuck.
	reject := cc.RejectIncoming || (len(bundles) > 0 && lv.closed)
	me := cc.Owner()
	if own := lv.ownership; !own.IsAnyOwner(me) && !own.OpenMultiLeaderRounds {
		return nil, nil, nil, fmt.Errorf("%w: %s is not an owner of chain %s (any more): the chain's ownership was changed; only its owners can propose blocks", ErrNotOwner, me, cc.id)
	}
	p := &protocol.ProposedBlock{ChainID: cc.id, Epoch: epoch, Height: next, Timestamp: ts, PreviousBlockHash: tip.BlockHash, AuthenticatedOwner: &me}
	p.Transactions = blockTransactions(bundles, ops, reject)
	if len(p.Transactions) == 0 {
		// Nothing to do, unless validators report bundles that could not be counted
		// (ProcessInboxResult makes that right if it can).
		sf.settle(pending)
		cc.setShortfall(sf)
		return nil, nil, ans, nil
	}
	// Stage locally. A bundle that fails to execute is rejected instead (its tracked
	// messages bounce back); an operation that fails is the caller's error.
	for range len(p.Transactions) + 4 {
		staged, err := c.cfg.Local.StageBlock(ctx, p, blobs)
		if err == nil {
			return p, staged, ans, nil
		}
		if fixed, ferr := c.fetchMissing(ctx, err); ferr != nil {
			return nil, nil, nil, ferr
		} else if fixed {
			continue
		}
		txErr, ok := errorsAs[*chain.TxError](err)
		if !ok || txErr.Index >= len(p.Transactions) {
			return nil, nil, nil, err
		}
		tx := &p.Transactions[txErr.Index]
		if nb := leadingBundles(p.Transactions); nb > 0 && errors.Is(txErr.Err, chain.ErrOutcomeTooLarge) {
			// The block's outcome is over the policy's limit: leave the bundles from the
			// failing one on (all of them if an operation failed) for later blocks.
			// Rejecting would not help: a bounce is as large as the message. Bundles
			// come first, so what stays is a prefix of every origin's queue.
			cut := min(txErr.Index, nb)
			if tx.Bundle == nil {
				cut = 0
			}
			if cut > 0 || len(p.Transactions) > nb {
				c.log.Info("leaving incoming bundles for later blocks: the block's execution outcome would exceed the policy's limit", "bundles", nb-cut, "err", txErr.Err)
				p.Transactions = append(p.Transactions[:cut:cut], p.Transactions[nb:]...)
				continue
			}
		}
		if tx.Bundle == nil || tx.Bundle.Action == protocol.Reject {
			return nil, nil, nil, txErr.Err
		}
		c.log.Info("rejecting an incoming bundle that fails to execute", "origin", tx.Bundle.Origin.String(), "height", uint64(tx.Bundle.Bundle.Height), "err", txErr.Err)
		tx.Bundle.Action = protocol.Reject
	}
	return nil, nil, nil, errors.New("could not stage the block")
}

// ExecuteOperations commits a block with the chain's pending incoming bundles and ops. It
// first re-sends a pending fast proposal if one exists. It returns the confirmed
// certificate of the block holding ops, or nil if there was nothing to do.
//
// A request is executed at most once: a caller retrying ops after an error (no quorum
// yet, a round to wait out) gets the block that carries them if an earlier attempt's
// block was confirmed meanwhile — the pending fast proposal, or a block of this owner
// locked in a round and re-proposed — instead of a second block with the same ops.
//
// So is a request retried after another owner of the chain finished the block an earlier
// attempt proposed: the failed attempt is remembered (one per ChainClient) until the
// chain moves past its height or a request succeeds.
func (cc *ChainClient) ExecuteOperations(ctx context.Context, ops []protocol.Operation, blobs []protocol.Blob) (*protocol.Certificate, error) {
	cert, err := cc.executeOperations(ctx, ops, blobs)
	if err == nil {
		// A request that succeeded is done: the same operations again are a new request.
		cc.setTried(nil)
	}
	return cert, err
}

func (cc *ChainClient) executeOperations(ctx context.Context, ops []protocol.Operation, blobs []protocol.Blob) (*protocol.Certificate, error) {
	c := cc.c
	for attempt := 0; attempt < 5; attempt++ {
		if pf := cc.PendingFastProposal(); pf != nil {
			next, ans, err := c.syncChain(ctx, cc.stateQuery())
			if err != nil {
				return nil, err
			}
			h := pf.Content.Block.Height
			if h == next {
				staged, err := c.cfg.Local.StageBlock(ctx, &pf.Content.Block, pf.Blobs)
				if err != nil {
					return nil, fmt.Errorf("pending fast proposal no longer executes: %w", err)
				}
				if _, err := cc.commit(ctx, &pf.Content.Block, staged, pf.Blobs, ans); err != nil && !errors.Is(err, ErrConflict) {
					return nil, fmt.Errorf("re-send pending fast proposal: %w", err)
				}
			}
			cc.clearFast(h)
			if cert := cc.committedWith(ctx, h, pf.Content.Block.AuthenticatedOwner, ops); cert != nil {
				return cert, nil
			}
			continue
		}
		p, staged, ans, err := cc.prepare(ctx, ops, blobs)
		if err != nil || p == nil {
			return nil, err
		}
		if cert := cc.committedEarlier(ctx, p.Height, ops); cert != nil {
			return cert, nil
		}
		cert, err := cc.commit(ctx, p, staged, blobs, ans)
		if errors.Is(err, ErrConflict) {
			if cert := cc.committedWith(ctx, p.Height, p.AuthenticatedOwner, ops); cert != nil {
				return cert, nil
			}
			continue
		}
		if err != nil && p.AuthenticatedOwner != nil {
			cc.setTried(&triedRequest{height: p.Height, owner: *p.AuthenticatedOwner, ops: ops})
		}
		return cert, err
	}
	return nil, fmt.Errorf("chain %s: gave up after repeated conflicts", cc.id.Short())
}

// triedRequest is a request whose block was proposed at height but failed to commit as
// far as this client knows: another owner of the chain may still finish that block (a
// block validated in a round is re-proposed by whoever proposes next).
type triedRequest struct {
	height base.BlockHeight
	owner  base.Owner
	ops    []protocol.Operation
}

func (cc *ChainClient) setTried(t *triedRequest) {
	cc.mu.Lock()
	cc.tried = t
	cc.mu.Unlock()
}

// committedEarlier returns the block that carries ops if an earlier attempt of the same
// request proposed it at a height below next, the chain's next height, and it was
// confirmed meanwhile (by another owner finishing it); nil otherwise. The earlier
// attempt is forgotten once its height is behind: the block there is known.
func (cc *ChainClient) committedEarlier(ctx context.Context, next base.BlockHeight, ops []protocol.Operation) *protocol.Certificate {
	cc.mu.Lock()
	t := cc.tried
	if t != nil && t.height < next {
		cc.tried = nil
	}
	cc.mu.Unlock()
	if t == nil || t.height >= next || !sameOps(t.ops, ops) {
		return nil
	}
	return cc.committedWith(ctx, t.height, &t.owner, ops)
}

// sameOps reports whether a and b are the same operations, in order.
func sameOps(a, b []protocol.Operation) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !codec.Equal(&a[i], &b[i]) {
			return false
		}
	}
	return true
}

// committedWith returns the confirmed certificate at height h of the chain if the local
// node holds it (verified) and its block was signed by owner and carries exactly ops
// (incoming bundles aside), in order; nil otherwise.
func (cc *ChainClient) committedWith(ctx context.Context, h base.BlockHeight, owner *base.Owner, ops []protocol.Operation) *protocol.Certificate {
	if len(ops) == 0 || owner == nil {
		return nil
	}
	cert, err := cc.c.cfg.Local.Storage().CertificateAt(ctx, cc.id, h)
	if err != nil || cert.Block.Proposed.AuthenticatedOwner == nil || *cert.Block.Proposed.AuthenticatedOwner != *owner {
		return nil
	}
	i := 0
	for _, tx := range cert.Block.Proposed.Transactions {
		if tx.Operation == nil {
			continue
		}
		if i >= len(ops) || !codec.Equal(tx.Operation, &ops[i]) {
			return nil
		}
		i++
	}
	if i != len(ops) {
		return nil
	}
	return cert
}

// Transfer moves amount from one of this chain's accounts (base.ChainOwner for the chain
// account) to recipient.
func (cc *ChainClient) Transfer(ctx context.Context, from base.Owner, recipient base.Account, amount base.Amount) (*protocol.Certificate, error) {
	if err := cc.checkRecipient(ctx, recipient); err != nil {
		return nil, err
	}
	return cc.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.Transfer{Owner: from, Recipient: recipient, Amount: amount})}, nil)
}

// Claim withdraws amount from the account owner@source on another chain and sends it to
// recipient. The block is proposed on this chain and must be signed by owner: the
// source chain executes the withdrawal when it receives the message, then the
// recipient's chain receives the tokens.
func (cc *ChainClient) Claim(ctx context.Context, owner base.Owner, source base.ChainID, recipient base.Account, amount base.Amount) (*protocol.Certificate, error) {
	if owner != cc.Owner() {
		return nil, base.Invalidf("a claim of %s's tokens must be signed by %s, but this chain's key is %s", owner, owner, cc.Owner())
	}
	if err := cc.c.CheckChainExists(ctx, source); err != nil {
		return nil, err
	}
	if err := cc.checkRecipient(ctx, recipient); err != nil {
		return nil, err
	}
	return cc.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.Claim{Owner: owner, Target: source, Recipient: recipient, Amount: amount})}, nil)
}

// checkRecipient refuses to pay an account that could never be used: one on a chain no
// validator knows (CheckChainExists, base.ErrNotFound), or one whose owner is the id of
// a chain (base.ErrInvalid). A chain id pasted where the owner goes (CHAIN@OTHER_CHAIN)
// reads as an owner address, and tokens sent there reach an account no key controls: an
// owner is a hash of a public key and a chain id the hash of the chain's description,
// so a description hashing to the owner proves it is a chain's id. The description is
// looked up in the local node, then asked of the chain's committee in parallel
// (ownerChain); this costs a transfer to an owner one lookup per validator, not the
// transfers to a chain's account.
func (cc *ChainClient) checkRecipient(ctx context.Context, recipient base.Account) error {
	if err := cc.c.CheckChainExists(ctx, recipient.Chain); err != nil {
		return err
	}
	if id, ok := cc.ownerChain(ctx, recipient.Owner); ok {
		return base.Invalidf("recipient %s: %s is the id of chain %s, not an owner (an owner is its key's address); to pay that chain's own account, name the chain alone: %s", recipient, recipient.Owner, id.Short(), id)
	}
	return ctx.Err()
}

// ownerChain returns the chain whose id is owner's address, if the local node holds its
// description or a validator of this chain's committee serves it (checked against its
// content address, so no validator can make an owner look like a chain). It asks the
// validators at once and reads the answers a quorum gave (with the fan-out's grace
// period): a validator that does not answer delays it by the call deadline at most, and
// a chain only a minority knows yet may be missed. Errors count as "not a chain": the
// transfer then goes its own way and reports them.
func (cc *ChainClient) ownerChain(ctx context.Context, owner base.Owner) (base.ChainID, bool) {
	if owner.Kind() != base.OwnerAddress32 {
		return base.ChainID{}, false
	}
	var id base.ChainID
	copy(id[:], owner.Bytes())
	c := cc.c
	blob := base.BlobID{Type: base.BlobChainDescription, Hash: base.Hash(id)}
	if _, err := c.cfg.Local.Storage().Blob(ctx, blob); err == nil {
		return id, true
	}
	_, m, err := cc.currentMembers(ctx)
	if err != nil {
		return id, false
	}
	as := fanout(ctx, c, m, func(ctx context.Context, v Validator) (bool, error) {
		b, err := c.readBlobFrom(ctx, v, blob, true)
		switch {
		case err == nil:
			return b.ID() == blob, nil
		case base.IsNotFound(err):
			return false, nil
		}
		return false, err
	}, nil)
	for _, a := range as {
		if a.err == nil && a.val {
			return id, true
		}
	}
	return id, false
}

// ErrNotOwner is returned when the chain client's key may not propose blocks on the
// chain (never was, or no longer is, an owner of it).
var ErrNotOwner = fmt.Errorf("%w: not an owner", base.ErrInvalid)

// ErrStreams is returned (with the last certificate, if any) by ProcessInbox when the
// chain's subscribed streams could not be processed; the inbox was still received.
var ErrStreams = errors.New("stream processing failed")

// maxInboxBlocks bounds how many blocks one ProcessInbox call commits, so that a sender
// who keeps flooding the inbox cannot keep the call running forever.
const maxInboxBlocks = 1000

// ProcessInbox commits blocks receiving the pending bundles, as many per block as fit
// the block limits, and processing the new events of the streams the chain subscribes
// to (an UpdateStreams operation; see streams.go), until there is nothing left. It
// returns the last certificate, or nil if there was nothing to do. Bundles that too few
// validators report to be received (ProcessInboxResult's Waiting) are logged as a
// warning.
func (cc *ChainClient) ProcessInbox(ctx context.Context) (*protocol.Certificate, error) {
	res, err := cc.ProcessInboxResult(ctx)
	if res.Waiting != nil {
		cc.c.log.Warn("pending bundles not received", "chain", cc.id.Short(), "bundles", res.Waiting.Bundles, "reporters", res.Waiting.Reporters, "validators", res.Waiting.Validators)
	}
	return res.Last, err
}

// OpenChain opens a child chain with the given ownership and balance and returns its id.
func (cc *ChainClient) OpenChain(ctx context.Context, ownership protocol.ChainOwnership, balance base.Amount) (base.ChainID, *protocol.Certificate, error) {
	op := protocol.SystemOp(&protocol.OpenChain{Ownership: ownership, Balance: balance})
	cert, err := cc.ExecuteOperations(ctx, []protocol.Operation{op}, nil)
	if err != nil {
		return base.ChainID{}, nil, err
	}
	if cert == nil {
		return base.ChainID{}, nil, errors.New("open chain: nothing was committed")
	}
	b := cert.Block
	// The opening operation is the last transaction; its outcome created the description.
	last := len(b.Outcome.Blobs) - 1
	for _, blob := range b.Outcome.Blobs[last] {
		if blob.Type == base.BlobChainDescription {
			return base.ChainID(blob.ID().Hash), cert, nil
		}
	}
	return base.ChainID{}, cert, errors.New("open chain: the block created no chain description")
}

// fetchMissing makes the local node obtain an event or blob that staging reported
// missing, by syncing the chain that emitted the event or downloading the blob. It
// reports whether there was something to fetch.
func (c *Client) fetchMissing(ctx context.Context, err error) (bool, error) {
	if me, ok := errorsAs[*execution.MissingEventError](err); ok {
		before, _ := c.LocalTip(ctx, me.ID.Chain)
		next, serr := c.SyncChain(ctx, me.ID.Chain)
		if serr != nil {
			return false, serr
		}
		if next == before.NextHeight {
			return false, err // nobody has it yet
		}
		return true, nil
	}
	if mb, ok := errorsAs[*execution.MissingBlobError](err); ok {
		if ferr := c.fetchBlob(ctx, mb.ID); ferr != nil {
			return false, ferr
		}
		return true, nil
	}
	return false, nil
}

// CheckChainExists returns an error of class base.ErrNotFound (worker.ErrUnknownChain)
// unless some validator knows the chain: tokens sent to a chain that does not exist
// could never be received.
func (c *Client) CheckChainExists(ctx context.Context, id base.ChainID) error {
	if _, err := c.description(ctx, id); err != nil {
		if base.IsNotFound(err) {
			return fmt.Errorf("%w %s: no validator knows it", worker.ErrUnknownChain, id)
		}
		return err
	}
	return nil
}
