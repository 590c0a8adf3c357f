package client

import (
	"context"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// Receive limits of the calls to validators.
//
// An answer is received whole and decoded before anything in it is checked, so every
// call to a validator carries, as its receive limit (WithReceiveLimit), the largest
// answer an honest validator sends to that request under the resource policy of the
// committee the client trusts: the transport refuses a larger answer from its length
// prefix, before reading it, and the call fails as that validator's (the others are
// asked). Without it one Byzantine validator could make every chain-info query of the
// hot path and of a sync allocate and decode up to the transport's 64 MiB.
const (
	// pendingEntryBytes bounds the framing of one listed pending bundle (its origin,
	// action and length); protocol.MaxListedPendingBundles bounds their number.
	pendingEntryBytes = 64
)

// ChainInfoAnswerLimit returns the largest answer an honest validator sends to q about
// a chain whose committee is committee (0 if unknown: the transport's limit), at most
// the transport's. An answer that asks for neither pending bundles nor manager values
// holds the chain's ownership, which a block sets (at most max(MaxBlockSize,
// MaxBlockOutcomeBytes)), a timeout certificate and votes (a signature per member), and
// fixed fields and framing. Pending bundles add their bound
// (protocol.MaxListedPendingBundleBytes, or one outcome) and their framing; manager
// values a locked validated certificate (certificateBytes) and two proposals (a fast
// lock and the latest, each at most MaxBlockSize with its blobs), which under the
// default policy reach the transport's limit.
func ChainInfoAnswerLimit(committee *protocol.Committee, q *protocol.ChainInfoQuery) int {
	if committee == nil {
		return 0
	}
	p := &committee.Policy
	n := satAdd(max(p.MaxBlockSize, p.MaxBlockOutcomeBytes), signaturesBytes(committee))
	if q.RequestPendingBundles {
		n = satAdd(n, max(protocol.MaxListedPendingBundleBytes, p.MaxBlockOutcomeBytes))
		n = satAdd(n, protocol.MaxListedPendingBundles*pendingEntryBytes)
	}
	if q.RequestManagerValues {
		n = satAdd(n, certificateBytes(committee))
		n = satAdd(n, 2*min(p.MaxBlockSize, maxReceiveLimit))
	}
	return receiveLimit(n)
}

// BlobAnswerLimit returns the largest answer an honest validator sends to a blob
// download under committee's policy (0 if unknown: the transport's limit): a published
// blob (MaxBlobSize; bytecode is at most that), a chain description or committee, which a
// block or its outcome carries (MaxBlockSize, MaxBlockOutcomeBytes), and the framing.
func BlobAnswerLimit(committee *protocol.Committee) int {
	if committee == nil {
		return 0
	}
	p := &committee.Policy
	return receiveLimit(satAdd(max(p.MaxBlobSize, p.MaxBlockSize, p.MaxBlockOutcomeBytes), signaturesBytes(committee)))
}

// certificateBytes bounds one confirmed certificate under committee's policy: a block
// of MaxBlockSize, an outcome of MaxBlockOutcomeBytes and a signature per member.
func certificateBytes(committee *protocol.Committee) uint64 {
	p := &committee.Policy
	return satAdd(min(p.MaxBlockSize, maxReceiveLimit)+min(p.MaxBlockOutcomeBytes, maxReceiveLimit), signaturesBytes(committee))
}

// signaturesBytes bounds a signature (or a validator's key) per member of committee.
func signaturesBytes(committee *protocol.Committee) uint64 {
	return uint64(len(committee.Validators)) * signatureBytes
}

// receiveLimit returns n and the answer's framing as a receive limit, at most the
// transport's.
func receiveLimit(n uint64) int {
	return int(min(satAdd(n, answerFraming), maxReceiveLimit))
}

// satAdd returns a+b, saturating.
func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

// queryInfo asks v for q with the largest honest answer about a chain of committee as
// the call's receive limit (ChainInfoAnswerLimit).
func queryInfo(ctx context.Context, v Validator, committee *protocol.Committee, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	if n := ChainInfoAnswerLimit(committee, q); n > 0 && n < maxReceiveLimit {
		ctx = WithReceiveLimit(ctx, n)
	}
	return v.Node.HandleChainInfoQuery(ctx, q)
}

// readBlobFrom downloads a blob from v, if limited with the largest honest blob answer
// under the client's committee as the call's receive limit (BlobAnswerLimit).
func (c *Client) readBlobFrom(ctx context.Context, v Validator, id base.BlobID, limited bool) (protocol.Blob, error) {
	if n := BlobAnswerLimit(c.cfg.Committee); limited && n > 0 {
		ctx = WithReceiveLimit(ctx, n)
	}
	return v.Node.ReadBlob(ctx, id)
}
