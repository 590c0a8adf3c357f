package client

import (
	"context"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// The chain state of the next block, learnt with the certificate broadcast.
//
// A block needs from the validators their height, the bundles pending in the chain's
// inboxes and their consensus state at the height (the chain-state query, stateQuery).
// When the client broadcasts the confirmed certificate of block h, it asks that query
// along with it (CertificateQuerier): each validator answers from its state right after
// block h, that is at height h+1. The client keeps those answers for the chain and,
// when it builds block h+1, uses them in place of a fresh query if they are still about
// the tip it holds (the height and hash after block h), gathered from a quorum of the
// committee of the chain's epoch, and recent (Config.StateReuse). Otherwise — the first
// block, an error, too few answers, another owner's block, an epoch change, a chain
// with other owners — it queries as before. The answers serve one block.
//
// Safety: the answers are the same answer[*protocol.ChainInfo] the query gives, read by
// the same rules (pendingBundlesFrom: f+1 weight per bundle; roundStateFrom: a quorum,
// locks and fast proposals checked against the local replica), so a Byzantine validator
// can make the client believe nothing it could not with the query. What differs is
// their age: they describe height h+1 when block h was confirmed, not when block h+1
// is built. In between, the honest validators' state at h+1 changes only if someone
// proposes at h+1 (or a bundle arrives):
//   - Only chains whose every owner is this client's key reuse answers (soleOwner): no
//     other owner can propose at h+1. A second device with the same key could (ADR 0002
//     asks that uses of one key be sequential); the answers are at most
//     Config.StateReuse old, so that device would have to start and abandon a block
//     inside that window.
//   - If the block cannot be committed in its first round with the reused answers
//     (validators refuse, lack a quorum, report another height), commit asks a fresh
//     query before anything else (it does not request a timeout from old answers).
//   - Bundles that arrive after block h are received by the next block that queries
//     or reuses later answers; a block with nothing to do never concludes so from
//     reused answers (prepare queries then).

// DefaultStateReuse is how long the answers of a certificate broadcast serve the
// chain's next block (Config.StateReuse).
const DefaultStateReuse = 200 * time.Millisecond

// CertificateQuerier is a ValidatorNode that takes a chain-info query with a confirmed
// certificate and answers it in the same round trip (rpc.Node). The client asks, in the
// broadcast of a chain's block, the query of the chain's next block; a node without
// this capability is sent the certificate alone, and the next block queries it.
type CertificateQuerier interface {
	// HandleCertificateQuery handles a confirmed certificate like HandleCertificate and
	// returns the answer to q (a query about the certificate's chain: no timeout vote,
	// no height test) from the chain's state after the certificate.
	HandleCertificateQuery(ctx context.Context, c *protocol.Certificate, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error)
}

// nextState is the answers of a certificate broadcast, kept for the chain's next block.
type nextState struct {
	next base.BlockHeight // the height after the certificate's block
	hash base.Hash        // the certificate's block
	at   base.Timestamp   // when the answers were gathered (the client's clock)
	ans  *chainAnswers
}

// nextQuery returns the query to send with the broadcast of cert, a confirmed
// certificate of this chain that the local node has executed, or nil if the chain's
// next block would not reuse the answers (reuse disabled, or a chain with other owners).
func (cc *ChainClient) nextQuery(ctx context.Context, cert *protocol.Certificate) *protocol.ChainInfoQuery {
	if cc.c.cfg.StateReuse < 0 || cert.Kind != protocol.KindConfirmed || cert.ChainID() != cc.id {
		return nil
	}
	own, err := cc.c.localOwnership(ctx, cc.id)
	if err != nil || !soleOwner(&own, cc.Owner()) {
		return nil
	}
	return cc.stateQuery()
}

// soleOwner reports whether me is the only owner of a chain: nobody else can propose.
func soleOwner(own *protocol.ChainOwnership, me base.Owner) bool {
	if own.OpenMultiLeaderRounds || len(own.SuperOwners)+len(own.Owners) == 0 {
		return false
	}
	for _, o := range own.SuperOwners {
		if o != me {
			return false
		}
	}
	for _, o := range own.Owners {
		if o.Owner != me {
			return false
		}
	}
	return true
}

// certReply is a validator's reply to a certificate: answered says whether info answers
// the query sent with it.
type certReply struct {
	info     *protocol.ChainInfo
	answered bool
}

// keepNext keeps the answers to q that the broadcast of cert gathered from the members
// of m (the committee of the block's epoch), if a quorum of them answered at the height
// after the block with the block's hash; any earlier answers of the chain are dropped.
func (c *Client) keepNext(m members, cert *protocol.Certificate, q *protocol.ChainInfoQuery, replies []answer[certReply]) {
	id, hash, next := cert.ChainID(), cert.Block.Hash(), cert.Height()+1
	var w uint64
	as := make([]answer[*protocol.ChainInfo], 0, len(replies))
	for _, r := range replies {
		if r.err != nil || !r.val.answered {
			continue
		}
		info := r.val.info
		as = append(as, answer[*protocol.ChainInfo]{v: r.v, val: info})
		if info.ChainID == id && info.NextBlockHeight == next && info.BlockHash != nil && *info.BlockHash == hash {
			w += m.committee.Weight(r.v.PublicKey)
		}
	}
	now := c.cfg.Clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if w < m.committee.QuorumThreshold() {
		delete(c.next, id)
		return
	}
	if len(c.next) >= sweepKept {
		// Answers can be large (pending bundles): drop those nobody will use.
		for k, ns := range c.next {
			if c.expired(ns, now) {
				delete(c.next, k)
			}
		}
	}
	c.next[id] = &nextState{next: next, hash: hash, at: now, ans: &chainAnswers{epoch: cert.Block.Epoch(), q: *q, as: as}}
}

// sweepKept is the number of chains with kept answers above which keepNext drops the
// expired ones: the map holds at most that many entries, or the chains whose blocks
// were broadcast within Config.StateReuse.
const sweepKept = 64

// expired reports whether kept answers are too old to serve at now.
func (c *Client) expired(ns *nextState, now base.Timestamp) bool {
	return now > ns.at.Add(base.DeltaFromDuration(c.cfg.StateReuse))
}

// takeNext removes and returns the answers kept for chain id if they are recent, else
// nil.
func (c *Client) takeNext(id base.ChainID) *nextState {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := c.next[id]
	if ns == nil {
		return nil
	}
	delete(c.next, id)
	if c.expired(ns, c.cfg.Clock.Now()) {
		return nil
	}
	return ns
}

// reusable reports whether kept answers serve the next block of the chain whose local
// replica is lv: they are about its tip and epoch, and the client's key is its only
// owner.
func (cc *ChainClient) reusable(ns *nextState, lv *localView) bool {
	return ns != nil && lv.tip.NextHeight == ns.next && lv.tip.BlockHash != nil && *lv.tip.BlockHash == ns.hash &&
		lv.epoch == ns.ans.epoch && ns.ans.q.ChainID == cc.id && soleOwner(&lv.ownership, cc.Owner())
}

// broadcastCertificate sends a certificate to the members of m, without waiting beyond
// the quorum and grace period; the remaining calls complete on their own. Each call
// goes after the chain's previous broadcast's call to the same validator (calls, which
// may be the zero value). enc is cert's canonical encoding if the caller holds it (nil: it is made
// here, once for all validators). q, if not nil, is asked with it from the nodes that
// take it (CertificateQuerier).
func (c *Client) broadcastCertificate(ctx context.Context, m members, cert *protocol.Certificate, enc []byte, q *protocol.ChainInfoQuery, calls certificateCalls) []answer[certReply] {
	ctx = withEncodedQuery(ctx, cert, enc, q)
	if q != nil && q.RequestPendingBundles {
		ctx = withDecodeMemo(ctx)
	}
	return fanout(ctx, c, m, func(ctx context.Context, v Validator) (certReply, error) {
		defer calls.end(v)
		calls.start(ctx, v)
		_, takes := v.Node.(CertificateQuerier)
		info, err := c.handleCertificate(ctx, v, cert, q)
		return certReply{info: info, answered: takes && q != nil && err == nil && info != nil}, err
	}, nil)
}
