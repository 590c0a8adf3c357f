package client

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// Bundles that wait but cannot be counted.
//
// The client receives a pending bundle only if validators with f+1 of the weight, at the
// chain's height, report it (pendingBundlesFrom): at least one of them is honest, so the
// bundle was really sent. When validators lag — an answer cut off by the call deadline
// or not waited for past the quorum, a validator behind on the chain, one that has not
// yet received the block that sent the bundle — fewer than f+1 may report a bundle that
// is really there, and ProcessInbox used to say "nothing to do". Nothing was lost (a
// later call receives it), but the user was told there was nothing.
//
// Now ProcessInbox, before it concludes there is nothing to do while some validators
// report bundles it cannot count (inboxShortfall), tries to make it right, at most
// maxInboxRechecks times: it brings the validators that are behind on the chain up to
// its height, brings every validator the blocks that sent the uncounted bundles (at most
// maxRecheckOrigins sending chains, and only blocks that some validator holds: a bundle
// nobody sent costs a look-up, not a push), and asks every validator again, waiting for
// each within the call deadline instead of stopping at a quorum. If the bundles then
// count, it receives them; if not, it returns WaitingBundles with its result instead of
// an error. A single Byzantine validator can report bundles that do not exist; that is
// worth a warning and a bounded number of extra round trips, never a failed command, a
// block, or a loop.

// maxInboxRechecks bounds how many times one ProcessInbox call repairs and asks again
// when validators report bundles it cannot count.
const maxInboxRechecks = 2

// maxRecheckOrigins bounds the sending chains of uncounted bundles whose sending blocks
// one recheck brings to the validators.
const maxRecheckOrigins = 4

// WaitingBundles describes bundles that some validators report waiting in a chain's
// inbox but too few of them (less than f+1 of the voting weight, so perhaps no honest
// one) for the client to receive them. Nothing is lost: they are received by a later
// ProcessInbox once enough validators report them — or never, if a faulty validator
// made them up.
type WaitingBundles struct {
	// Bundles is the number of distinct bundles reported but not counted.
	Bundles int
	// Reporters is the number of validators that reported the most-reported of them.
	Reporters int
	// Validators is the size of the chain's committee.
	Validators int
}

// String is the message the CLI prints.
func (w *WaitingBundles) String() string {
	return fmt.Sprintf("%d bundle(s) reported waiting by only %d of %d validators, too few to receive them (validators may be lagging); try again later", w.Bundles, w.Reporters, w.Validators)
}

// InboxResult is what ProcessInboxResult did.
type InboxResult struct {
	// Last is the certificate of the last block committed, nil if none (nothing to do).
	Last *protocol.Certificate
	// Waiting, if not nil, describes bundles validators reported that the client could
	// not count, even after asking again.
	Waiting *WaitingBundles
}

// inboxShortfall records what countPending could not count.
type inboxShortfall struct {
	m      members
	height base.BlockHeight
	// behind are committee members that answered at a lower height with pending
	// bundles (their bundles do not count at the chain's height).
	behind []Validator
	// bundles are the distinct bundles reported at the height with weight under f+1,
	// with the number of validators that reported each.
	bundles []uncountedBundle
}

type uncountedBundle struct {
	b *protocol.IncomingBundle
	n int
}

func (sf *inboxShortfall) uncounted(b *protocol.IncomingBundle, n int) {
	sf.bundles = append(sf.bundles, uncountedBundle{b: b, n: n})
}

// settle drops the uncounted bundles that are another copy of a counted one (same origin
// and cursor: an equivocating report of a bundle that is received anyway).
func (sf *inboxShortfall) settle(counted []protocol.IncomingBundle) {
	if len(counted) == 0 || len(sf.bundles) == 0 {
		return
	}
	type key struct {
		origin base.ChainID
		cursor protocol.Cursor
	}
	seen := make(map[key]bool, len(counted))
	for i := range counted {
		seen[key{counted[i].Origin, counted[i].Bundle.Cursor()}] = true
	}
	sf.bundles = slices.DeleteFunc(sf.bundles, func(u uncountedBundle) bool {
		return seen[key{u.b.Origin, u.b.Bundle.Cursor()}]
	})
}

// empty reports whether there is nothing to make right: no bundle reported at the
// chain's height went uncounted. Validators behind alone do not make a recheck: after a
// block that received bundles, one still processing its certificate reports them at the
// old height, which is no sign that anything waits; they are brought up to date when
// a recheck happens for uncounted bundles.
func (sf *inboxShortfall) empty() bool {
	return sf == nil || len(sf.bundles) == 0
}

// waiting summarizes the uncounted bundles, nil if none.
func (sf *inboxShortfall) waiting() *WaitingBundles {
	if sf == nil || len(sf.bundles) == 0 {
		return nil
	}
	w := &WaitingBundles{Bundles: len(sf.bundles), Validators: len(sf.m.committee.Validators)}
	for _, u := range sf.bundles {
		w.Reporters = max(w.Reporters, u.n)
	}
	return w
}

// origins returns up to maxRecheckOrigins sending chains of the uncounted bundles, each
// with the highest height of a block that sent one, in a deterministic order.
func (sf *inboxShortfall) origins() []protocol.ChainAndHeight {
	bs := make([]*protocol.IncomingBundle, len(sf.bundles))
	for i := range sf.bundles {
		bs[i] = sf.bundles[i].b
	}
	out := latestSendingBlocks(bs)
	slices.SortFunc(out, func(a, b protocol.ChainAndHeight) int { return a.ChainID.Compare(b.ChainID) })
	return out[:min(len(out), maxRecheckOrigins)]
}

// latestSendingBlocks returns the chains that sent bundles, each once, in the order of
// its first bundle, with the height of its latest block that sent one of them: bringing
// a validator past that block delivers all of that chain's bundles (one query or
// look-up per sender, not one per bundle).
func latestSendingBlocks(bundles []*protocol.IncomingBundle) []protocol.ChainAndHeight {
	var out []protocol.ChainAndHeight
	index := map[base.ChainID]int{}
	for _, b := range bundles {
		i, ok := index[b.Origin]
		if !ok {
			i = len(out)
			index[b.Origin] = i
			out = append(out, protocol.ChainAndHeight{ChainID: b.Origin, Height: b.Bundle.Height})
		}
		out[i].Height = max(out[i].Height, b.Bundle.Height)
	}
	return out
}

func (cc *ChainClient) setShortfall(sf *inboxShortfall) {
	cc.mu.Lock()
	cc.shortfall = sf
	cc.mu.Unlock()
}

func (cc *ChainClient) takeShortfall() *inboxShortfall {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	sf := cc.shortfall
	cc.shortfall = nil
	return sf
}

// recheckInbox tries to make validators agree on the bundles sf could not count (see
// above), then asks every member of the committee for the pending bundles again,
// waiting for each within the call deadline. It returns the bundles that now count and
// what still does not.
func (cc *ChainClient) recheckInbox(ctx context.Context, sf *inboxShortfall) ([]protocol.IncomingBundle, *inboxShortfall) {
	c := cc.c
	var sending []*protocol.Certificate
	for _, o := range sf.origins() {
		// A block nobody holds sent nothing: skip it (one look-up per validator).
		if cert, err := c.certificate(ctx, o.ChainID, o.Height); err == nil {
			sending = append(sending, cert)
		}
	}
	behind := make(map[int]bool, len(sf.behind))
	for _, v := range sf.behind {
		if i := slices.IndexFunc(sf.m.validators, func(w Validator) bool { return w.PublicKey == v.PublicKey }); i >= 0 {
			behind[i] = true
		}
	}
	c.eachValidator(ctx, sf.m.validators, func(ctx context.Context, i int, v Validator) {
		if behind[i] {
			if err := c.updateChainTo(ctx, v, cc.id, sf.height, 0); err != nil {
				c.log.Debug("updating a validator behind on the chain failed", "validator", v.PublicKey.String(), "chain", cc.id.Short(), "err", err)
			}
		}
		for _, cert := range sending {
			if err := c.updateChainTo(ctx, v, cert.ChainID(), cert.Height()+1, 0); err != nil {
				c.log.Debug("bringing a validator a sending block failed", "validator", v.PublicKey.String(), "chain", cert.ChainID().Short(), "err", err)
			}
		}
	})
	// Every answer is waited for: ok accepts none, so no quorum cuts the fan-out short.
	as := fanout(withDecodeMemo(ctx), c, sf.m, func(ctx context.Context, v Validator) (*protocol.ChainInfo, error) {
		return queryInfo(ctx, v, sf.m.committee, &protocol.ChainInfoQuery{ChainID: cc.id, RequestPendingBundles: true})
	}, func(*protocol.ChainInfo) bool { return false })
	after := &inboxShortfall{m: sf.m, height: sf.height}
	pending := cc.countPending(sf.m, sf.height, as, after)
	after.settle(pending)
	return pending, after
}

// eachValidator runs fn for each of vs, each under the per-call deadline, in parallel
// (one after the other with Config.Sequential), and returns when all have returned.
func (c *Client) eachValidator(ctx context.Context, vs []Validator, fn func(ctx context.Context, i int, v Validator)) {
	run := func(i int, v Validator) {
		cctx, cancel := c.withCallTimeout(ctx)
		defer cancel()
		fn(cctx, i, v)
	}
	if c.cfg.Sequential {
		for i, v := range vs {
			run(i, v)
		}
		return
	}
	var wg sync.WaitGroup
	for i, v := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(i, v)
		}()
	}
	wg.Wait()
}

// ProcessInboxResult is ProcessInbox that also says which bundles validators reported
// that the client could not count (InboxResult.Waiting): a command that printed
// "nothing to do" then says that bundles may be waiting.
func (cc *ChainClient) ProcessInboxResult(ctx context.Context) (InboxResult, error) {
	var last *protocol.Certificate
	synced := map[base.ChainID]bool{}
	// streamErr is set when the subscribed streams could not be processed (an
	// application refusing the new events): the bundles are still received, so that
	// no publisher can block the chain's inbox, and the error is returned at the end.
	var streamErr error
	rechecks := 0
	for range maxInboxBlocks {
		var ops []protocol.Operation
		if streamErr == nil {
			var err error
			if ops, err = cc.streamUpdates(ctx, synced); err != nil {
				return InboxResult{}, err
			}
		}
		cc.setShortfall(nil)
		cert, err := cc.ExecuteOperations(ctx, ops, nil)
		if err != nil && len(ops) > 0 && base.IsInvalid(err) {
			cc.c.log.Warn("processing the subscribed streams failed; receiving the inbox without them", "chain", cc.id.Short(), "err", err)
			streamErr = fmt.Errorf("%w: processing the subscribed streams: %w", ErrStreams, err)
			continue
		}
		if err != nil {
			return InboxResult{}, err
		}
		if cert != nil {
			last = cert
			continue
		}
		sf := cc.takeShortfall()
		again := false
		for !again && !sf.empty() && rechecks < maxInboxRechecks && ctx.Err() == nil {
			rechecks++
			var pending []protocol.IncomingBundle
			pending, sf = cc.recheckInbox(ctx, sf)
			again = len(pending) > 0 // they count now: receive them
		}
		if !again {
			return InboxResult{Last: last, Waiting: sf.waiting()}, streamErr
		}
	}
	return InboxResult{Last: last}, streamErr
}
