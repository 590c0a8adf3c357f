package chain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

// certMap is a CertificateReader over certificates in memory, counting reads.
type certMap struct {
	m     map[base.Hash]*protocol.Certificate
	reads int
}

func (c *certMap) HasCertificate(_ context.Context, _ base.ChainID, _ base.BlockHeight, h base.Hash) (bool, error) {
	_, ok := c.m[h]
	return ok, nil
}

func (c *certMap) Certificate(_ context.Context, _ base.ChainID, _ base.BlockHeight, h base.Hash) (*protocol.Certificate, error) {
	c.reads++
	if cert, ok := c.m[h]; ok {
		return cert, nil
	}
	return nil, base.NotFoundf("certificate %s not found", h.Short())
}

// sendingBlock is origin's certified block at height h whose transactions each send
// one message to `to`, two to `to` and one elsewhere, or nothing.
func sendingBlock(origin, to base.ChainID, h base.BlockHeight) *protocol.Certificate {
	msg := func(dest base.ChainID, n uint64) protocol.OutgoingMessage {
		return protocol.OutgoingMessage{Destination: dest, Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Amount: base.AmountFromAttos(n)}}}
	}
	other := base.ChainID{9}
	p := protocol.ProposedBlock{ChainID: origin, Height: h, Timestamp: base.Timestamp(1000 + h)}
	o := protocol.BlockExecutionOutcome{Messages: [][]protocol.OutgoingMessage{
		{msg(to, 1)},
		{msg(other, 2), msg(to, 3), msg(to, 4)},
		nil,
		{msg(to, 5)},
	}}
	for range o.Messages {
		p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Amount: base.AmountFromAttos(1)}))
		o.OracleResponses = append(o.OracleResponses, nil)
		o.Events = append(o.Events, nil)
		o.Blobs = append(o.Blobs, nil)
		o.OperationResults = append(o.OperationResults, []byte{})
	}
	return &protocol.Certificate{Kind: protocol.KindConfirmed, Block: protocol.NewBlock(p, o)}
}

// threeSendingBlocks returns the bundles origin's blocks at heights 0, 1 and 2 send to
// ss's chain (three each: sendingBlock), by height, and a reader holding the
// certificates of heights 0 and 2 (height 1's is not on the store: stored whole).
func threeSendingBlocks(t *testing.T, ss *stateStore, origin base.ChainID) ([][]protocol.MessageBundle, *certMap) {
	t.Helper()
	certs := &certMap{m: map[base.Hash]*protocol.Certificate{}}
	var heights [][]protocol.MessageBundle
	for h := range base.BlockHeight(3) {
		cert := sendingBlock(origin, ss.id, h)
		bs := cert.Block.OutgoingBundlesTo(ss.id)
		if len(bs) != 3 {
			t.Fatalf("block sends %d bundles here, want 3", len(bs))
		}
		if h != 1 {
			certs.m[cert.Block.Hash()] = cert
		}
		heights = append(heights, bs)
	}
	return heights, certs
}

// Bundles whose certificate is on the store are queued as references (their
// transaction indexes in their sending block's entry) and read back, by the
// pending-bundle listing and by the block receiving them, as the same bundles as ones
// stored whole; without the certificate the inbox reports corruption, never an empty
// bundle or a panic.
func TestInboxStoresReferencesToCertificates(t *testing.T) {
	ctx := context.Background()
	origin := base.ChainID{2}
	ss := newStateStore(t)
	heights, certs := threeSendingBlocks(t, ss, origin)
	var want []protocol.MessageBundle
	var delivered [][]protocol.EpochBundle
	for _, bs := range heights {
		delivered = append(delivered, epochBundles(bs))
		want = append(want, bs...)
	}

	s := ss.load()
	s.UseCertificates(certs)
	for _, ebs := range delivered {
		if _, err := s.ReceiveBundles(ctx, origin, ebs); err != nil {
			t.Fatal(err)
		}
	}
	b := ss.flush(t, s)
	// One entry per sending block: heights 0 and 2 as references (the header and three
	// transaction indexes), height 1 whole.
	var layouts []string
	for _, g := range storedGroups(t, b, ss, origin) {
		layouts = append(layouts, fmt.Sprintf("%d:%v:%d", g.height, g.byRef, len(g.items)))
	}
	if got := strings.Join(layouts, " "); got != "0:true:3 1:false:3 2:true:3" {
		t.Fatalf("stored inbox entries (height:byRef:bundles) %s, want 0:true:3 1:false:3 2:true:3", got)
	}

	// Read back from the store by a fresh state: the same bundles as delivered.
	fresh := ss.load()
	fresh.UseCertificates(certs)
	checkPending(t, fresh, want)
	if certs.reads == 0 {
		t.Fatal("no certificate was read to resolve the references")
	}
	// The same state (its cache of what it pushed) gives the same answer.
	checkPending(t, s, want)
	// A block receives them from the store: every bundle matches.
	fresh = ss.load()
	fresh.UseCertificates(certs)
	for i := range want {
		if err := fresh.removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: want[i]}, true); err != nil {
			t.Fatalf("receiving bundle %d: %v", i, err)
		}
	}
	// A bundle with other messages than its certificate's is refused.
	fresh = ss.load()
	fresh.UseCertificates(certs)
	forged := want[0]
	forged.Messages = []protocol.PostedMessage{{Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Amount: base.Tokens(1000)}}}}
	if err := fresh.removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: forged}, true); !errors.Is(err, ErrBundleMismatch) {
		t.Fatalf("receiving a forged bundle: %v, want ErrBundleMismatch", err)
	}

	// Without the certificate, or without a reader: corruption, for both readers.
	for name, r := range map[string]CertificateReader{"missing certificate": &certMap{m: map[base.Hash]*protocol.Certificate{}}, "no reader": nil} {
		s := ss.load()
		if r != nil {
			s.UseCertificates(r)
		}
		if _, err := s.PendingBundles(ctx, 100, math.MaxInt); !errors.Is(err, base.ErrCorrupt) {
			t.Errorf("%s: PendingBundles = %v, want corruption", name, err)
		}
		s = ss.load()
		if r != nil {
			s.UseCertificates(r)
		}
		if err := s.removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: want[0]}, true); !errors.Is(err, base.ErrCorrupt) {
			t.Errorf("%s: receiving a bundle = %v, want corruption", name, err)
		}
	}
	// A certificate of another block under the hash: corruption.
	wrong := &certMap{m: map[base.Hash]*protocol.Certificate{}}
	for h, c := range certs.m {
		wrong.m[h] = sendingBlock(origin, base.ChainID{7}, c.Block.Height())
	}
	s = ss.load()
	s.UseCertificates(wrong)
	if _, err := s.PendingBundles(ctx, 100, math.MaxInt); !errors.Is(err, base.ErrCorrupt) {
		t.Errorf("certificate sending nothing here: PendingBundles = %v, want corruption", err)
	}
}

// An inbox written before references (every bundle stored whole) reads the same with a
// certificate reader.
func TestInboxReadsWholeBundlesWithReader(t *testing.T) {
	ctx := context.Background()
	origin := base.ChainID{2}
	ss := newStateStore(t)
	cert := sendingBlock(origin, ss.id, 0)
	bs := cert.Block.OutgoingBundlesTo(ss.id)
	s := ss.load() // no reader: stored whole, as before
	var ebs []protocol.EpochBundle
	for _, b := range bs {
		ebs = append(ebs, protocol.EpochBundle{Bundle: b})
	}
	if _, err := s.ReceiveBundles(ctx, origin, ebs); err != nil {
		t.Fatal(err)
	}
	b := ss.flush(t, s)
	for _, g := range storedGroups(t, b, ss, origin) {
		if g.byRef {
			t.Fatal("a reference was stored without a certificate reader")
		}
	}
	s = ss.load()
	s.UseCertificates(&certMap{m: map[base.Hash]*protocol.Certificate{cert.Block.Hash(): cert}})
	for i := range bs {
		if err := s.removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: bs[i]}, true); err != nil {
			t.Fatalf("receiving bundle %d: %v", i, err)
		}
	}
}

// loaderWith returns a function loading ss's chain state with certs at hand.
func loaderWith(ss *stateStore, certs *certMap) func() *State {
	return func() *State {
		s := ss.load()
		s.UseCertificates(certs)
		return s
	}
}

// queueBeforeGroups stages, in s's inbox from origin, the bundles of heights as the
// build before groups stored them: one entry each in the per-bundle queue, those of the
// first height as references.
func queueBeforeGroups(t *testing.T, s *State, origin base.ChainID, heights [][]protocol.MessageBundle) {
	t.Helper()
	var cur inboxCursors
	q := s.inboxQueuesOf(origin)
	old := inboxOps{cur: &cur, added: q.added.legacy, removed: q.removed}
	for h, bs := range heights {
		for _, b := range bs {
			if _, err := old.addBundle(context.Background(), b, h == 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.inboxes.Set(origin, cur)
}

// inboxQueuesContext is the context of origin's inbox queues in ss's chain state.
func inboxQueuesContext(ss *stateStore, origin base.ChainID) views.Context {
	return views.SubKey(views.NewContext(ss.db, []byte("c")).Sub(tagInboxQueues), chainIDKey, origin)
}

// groupsPrefix is the key prefix of origin's inbox groups in ss's chain state.
func groupsPrefix(ss *stateStore, origin base.ChainID) []byte {
	return inboxQueuesContext(ss, origin).Sub(tagInboxGroups).Prefix()
}

// storedGroups decodes the inbox groups of origin that b puts, in key order.
func storedGroups(t *testing.T, b *kv.Batch, ss *stateStore, origin base.ChainID) []bundleGroup {
	t.Helper()
	var out []bundleGroup
	for _, e := range queuePuts(t, b, groupsPrefix(ss, origin)) {
		r := codec.NewReader(e.value)
		g := groupCodec{}.Decode(r)
		if err := r.Finish(); err != nil {
			t.Fatalf("stored inbox entry: %v", err)
		}
		out = append(out, g)
	}
	return out
}
