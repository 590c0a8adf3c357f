package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// LocalTip returns the local node's view of a chain's tip.
func (c *Client) LocalTip(ctx context.Context, id base.ChainID) (chain.Tip, error) {
	var tip chain.Tip
	err := c.cfg.Local.ChainState(ctx, id, func(s *chain.State) error {
		var err error
		tip, err = s.Tip(ctx)
		return err
	})
	return tip, err
}

// LocalBalance returns an account's balance as the local node sees it.
func (c *Client) LocalBalance(ctx context.Context, a base.Account) (base.Amount, error) {
	var bal base.Amount
	err := c.cfg.Local.ChainState(ctx, a.Chain, func(s *chain.State) error {
		var err error
		if a.Owner.IsChain() {
			bal, err = s.Execution().ChainBalance(ctx)
		} else {
			bal, err = s.Execution().OwnerBalance(ctx, a.Owner)
		}
		return err
	})
	return bal, err
}

// ensureLocalChain makes the local node know a chain, by provenance only (DESIGN §9):
// genesis chains are in the local store from the genesis configuration; a child chain is
// learnt from the confirmed certificate of its parent's block that created it, fetched
// from the validators and handed to the local node, which verifies it against the
// parent's committee and stores the description it creates (after learning the parent
// the same way). A description fetched from a validator only names the parent and the
// height; by itself it never creates a chain.
func (c *Client) ensureLocalChain(ctx context.Context, id base.ChainID) error {
	known := func(id base.ChainID) error {
		return c.cfg.Local.ChainState(ctx, id, func(*chain.State) error { return nil })
	}
	var learn func(id base.ChainID, depth int) error
	learn = func(id base.ChainID, depth int) error {
		err := known(id)
		if !errors.Is(err, worker.ErrUnknownChain) {
			return err
		}
		if depth > maxUpdateDepth {
			return fmt.Errorf("%w %s: chain ancestry too deep", worker.ErrUnknownChain, id)
		}
		desc, derr := c.description(ctx, id)
		if derr != nil {
			return fmt.Errorf("%w %s: no validator knows it", worker.ErrUnknownChain, id)
		}
		if !desc.Origin.IsChild {
			return err // a root chain that is not in our genesis
		}
		if err := learn(desc.Origin.Parent, depth+1); err != nil {
			return err
		}
		// Each validator's copy of the creating certificate in turn, until the local node
		// verifies one: a faulty validator may send a forged one.
		parent, h := desc.Origin.Parent, desc.Origin.Height
		for _, v := range c.validators() {
			cctx, cancel := c.withCallTimeout(ctx)
			certs, err := v.Node.Certificates(cctx, parent, h, h+1)
			cancel()
			if err != nil || len(certs) != 1 || certs[0].Kind != protocol.KindConfirmed || certs[0].ChainID() != parent || certs[0].Height() != h {
				continue
			}
			if err := c.processLocally(ctx, certs[0]); err != nil && !errors.Is(err, worker.ErrMissingEarlierBlocks) {
				c.log.Debug("creating certificate refused", "validator", v.PublicKey.String(), "chain", id.String(), "err", err)
				continue
			}
			if err := known(id); !errors.Is(err, worker.ErrUnknownChain) {
				return err
			}
		}
		// The local parent was too far behind to verify the certificate (its epoch is
		// not yet trusted there): catch the parent up and execute the block itself.
		if _, err := c.SyncChain(ctx, desc.Origin.Parent); err != nil {
			return err
		}
		return known(id)
	}
	return learn(id, 0)
}

// SyncChain downloads, verifies and executes locally every certificate of a chain that a
// validator has and the local node lacks. It returns the local next height.
func (c *Client) SyncChain(ctx context.Context, id base.ChainID) (base.BlockHeight, error) {
	next, _, err := c.syncChain(ctx, &protocol.ChainInfoQuery{ChainID: id})
	return next, err
}

// chainAnswers are the answers of one chain-state query, kept so that a single round
// trip per block serves the sync, the pending bundles (pendingBundlesFrom) and the round
// state (roundStateFrom) of the block.
type chainAnswers struct {
	// epoch is the chain's epoch in the local replica when the query was sent; the
	// answers were gathered until a quorum of that epoch's committee had answered.
	// They serve a block only if the block is in this epoch.
	epoch base.Epoch
	// q is the query; its Request* fields say what the answers hold.
	q  protocol.ChainInfoQuery
	as []answer[*protocol.ChainInfo]
	// reused: the answers come with the certificate broadcast of the chain's previous
	// block (nextstate.go), not from a query made for this block.
	reused bool
}

// syncChain is SyncChain with the query q (for chain q.ChainID), which may ask for more
// than the height; it also returns the answers.
func (c *Client) syncChain(ctx context.Context, q *protocol.ChainInfoQuery) (base.BlockHeight, *chainAnswers, error) {
	id := q.ChainID
	if err := c.ensureLocalChain(ctx, id); err != nil {
		return 0, nil, err
	}
	tip, err := c.LocalTip(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	// Every validator of the pool is asked, not only the members of the committee the
	// local replica is at: the chain may have moved to a later epoch, and whatever a
	// validator sends is verified locally anyway.
	epoch, err := c.localEpoch(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	cm, err := c.epochMembers(ctx, id, epoch)
	if err != nil {
		return 0, nil, err
	}
	cm.validators = c.validators()
	qctx := ctx
	if q.RequestPendingBundles {
		qctx = withDecodeMemo(ctx)
	}
	infos := fanout(qctx, c, cm, func(ctx context.Context, v Validator) (*protocol.ChainInfo, error) {
		return queryInfo(ctx, v, cm.committee, q)
	}, nil)
	ans := &chainAnswers{epoch: epoch, q: *q, as: slices.Clone(infos)}
	// Highest claims first; a validator that lies about its height is found out when its
	// certificates fail to verify locally.
	slices.SortStableFunc(infos, func(a, b answer[*protocol.ChainInfo]) int {
		return cmpHeight(b, a)
	})
	next := tip.NextHeight
	if !c.cfg.Sequential {
		next = c.pipelined(ctx, id, next, infos, c.syncAnswerLimit(cm.committee))
	}
	for _, a := range infos {
		if a.err != nil || a.val == nil || a.val.NextBlockHeight <= next {
			continue
		}
		n, err := c.downloadFrom(ctx, a.v, id, next, a.val.NextBlockHeight)
		if err != nil {
			c.log.Debug("sync from validator failed", "validator", a.v.PublicKey.String(), "err", err)
		}
		next = n
	}
	return next, ans, nil
}

// pipelined runs pipelinedSync from next with the validators that claim more, highest
// claims first, if they claim enough to be worth it, each download with receive limit
// limit; it returns the local next height. Whatever it could not fetch (a later epoch's
// policy may allow larger certificates than limit) is left to the caller's
// validator-by-validator loop, one download at a time.
func (c *Client) pipelined(ctx context.Context, id base.ChainID, next base.BlockHeight, infos []answer[*protocol.ChainInfo], limit int64) base.BlockHeight {
	var sources []*syncSource
	top := next
	for _, a := range infos {
		if a.err == nil && a.val != nil && a.val.NextBlockHeight > next {
			sources = append(sources, &syncSource{v: a.v, next: a.val.NextBlockHeight})
			top = max(top, a.val.NextBlockHeight)
		}
	}
	if top-next < syncMinRange {
		return next
	}
	n, err := c.pipelinedSync(ctx, id, next, top, sources, limit)
	if err != nil {
		c.log.Debug("pipelined sync stopped", "chain", id.String(), "height", uint64(n), "err", err)
	}
	return n
}

func cmpHeight(a, b answer[*protocol.ChainInfo]) int {
	var ha, hb base.BlockHeight
	if a.err == nil && a.val != nil {
		ha = a.val.NextBlockHeight
	}
	if b.err == nil && b.val != nil {
		hb = b.val.NextBlockHeight
	}
	switch {
	case ha < hb:
		return -1
	case ha > hb:
		return 1
	}
	return 0
}

// downloadFrom fetches certificates [from, to) of a chain from one validator and
// processes them locally; it returns the new local next height.
func (c *Client) downloadFrom(ctx context.Context, v Validator, id base.ChainID, from, to base.BlockHeight) (base.BlockHeight, error) {
	for from < to {
		// A validator that stalls is given up on after the request timeout.
		cctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		certs, err := v.Node.Certificates(cctx, id, from, to)
		cancel()
		if err != nil {
			return from, err
		}
		if len(certs) == 0 {
			return from, fmt.Errorf("validator %s returned no certificates from height %d", v.PublicKey, from)
		}
		for _, cert := range certs {
			if cert.Kind != protocol.KindConfirmed || cert.ChainID() != id || cert.Height() != from {
				return from, base.Invalidf("validator %s returned an unexpected certificate", v.PublicKey)
			}
			if err := c.processLocally(ctx, cert); err != nil {
				return from, err
			}
			from++
		}
	}
	return from, nil
}

// processLocally executes a confirmed certificate on the local node, fetching blobs it
// needs from the validators. The local node checks the certificate against the committee
// the chain trusts for the block's epoch; an error means the certificate is not
// confirmed as far as this client knows.
// processLocally hands a certificate to the local node, which verifies and executes it.
// If the node lacks blobs the certificate publishes, they come from carried (blobs the
// caller holds, such as its own proposal's) or else from the validators; the node accepts
// them because the certificate it verified asked for them.
func (c *Client) processLocally(ctx context.Context, cert *protocol.Certificate, carried ...protocol.Blob) error {
	_, err := c.cfg.Local.HandleCertificate(ctx, cert)
	if mb, ok := errorsAs[*execution.MissingBlobError](err); ok && mb.ID.Type == base.BlobCommittee {
		// An epoch change of the chain names a committee that the admin chain's block
		// created: follow the admin chain first (verified like any chain), then retry.
		admin, aerr := c.adminChain(ctx, cert.ChainID())
		if aerr != nil {
			return aerr
		}
		if admin == cert.ChainID() {
			return err
		}
		if _, serr := c.SyncChain(ctx, admin); serr != nil {
			return serr
		}
		_, err = c.cfg.Local.HandleCertificate(ctx, cert)
	}
	// A block may use blobs that another chain published (an application's bytecode or
	// description): fetch each the node reports missing. They are content-addressed, and
	// the node accepts them because the certificate it verified needs them.
	for range 16 {
		mb, ok := errorsAs[*execution.MissingBlobError](err)
		if !ok || mb.ID.Type == base.BlobCommittee {
			break
		}
		if ferr := c.fetchBlob(ctx, mb.ID); ferr != nil {
			return ferr
		}
		_, err = c.cfg.Local.HandleCertificate(ctx, cert)
	}
	if errors.Is(err, worker.ErrBlobsNotFound) {
	ids:
		for _, id := range cert.Block.Proposed.PublishedBlobIDs() {
			for i := range carried {
				if carried[i].ID() == id {
					if err := c.cfg.Local.HandleBlob(ctx, carried[i]); err != nil {
						return err
					}
					continue ids
				}
			}
			if err := c.fetchBlob(ctx, id); err != nil {
				return err
			}
		}
		_, err = c.cfg.Local.HandleCertificate(ctx, cert)
	}
	return err
}

// fetchBlob uploads to the local node a blob that a certificate it verified reported
// missing (the local node accepts no other).
func (c *Client) fetchBlob(ctx context.Context, id base.BlobID) error {
	if _, err := c.cfg.Local.Storage().Blob(ctx, id); err == nil {
		return nil
	}
	if b, err := c.readBlob(ctx, id); err == nil {
		return c.cfg.Local.HandleBlob(ctx, b)
	}
	return &worker.BlobsNotFoundError{IDs: []base.BlobID{id}}
}

// needsUpdate reports whether a validator refused because it lacks data we can push.
func needsUpdate(err error) bool {
	return errors.Is(err, base.ErrNotFound) || errors.Is(err, worker.ErrWrongHeight)
}

// updateValidator pushes to v what it needs to handle a block of chain id at height:
// the chain's creation, its earlier certificates, the certificates that sent the block's
// incoming bundles, and the blobs the block publishes.
func (c *Client) updateValidator(ctx context.Context, v Validator, block *protocol.ProposedBlock, blobs []protocol.Blob) error {
	if err := c.updateChainTo(ctx, v, block.ChainID, block.Height, 0); err != nil {
		return err
	}
	for _, s := range latestSendingBlocks(block.Bundles()) {
		if err := c.updateChainTo(ctx, v, s.ChainID, s.Height+1, 0); err != nil {
			return err
		}
	}
	// The proposal carries its own blobs. Others it publishes are offered from the
	// local store; a validator takes them only if a certificate it verified asked for
	// them, so a refusal here is not an error (the retry reports what is still missing).
	carried := make(map[base.BlobID]bool, len(blobs))
	for i := range blobs {
		carried[blobs[i].ID()] = true
	}
	for _, id := range block.PublishedBlobIDs() {
		if carried[id] {
			continue
		}
		if blob, err := c.cfg.Local.Storage().Blob(ctx, id); err == nil {
			if err := v.Node.HandleBlob(c.uploadContext(ctx, &blob), blob); err != nil {
				c.log.Debug("validator refused a blob", "validator", v.PublicKey.String(), "blob", id.String(), "err", err)
			}
		}
	}
	return nil
}

const maxUpdateDepth = 8

// updateChainTo makes v execute chain id up to (excluding) height target.
func (c *Client) updateChainTo(ctx context.Context, v Validator, id base.ChainID, target base.BlockHeight, depth int) error {
	if depth > maxUpdateDepth {
		return fmt.Errorf("updating validator %s: chain ancestry too deep", v.PublicKey)
	}
	info, err := queryInfo(ctx, v, c.cfg.Committee, &protocol.ChainInfoQuery{ChainID: id})
	if errors.Is(err, worker.ErrUnknownChain) {
		// Push the parent's block that created the chain.
		desc, derr := c.description(ctx, id)
		if derr != nil {
			return derr
		}
		if !desc.Origin.IsChild {
			return err
		}
		if err := c.updateChainTo(ctx, v, desc.Origin.Parent, desc.Origin.Height+1, depth+1); err != nil {
			return err
		}
		info, err = queryInfo(ctx, v, c.cfg.Committee, &protocol.ChainInfoQuery{ChainID: id})
	}
	if err != nil {
		return err
	}
	for h := info.NextBlockHeight; h < target; h++ {
		cert, err := c.certificate(ctx, id, h)
		if err != nil {
			return err
		}
		if _, err := v.Node.HandleCertificate(ctx, cert); err != nil {
			if !errors.Is(err, worker.ErrBlobsNotFound) {
				return err
			}
			for _, bid := range cert.Block.Proposed.PublishedBlobIDs() {
				blob, berr := c.blob(ctx, bid)
				if berr != nil {
					return berr
				}
				if err := v.Node.HandleBlob(c.uploadContext(ctx, &blob), blob); err != nil {
					return err
				}
			}
			if _, err := v.Node.HandleCertificate(ctx, cert); err != nil {
				return err
			}
		}
	}
	// Give the validator a moment to deliver the bundles of what was just pushed.
	if target > info.NextBlockHeight && !c.cfg.Sequential {
		t := time.NewTimer(2 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	return nil
}

// certificate returns a confirmed certificate from the local store or, failing that, from
// the first validator that has it.
func (c *Client) certificate(ctx context.Context, id base.ChainID, h base.BlockHeight) (*protocol.Certificate, error) {
	if cert, err := c.cfg.Local.Storage().CertificateAt(ctx, id, h); err == nil {
		return cert, nil
	}
	for _, v := range c.validators() {
		cctx, cancel := c.withCallTimeout(ctx)
		certs, err := v.Node.Certificates(cctx, id, h, h+1)
		cancel()
		if err == nil && len(certs) == 1 && certs[0].Kind == protocol.KindConfirmed && certs[0].ChainID() == id && certs[0].Height() == h {
			return certs[0], nil
		}
	}
	return nil, base.NotFoundf("no validator has block %d of chain %s", h, id.Short())
}

// blob returns a blob from the local node's confirmed store or, failing that, from the
// first validator that has it (checked against its content address, not stored).
func (c *Client) blob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	if b, err := c.cfg.Local.Storage().Blob(ctx, id); err == nil {
		return b, nil
	}
	return c.readBlob(ctx, id)
}

// readBlob returns a blob from the first validator that has it, checked against its
// content address. Each validator is given the per-call deadline, so one that never
// answers delays the download by that much only. The validators are asked with the
// genesis policy's largest blob as the receive limit (readBlobFrom), then, if none
// answered within it and some did not say it has none, without: a later epoch's policy
// may allow larger blobs, and only a blob no honest validator serves within the limit
// lets a Byzantine one send more.
func (c *Client) readBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	for _, limited := range []bool{true, false} {
		retry := false
		for _, v := range c.validators() {
			cctx, cancel := c.withCallTimeout(ctx)
			b, err := c.readBlobFrom(cctx, v, id, limited)
			cancel()
			if err == nil && b.ID() == id {
				return b, nil
			}
			retry = retry || (err != nil && !base.IsNotFound(err))
		}
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return protocol.Blob{}, &worker.BlobsNotFoundError{IDs: []base.BlobID{id}}
}

// description returns a chain's description: the local confirmed copy or a validator's.
// The content is authentic (its hash is the chain id) but says nothing about whether the
// chain exists; only a confirmed block of its parent does.
func (c *Client) description(ctx context.Context, id base.ChainID) (*protocol.ChainDescription, error) {
	blob, err := c.blob(ctx, base.BlobID{Type: base.BlobChainDescription, Hash: base.Hash(id)})
	if err != nil {
		return nil, err
	}
	var d protocol.ChainDescription
	if err := codec.Unmarshal(blob.Content, &d); err != nil {
		return nil, base.Corruptf("description of chain %s: %v", id.Short(), err)
	}
	return &d, nil
}

func (c *Client) localOwnership(ctx context.Context, id base.ChainID) (protocol.ChainOwnership, error) {
	var o protocol.ChainOwnership
	err := c.cfg.Local.ChainState(ctx, id, func(s *chain.State) error {
		var err error
		o, err = s.Execution().Ownership(ctx)
		return err
	})
	return o, err
}

func (c *Client) localEpoch(ctx context.Context, id base.ChainID) (base.Epoch, error) {
	var e base.Epoch
	err := c.cfg.Local.ChainState(ctx, id, func(s *chain.State) error {
		var err error
		e, err = s.Execution().Epoch(ctx)
		return err
	})
	return e, err
}
