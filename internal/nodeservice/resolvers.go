package nodeservice

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/nodeservice/view"
	"github.com/micachain/mica/internal/protocol"
)

const (
	// maxBlocks bounds the blocks one blocks query returns.
	maxBlocks = 100
	// maxInbox bounds the bundles an inbox summary lists.
	maxInbox = 100
	// maxBlobContent is the largest blob whose content a blob query returns.
	maxBlobContent = 1 << 20
	// appScanBlocks bounds the blocks scanned for a chain's applications.
	appScanBlocks = 1000
)

// resolver implements the generated ResolverRoot over a Service.
type resolver struct{ s *Service }

func (r *resolver) Query() QueryResolver               { return (*queryResolver)(r) }
func (r *resolver) Mutation() MutationResolver         { return (*mutationResolver)(r) }
func (r *resolver) Subscription() SubscriptionResolver { return (*subscriptionResolver)(r) }
func (r *resolver) Chain() ChainResolver               { return (*chainResolver)(r) }

type (
	queryResolver        resolver
	mutationResolver     resolver
	subscriptionResolver resolver
	chainResolver        resolver
)

// ---- queries ----

func (q *queryResolver) Wallet(ctx context.Context) (*Wallet, error) {
	s := q.s
	v := &Wallet{Chains: []WalletChain{}, Owners: []string{}}
	def, hasDef := s.w.Default()
	if hasDef {
		v.DefaultChain = strp(def.String())
	}
	for _, ch := range s.w.Chains() {
		wc := WalletChain{ChainID: ch.ID.String(), IsDefault: hasDef && ch.ID == def, Balance: base.ZeroAmount.String()}
		if ch.Owner != nil {
			wc.Owner = strp(ch.Owner.String())
		}
		if tip, err := s.c.LocalTip(ctx, ch.ID); err == nil {
			wc.NextHeight = int64(tip.NextHeight)
		}
		if bal, err := s.c.LocalBalance(ctx, base.Account{Chain: ch.ID, Owner: base.ChainOwner}); err == nil {
			wc.Balance = bal.String()
		}
		v.Chains = append(v.Chains, wc)
	}
	owners, err := s.w.Keys()
	if err != nil {
		return nil, err
	}
	for _, o := range owners {
		v.Owners = append(v.Owners, o.String())
	}
	return v, nil
}

// localChain resolves an optional chain argument to a chain the local replica holds:
// a chain of the wallet, or any chain the validators know (it is then synced).
func (s *Service) localChain(ctx context.Context, chain *string) (base.ChainID, error) {
	id, err := s.defaultChain(chain)
	if err != nil {
		return id, err
	}
	if _, inWallet := s.w.Chain(id); inWallet {
		if _, err := s.c.LocalTip(ctx, id); err == nil {
			return id, nil
		}
	}
	if err := s.syncOnDemand(ctx, id); err != nil {
		if ctx.Err() != nil {
			return id, ctx.Err()
		}
		if base.IsInvalid(err) {
			return id, err
		}
		return id, fmt.Errorf("unknown chain %s: %v", id, err)
	}
	return id, nil
}

func (q *queryResolver) Chain(ctx context.Context, chainArg *string) (*Chain, error) {
	s := q.s
	id, err := s.localChain(ctx, chainArg)
	if err != nil {
		return nil, err
	}
	v := &Chain{ChainID: id.String()}
	err = s.c.Local().ChainState(ctx, id, func(st *chain.State) error {
		ex := st.Execution()
		tip, err := st.Tip(ctx)
		if err != nil {
			return err
		}
		v.NextHeight = int64(tip.NextHeight)
		v.TipHash = hashp(tip.BlockHash)
		v.Timestamp = int64(tip.Timestamp)
		bal, err := ex.ChainBalance(ctx)
		if err != nil {
			return err
		}
		v.Balance = bal.String()
		own, err := ex.Ownership(ctx)
		if err != nil {
			return err
		}
		v.Ownership = view.Ownership(&own)
		ep, err := ex.Epoch(ctx)
		if err != nil {
			return err
		}
		v.Epoch = int64(ep)
		v.Closed, err = ex.IsClosed(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("chain %s: %w", id, err)
	}
	return v, nil
}

func (q *queryResolver) Block(ctx context.Context, chainArg *string, height *int64, hash *string) (*Block, error) {
	s := q.s
	st := s.c.Local().Storage()
	if hash != nil {
		h, err := base.ParseHash(*hash)
		if err != nil {
			return nil, fmt.Errorf("hash: %w", err)
		}
		cert, err := st.Certificate(ctx, h)
		if base.IsNotFound(err) || err == nil && cert.Block == nil {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		v := view.Block(cert)
		return &v, nil
	}
	id, err := s.localChain(ctx, chainArg)
	if err != nil {
		return nil, err
	}
	var h base.BlockHeight
	if height != nil {
		if *height < 0 {
			return nil, errors.New("height: must not be negative")
		}
		h = base.BlockHeight(*height)
	} else {
		tip, err := s.c.LocalTip(ctx, id)
		if err != nil {
			return nil, err
		}
		if tip.NextHeight == 0 {
			return nil, nil
		}
		h = tip.NextHeight - 1
	}
	cert, err := st.CertificateAt(ctx, id, h)
	if base.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v := view.Block(cert)
	return &v, nil
}

// blocks lists up to limit blocks of a chain: from `from` upward, or the newest first
// when from is nil.
func (s *Service) blocks(ctx context.Context, id base.ChainID, from *int64, limit *int) ([]Block, error) {
	n := 10
	if limit != nil {
		n = *limit
	}
	if n < 0 || n > maxBlocks {
		return nil, fmt.Errorf("limit: must be between 0 and %d", maxBlocks)
	}
	tip, err := s.c.LocalTip(ctx, id)
	if err != nil {
		return nil, err
	}
	var lo, hi base.BlockHeight
	newestFirst := from == nil
	if newestFirst {
		hi = tip.NextHeight
		lo = hi - min(hi, base.BlockHeight(n))
	} else {
		if *from < 0 {
			return nil, errors.New("from: must not be negative")
		}
		lo = min(base.BlockHeight(*from), tip.NextHeight)
		hi = min(tip.NextHeight, lo+base.BlockHeight(n))
	}
	if hi == lo {
		return []Block{}, nil
	}
	st := s.c.Local().Storage()
	certs, err := s.readBlocks(ctx, func(maxBytes int) ([]*protocol.Certificate, int, error) {
		if newestFirst {
			return st.LatestCertificatesWithin(ctx, id, lo, hi, n, maxBytes)
		}
		return st.CertificatesWithin(ctx, id, lo, hi, n, maxBytes)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Block, 0, len(certs))
	for _, c := range certs {
		out = append(out, view.Block(c))
	}
	return out, nil
}

func (q *queryResolver) Blocks(ctx context.Context, chainArg *string, from *int64, limit *int) ([]Block, error) {
	id, err := q.s.localChain(ctx, chainArg)
	if err != nil {
		return nil, err
	}
	return q.s.blocks(ctx, id, from, limit)
}

// parseBlobID reads "TYPE:HASH" (as base.BlobID prints it) or a bare hash (a data blob).
func parseBlobID(s string) (base.BlobID, error) {
	for t := base.BlobData; t.Valid(); t++ {
		p := t.String() + ":"
		if len(s) > len(p) && s[:len(p)] == p {
			h, err := base.ParseHash(s[len(p):])
			return base.BlobID{Type: t, Hash: h}, err
		}
	}
	h, err := base.ParseHash(s)
	if err != nil {
		return base.BlobID{}, fmt.Errorf("blob id %q: want TYPE:HASH (e.g. Data:…) or a data blob's hash", s)
	}
	return base.BlobID{Type: base.BlobData, Hash: h}, nil
}

func (q *queryResolver) Blob(ctx context.Context, idArg string) (*Blob, error) {
	id, err := parseBlobID(idArg)
	if err != nil {
		return nil, err
	}
	var b protocol.Blob
	err = q.s.spend(ctx, func(int) (int, error) {
		var err error
		b, err = q.s.c.Local().Storage().Blob(ctx, id)
		return len(b.Content), err
	})
	if base.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v := &Blob{ID: id.String(), Kind: id.Type.String(), Size: b.Size(), Hash: id.Hash.String()}
	if b.Size() <= maxBlobContent {
		v.ContentBase64 = strp(base64.StdEncoding.EncodeToString(b.Content))
	}
	return v, nil
}

func (q *queryResolver) Applications(ctx context.Context, chainArg *string) ([]Application, error) {
	id, err := q.s.localChain(ctx, chainArg)
	if err != nil {
		return nil, err
	}
	return q.s.applications(ctx, id)
}

// applications lists the applications a chain created or used in its last
// appScanBlocks blocks (the local replica keeps no index of them), in first-seen order.
func (s *Service) applications(ctx context.Context, id base.ChainID) ([]Application, error) {
	tip, err := s.c.LocalTip(ctx, id)
	if err != nil {
		return nil, err
	}
	lo := tip.NextHeight - min(tip.NextHeight, appScanBlocks)
	var certs []*protocol.Certificate
	if lo < tip.NextHeight {
		// The newest blocks within the request's budget, scanned oldest first.
		certs, err = s.readBlocks(ctx, func(maxBytes int) ([]*protocol.Certificate, int, error) {
			return s.c.Local().Storage().LatestCertificatesWithin(ctx, id, lo, tip.NextHeight, appScanBlocks, maxBytes)
		})
		if err != nil {
			return nil, err
		}
		slices.Reverse(certs)
	}
	seen := map[base.ApplicationID]bool{}
	var order []base.ApplicationID
	add := func(a base.ApplicationID) {
		if !seen[a] {
			seen[a] = true
			order = append(order, a)
		}
	}
	for _, c := range certs {
		b := c.Block
		for i, tx := range b.Proposed.Transactions {
			switch {
			case tx.Operation != nil && tx.Operation.System == nil:
				add(tx.Operation.App)
			case tx.Operation != nil:
				if _, ok := tx.Operation.System.(*protocol.CreateApplication); ok && i < len(b.Outcome.OperationResults) && len(b.Outcome.OperationResults[i]) == base.HashSize {
					add(base.ApplicationID(b.Outcome.OperationResults[i]))
				}
			case tx.Bundle != nil:
				for _, m := range tx.Bundle.Bundle.Messages {
					if m.Message.System == nil {
						add(m.Message.App)
					}
				}
			}
		}
	}
	out := make([]Application, 0, len(order))
	for _, a := range order {
		out = append(out, s.applicationView(ctx, id, a))
	}
	return out, nil
}

func (s *Service) applicationView(ctx context.Context, chainID base.ChainID, app base.ApplicationID) Application {
	v := Application{ApplicationID: app.String(), Link: "/chains/" + chainID.String() + "/applications/" + app.String()}
	blob, err := s.c.Local().Storage().Blob(ctx, base.BlobID{Type: base.BlobApplicationDescription, Hash: base.Hash(app)})
	if err != nil {
		return v
	}
	var d protocol.ApplicationDescription
	if err := codec.Unmarshal(blob.Content, &d); err != nil {
		return v
	}
	req := []string{}
	for _, r := range d.Required {
		req = append(req, r.String())
	}
	v.Description = view.MustJSON(map[string]any{"moduleId": d.Module.String(), "creatorChain": d.CreatorChain.String(), "height": uint64(d.Height),
		"index": d.Index, "parameters": view.AppJSON(d.Parameters), "requiredApplications": req})
	return v
}

// ---- chain fields ----

func (r *chainResolver) OwnerBalance(ctx context.Context, obj *Chain, owner string) (string, error) {
	o, err := base.ParseOwner(owner)
	if err != nil {
		return "", fmt.Errorf("owner: %w", err)
	}
	id, err := base.ParseChainID(obj.ChainID)
	if err != nil {
		return "", err
	}
	bal, err := r.s.c.LocalBalance(ctx, base.Account{Chain: id, Owner: o})
	if err != nil {
		return "", err
	}
	return bal.String(), nil
}

// maxOwnerBalances bounds the owner balances a chain query lists.
const maxOwnerBalances = 1000

var errEnough = errors.New("enough")

func (r *chainResolver) OwnerBalances(ctx context.Context, obj *Chain) ([]OwnerBalance, error) {
	id, err := base.ParseChainID(obj.ChainID)
	if err != nil {
		return nil, err
	}
	out := []OwnerBalance{}
	err = r.s.c.Local().ChainState(ctx, id, func(st *chain.State) error {
		return st.Execution().OwnerBalances(ctx, func(o base.Owner, b base.Amount) error {
			if len(out) == maxOwnerBalances {
				return errEnough
			}
			out = append(out, OwnerBalance{Owner: o.String(), Balance: b.String()})
			return nil
		})
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, err
	}
	return out, nil
}

func (r *chainResolver) Inbox(ctx context.Context, obj *Chain) (*InboxSummary, error) {
	id, err := base.ParseChainID(obj.ChainID)
	if err != nil {
		return nil, err
	}
	bundles, err := r.s.pendingBundles(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &InboxSummary{PendingBundles: len(bundles), Bundles: []InboxBundle{}}
	for i := range bundles {
		if i == maxInbox {
			break
		}
		b := &bundles[i]
		v.Bundles = append(v.Bundles, InboxBundle{Origin: b.Origin.String(), Height: int64(b.Bundle.Height), TransactionIndex: int(b.Bundle.TransactionIndex),
			Messages: len(b.Bundle.Messages), Summary: view.BundleSummary(b)})
	}
	return v, nil
}

func (r *chainResolver) Outbox(ctx context.Context, obj *Chain) (*OutboxSummary, error) {
	id, err := base.ParseChainID(obj.ChainID)
	if err != nil {
		return nil, err
	}
	v := &OutboxSummary{}
	err = r.s.c.Local().ChainState(ctx, id, func(st *chain.State) error {
		targets, err := st.NonEmptyOutboxes(ctx)
		if err != nil {
			return err
		}
		v.Targets = len(targets)
		for _, t := range targets {
			hs, err := st.OutboxHeightsAfter(ctx, t, nil, 1000)
			if err != nil {
				return err
			}
			v.PendingHeights += len(hs)
		}
		return nil
	})
	return v, err
}

func (r *chainResolver) Applications(ctx context.Context, obj *Chain) ([]Application, error) {
	id, err := base.ParseChainID(obj.ChainID)
	if err != nil {
		return nil, err
	}
	return r.s.applications(ctx, id)
}

func (r *chainResolver) Blocks(ctx context.Context, obj *Chain, from *int64, limit *int) ([]Block, error) {
	id, err := base.ParseChainID(obj.ChainID)
	if err != nil {
		return nil, err
	}
	return r.s.blocks(ctx, id, from, limit)
}

// ---- mutations ----

// commitOn runs f with the client of a chain the wallet owns, under the chain's lock,
// retrying what is retryable (Commit). The chain is synced first (cheap when it is).
func (s *Service) commitOn(ctx context.Context, chainArg *string, f func(ctx context.Context, cc *client.ChainClient) (*protocol.Certificate, error)) (*protocol.Certificate, error) {
	id, err := s.defaultChain(chainArg)
	if err != nil {
		return nil, err
	}
	return s.commitOnID(ctx, id, f)
}

func (s *Service) commitOnID(ctx context.Context, id base.ChainID, f func(ctx context.Context, cc *client.ChainClient) (*protocol.Certificate, error)) (*protocol.Certificate, error) {
	cc, err := ChainClient(s.w, s.c, id)
	if err != nil {
		return nil, err
	}
	l := s.chainLock(id)
	l.Lock()
	defer l.Unlock()
	before, _ := s.c.LocalTip(ctx, id)
	cert, err := Commit(ctx, s.w, cc, func() (*protocol.Certificate, error) { return f(ctx, cc) }, Retry{OnWait: func(w Wait) {
		if w.Timeout != nil {
			s.log.Info("waiting for a round to time out", "chain", id.Short(), "round", w.Timeout.Round.String(), "wait", w.Wait, "attempt", w.Attempt)
			return
		}
		s.log.Info("retrying a block", "chain", id.Short(), "reason", w.Reason(), "wait", w.Wait, "attempt", w.Attempt, "err", w.Err)
	}})
	if after, terr := s.c.LocalTip(ctx, id); terr == nil {
		s.publishNewBlocks(ctx, id, before.NextHeight, after.NextHeight)
	}
	if err == nil && cert != nil {
		if serr := s.w.Save(); serr != nil {
			s.log.Warn("saving the wallet", "err", serr)
		}
	}
	return cert, err
}

func (m *mutationResolver) ops(ctx context.Context, chainArg *string, ops []protocol.Operation, blobs []protocol.Blob) (*protocol.Certificate, error) {
	cert, err := m.s.commitOn(ctx, chainArg, func(ctx context.Context, cc *client.ChainClient) (*protocol.Certificate, error) {
		return cc.ExecuteOperations(ctx, ops, blobs)
	})
	if err == nil && cert == nil {
		return nil, errors.New("nothing was committed")
	}
	return cert, err
}

func parseAmount(s string) (base.Amount, error) {
	a, err := base.ParseAmount(s)
	if err != nil {
		return a, fmt.Errorf("amount %q: %w", s, err)
	}
	return a, nil
}

func (m *mutationResolver) Transfer(ctx context.Context, chainArg *string, owner *string, recipient string, amount string) (*BlockResult, error) {
	to, err := m.s.w.ParseRecipient(recipient)
	if err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	amt, err := parseAmount(amount)
	if err != nil {
		return nil, err
	}
	// By default the chain's own balance pays, as `mica transfer` does.
	from := base.ChainOwner
	if owner != nil && *owner != "" {
		if from, err = base.ParseOwner(*owner); err != nil {
			return nil, fmt.Errorf("owner: %w", err)
		}
	}
	cert, err := m.s.commitOn(ctx, chainArg, func(ctx context.Context, cc *client.ChainClient) (*protocol.Certificate, error) {
		return cc.Transfer(ctx, from, to, amt)
	})
	if err != nil {
		return nil, err
	}
	return view.BlockResult(cert), nil
}

func (m *mutationResolver) Claim(ctx context.Context, chainArg *string, owner string, source string, recipient string, amount string) (*BlockResult, error) {
	o, err := base.ParseOwner(owner)
	if err != nil {
		return nil, fmt.Errorf("owner: %w", err)
	}
	src, err := base.ParseChainID(source)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	to, err := m.s.w.ParseRecipient(recipient)
	if err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	amt, err := parseAmount(amount)
	if err != nil {
		return nil, err
	}
	cert, err := m.ops(ctx, chainArg, []protocol.Operation{protocol.SystemOp(&protocol.Claim{Owner: o, Target: src, Recipient: to, Amount: amt})}, nil)
	if err != nil {
		return nil, err
	}
	return view.BlockResult(cert), nil
}

// openChild opens a child chain with an ownership and adds it to the wallet (with the
// signing owner mine when the wallet holds its key).
func (m *mutationResolver) openChild(ctx context.Context, chainArg *string, own protocol.ChainOwnership, mine *base.Owner, balance *string) (*OpenChainResult, error) {
	amt := base.ZeroAmount
	if balance != nil && *balance != "" {
		var err error
		if amt, err = parseAmount(*balance); err != nil {
			return nil, err
		}
	}
	if err := own.Validate(); err != nil {
		return nil, err
	}
	var child base.ChainID
	cert, err := m.s.commitOn(ctx, chainArg, func(ctx context.Context, cc *client.ChainClient) (*protocol.Certificate, error) {
		id, cert, err := cc.OpenChain(ctx, own, amt)
		child = id
		return cert, err
	})
	if err != nil {
		return nil, err
	}
	if err := m.s.w.AddChain(child, mine); err != nil {
		return nil, err
	}
	if err := m.s.w.Save(); err != nil {
		return nil, err
	}
	return &OpenChainResult{ChainID: child.String(), Block: view.BlockResult(cert)}, nil
}

func (m *mutationResolver) OpenChain(ctx context.Context, chainArg *string, owner *string, balance *string) (*OpenChainResult, error) {
	var o base.Owner
	var mine *base.Owner
	if owner != nil && *owner != "" {
		var err error
		if o, err = base.ParseOwner(*owner); err != nil {
			return nil, fmt.Errorf("owner: %w", err)
		}
		if _, kerr := m.s.w.Key(o); kerr == nil {
			mine = &o
		}
	} else {
		k, err := m.s.w.GenerateKey(crypto.Ed25519)
		if err != nil {
			return nil, err
		}
		o = k.Public().Owner()
		mine = &o
	}
	return m.openChild(ctx, chainArg, protocol.SingleSuperOwner(o), mine, balance)
}

func parseOwners(list []string) ([]base.Owner, error) {
	out := make([]base.Owner, 0, len(list))
	for _, s := range list {
		o, err := base.ParseOwner(s)
		if err != nil {
			return nil, fmt.Errorf("owner %q: %w", s, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// maxOwners bounds the owners a mutation may name.
const maxOwners = 100

// weightedOwnership builds an ownership of regular owners with optional weights.
func weightedOwnership(owners []string, weights []int64, rounds uint32) (protocol.ChainOwnership, error) {
	if len(owners) > maxOwners {
		return protocol.ChainOwnership{}, fmt.Errorf("at most %d owners", maxOwners)
	}
	os, err := parseOwners(owners)
	if err != nil {
		return protocol.ChainOwnership{}, err
	}
	own := protocol.MultiOwner(os, rounds)
	if weights != nil {
		if len(weights) != len(owners) {
			return own, errors.New("weights: give one weight per owner")
		}
		byOwner := map[base.Owner]uint64{}
		for i, o := range os {
			if weights[i] <= 0 {
				return own, errors.New("weights: must be positive")
			}
			byOwner[o] = uint64(weights[i])
		}
		for i := range own.Owners {
			own.Owners[i].Weight = byOwner[own.Owners[i].Owner]
		}
	}
	return own, nil
}

func (m *mutationResolver) OpenMultiOwnerChain(ctx context.Context, chainArg *string, owners []string, weights []int64, multiLeaderRounds *int, balance *string) (*OpenChainResult, error) {
	if len(owners) == 0 {
		return nil, errors.New("owners: give at least one owner")
	}
	rounds := uint32(2)
	if multiLeaderRounds != nil {
		if *multiLeaderRounds < 0 {
			return nil, errors.New("multiLeaderRounds: must not be negative")
		}
		rounds = uint32(*multiLeaderRounds)
	}
	own, err := weightedOwnership(owners, weights, rounds)
	if err != nil {
		return nil, err
	}
	var mine *base.Owner
	for _, w := range own.Owners {
		if _, err := m.s.w.Key(w.Owner); err == nil {
			o := w.Owner
			mine = &o
			break
		}
	}
	return m.openChild(ctx, chainArg, own, mine, balance)
}

func (m *mutationResolver) ChangeOwnership(ctx context.Context, chainArg *string, superOwners []string, owners []string, weights []int64) (*BlockResult, error) {
	if len(superOwners)+len(owners) == 0 {
		return nil, errors.New("give superOwners and/or owners (a chain without owners can never make blocks again; use closeChain)")
	}
	if len(superOwners) > maxOwners {
		return nil, fmt.Errorf("at most %d super owners", maxOwners)
	}
	own, err := weightedOwnership(owners, weights, 2)
	if err != nil {
		return nil, err
	}
	if len(owners) == 0 {
		own = protocol.ChainOwnership{MultiLeaderRounds: 2, Timeouts: protocol.DefaultTimeoutConfig()}
	}
	so, err := parseOwners(superOwners)
	if err != nil {
		return nil, err
	}
	for _, w := range protocol.MultiOwner(so, 0).Owners {
		own.SuperOwners = append(own.SuperOwners, w.Owner)
	}
	if err := own.Validate(); err != nil {
		return nil, err
	}
	cert, err := m.ops(ctx, chainArg, []protocol.Operation{protocol.SystemOp(&protocol.ChangeOwnership{Ownership: own})}, nil)
	if err != nil {
		return nil, err
	}
	return view.BlockResult(cert), nil
}

func (m *mutationResolver) CloseChain(ctx context.Context, chainArg *string) (*BlockResult, error) {
	cert, err := m.ops(ctx, chainArg, []protocol.Operation{protocol.SystemOp(&protocol.CloseChain{})}, nil)
	if err != nil {
		return nil, err
	}
	return view.BlockResult(cert), nil
}

// processInbox receives a chain's pending bundles and returns the blocks it committed.
func (s *Service) processInbox(ctx context.Context, id base.ChainID) ([]BlockResult, error) {
	before, _ := s.c.LocalTip(ctx, id)
	_, err := s.commitOnID(ctx, id, func(ctx context.Context, cc *client.ChainClient) (*protocol.Certificate, error) {
		return cc.ProcessInbox(ctx)
	})
	if err != nil {
		return nil, err
	}
	after, err := s.c.LocalTip(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []BlockResult{}
	if after.NextHeight > before.NextHeight {
		certs, err := s.c.Local().Storage().Certificates(ctx, id, before.NextHeight, after.NextHeight)
		if err != nil {
			return nil, err
		}
		for _, c := range certs {
			out = append(out, *view.BlockResult(c))
		}
	}
	return out, nil
}

func (m *mutationResolver) ProcessInbox(ctx context.Context, chainArg *string) ([]BlockResult, error) {
	id, err := m.s.defaultChain(chainArg)
	if err != nil {
		return nil, err
	}
	return m.s.processInbox(ctx, id)
}

func decodeBase64(what, s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: not standard base64: %v", what, err)
	}
	return b, nil
}

func (m *mutationResolver) PublishModule(ctx context.Context, chainArg *string, contractBase64 string, serviceBase64 string) (*PublishModuleResult, error) {
	c, err := decodeBase64("contractBase64", contractBase64)
	if err != nil {
		return nil, err
	}
	sv, err := decodeBase64("serviceBase64", serviceBase64)
	if err != nil {
		return nil, err
	}
	module, blobs := protocol.ModuleBlobs(c, sv)
	cert, err := m.ops(ctx, chainArg, []protocol.Operation{protocol.SystemOp(&protocol.PublishModule{Module: module})}, blobs)
	if err != nil {
		return nil, err
	}
	return &PublishModuleResult{ModuleID: module.String(), Block: view.BlockResult(cert)}, nil
}

func (m *mutationResolver) PublishDataBlob(ctx context.Context, chainArg *string, contentBase64 string) (*PublishDataBlobResult, error) {
	content, err := decodeBase64("contentBase64", contentBase64)
	if err != nil {
		return nil, err
	}
	var hash base.Hash
	cert, err := m.s.commitOn(ctx, chainArg, func(ctx context.Context, cc *client.ChainClient) (*protocol.Certificate, error) {
		h, cert, err := cc.PublishDataBlob(ctx, content)
		hash = h
		return cert, err
	})
	if err != nil {
		return nil, err
	}
	return &PublishDataBlobResult{Hash: hash.String(), Block: view.BlockResult(cert)}, nil
}

func parseModuleID(s string) (protocol.ModuleID, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			c, err := base.ParseHash(s[:i])
			if err != nil {
				break
			}
			sv, err := base.ParseHash(s[i+1:])
			if err != nil {
				break
			}
			return protocol.ModuleID{Contract: c, Service: sv}, nil
		}
	}
	return protocol.ModuleID{}, fmt.Errorf("moduleId %q: want CONTRACT_HASH:SERVICE_HASH", s)
}

func (m *mutationResolver) CreateApplication(ctx context.Context, chainArg *string, moduleID string, parameters JSON, argument JSON, requiredApplications []string) (*CreateApplicationResult, error) {
	module, err := parseModuleID(moduleID)
	if err != nil {
		return nil, err
	}
	var req []base.ApplicationID
	for _, a := range requiredApplications {
		id, err := base.ParseApplicationID(a)
		if err != nil {
			return nil, fmt.Errorf("requiredApplications: %w", err)
		}
		req = append(req, id)
	}
	op := protocol.SystemOp(&protocol.CreateApplication{Module: module, Parameters: []byte(parameters), Argument: []byte(argument), Required: req})
	cert, err := m.ops(ctx, chainArg, []protocol.Operation{op}, nil)
	if err != nil {
		return nil, err
	}
	res := cert.Block.Outcome.OperationResults
	if len(res) == 0 || len(res[len(res)-1]) != base.HashSize {
		return nil, errors.New("the block returned no application id")
	}
	return &CreateApplicationResult{ApplicationID: base.ApplicationID(res[len(res)-1]).String(), Block: view.BlockResult(cert)}, nil
}

func (m *mutationResolver) RequestChain(ctx context.Context, faucet string) (*OpenChainResult, error) {
	s := m.s
	if s.cfg.RequestChain == nil {
		return nil, errors.New("requestChain is not available in this service")
	}
	key, err := s.w.GenerateKey(crypto.Ed25519)
	if err != nil {
		return nil, err
	}
	owner := key.Public().Owner()
	id, err := s.cfg.RequestChain(ctx, faucet, owner)
	if err != nil {
		return nil, err
	}
	if err := s.w.AddChain(id, &owner); err != nil {
		return nil, err
	}
	if _, ok := s.w.Default(); !ok {
		if err := s.w.SetDefault(id); err != nil {
			return nil, err
		}
	}
	if err := s.w.Save(); err != nil {
		return nil, err
	}
	return &OpenChainResult{ChainID: id.String()}, nil
}

func (m *mutationResolver) SetDefaultChain(ctx context.Context, chainArg string) (string, error) {
	id, err := base.ParseChainID(chainArg)
	if err != nil {
		return "", fmt.Errorf("chain: %w", err)
	}
	if err := m.s.w.SetDefault(id); err != nil {
		return "", err
	}
	if err := m.s.w.Save(); err != nil {
		return "", err
	}
	return id.String(), nil
}

// ---- subscriptions ----

func (r *subscriptionResolver) Notifications(ctx context.Context, chainArg *string) (<-chan *Notification, error) {
	var filter *base.ChainID
	if chainArg != nil && *chainArg != "" {
		id, err := base.ParseChainID(*chainArg)
		if err != nil {
			return nil, fmt.Errorf("chain: %w", err)
		}
		if _, ok := r.s.w.Chain(id); !ok {
			return nil, fmt.Errorf("unknown chain %s: the wallet does not follow it", id)
		}
		filter = &id
	}
	ctx, cancel := context.WithCancelCause(ctx)
	place, err := r.s.subscriptions.take(ctx, cancel)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	sub := r.s.hub.Subscribe(filter, r.s.limits.SubscriberBuffer)
	out := make(chan *Notification)
	go func() {
		defer r.s.subscriptions.release(place)
		defer close(out)
		defer r.s.hub.Unsubscribe(sub)
		defer func() {
			if context.Cause(ctx) == errPlaceTaken {
				// Only a websocket's place is taken: its transport sends the error.
				transport.AddSubscriptionError(ctx, gqlerror.Errorf("subscription ended to make room for another connection: the service holds at most %d at once (Limits.MaxSubscriptions) and this connection held the most; subscribe on another connection or later", r.s.limits.MaxSubscriptions))
			}
			cancel(nil)
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case n, ok := <-sub.C:
				if !ok {
					if sub.Overflowed() {
						// A last notification says why the stream ends (the
						// subscriber fell too far behind); the client resubscribes.
						r.s.log.Warn("dropped a subscriber that fell behind")
						select {
						case out <- &Notification{ChainID: chainOrEmpty(filter), Kind: "DROPPED"}:
						case <-ctx.Done():
						}
					}
					return
				}
				if filter == nil {
					if _, ok := r.s.w.Chain(n.ChainID); !ok {
						continue
					}
				}
				select {
				case out <- view.Notification(n):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func chainOrEmpty(id *base.ChainID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

func strp(s string) *string { return &s }

func hashp(h *base.Hash) *string {
	if h == nil {
		return nil
	}
	return strp(h.String())
}
