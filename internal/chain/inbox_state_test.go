package chain

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

type stateStore struct {
	db *memkv.Store
	id base.ChainID
}

func newStateStore(t testing.TB) *stateStore {
	db := memkv.New()
	t.Cleanup(func() { db.Close() })
	return &stateStore{db: db, id: base.ChainID{1}}
}

func (ss *stateStore) load() *State { return Load(ss.id, views.NewContext(ss.db, []byte("c"))) }

func (ss *stateStore) flush(t testing.TB, s *State) *kv.Batch {
	t.Helper()
	b := new(kv.Batch)
	s.Flush(b)
	if err := ss.db.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLongInboxWritesConstantBytesPerBundle: with 10,000 delivered bundles not yet
// received, delivering one more, or receiving one by a block, writes as many bytes as
// with one bundle waiting. The inbox used to be one value per origin holding every
// waiting bundle, rewritten whole on each delivery and each receipt.
func TestLongInboxWritesConstantBytesPerBundle(t *testing.T) {
	ctx := context.Background()
	n := 10_000
	if testing.Short() {
		n = 2_000
	}
	ss := newStateStore(t)
	s := ss.load()
	origin := base.ChainID{2}
	var first int
	for i := range n {
		b := bundle(base.BlockHeight(i), 0, protocol.Tracked)
		added, err := s.ReceiveBundles(ctx, origin, []protocol.EpochBundle{{Bundle: b}})
		if err != nil || len(added) != 1 {
			t.Fatalf("delivery %d: %v, %v", i, added, err)
		}
		size := ss.flush(t, s).Size()
		// The queue holds its first entries in its header, rewritten whole (views'
		// queueInlineMax), then one key each: constant from there.
		if i == 10 {
			first = size
		}
		if i > 10 && size != first {
			t.Fatalf("delivery %d with %d bundles waiting writes %d bytes; with one waiting, %d", i, i, size, first)
		}
	}
	var firstRemove int
	for i := range 3 {
		b := bundle(base.BlockHeight(i), 0, protocol.Tracked)
		if err := s.removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: b}, true); err != nil {
			t.Fatal(err)
		}
		size := ss.flush(t, s).Size()
		if i == 0 {
			firstRemove = size
		}
		if size != firstRemove || size > first {
			t.Fatalf("receipt %d writes %d bytes; the first wrote %d, a delivery %d", i, size, firstRemove, first)
		}
	}
	pending, err := ss.load().PendingBundles(ctx, 5, math.MaxInt)
	if err != nil || len(pending) != 5 || pending[0].Bundle.Height != 3 || pending[4].Bundle.Height != 7 {
		t.Fatalf("pending after receipts: %d, %v", len(pending), err)
	}
}

// TestInboxStateMatchesModel applies random deliveries and receipts to a chain's stored
// inbox (flushing and reloading at random) and to the in-memory Inbox, and checks that
// they agree on every result and on the waiting bundles.
func TestInboxStateMatchesModel(t *testing.T) {
	ctx := context.Background()
	var steps, failures, anticipated int
seeds:
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		ss := newStateStore(t)
		origin := base.ChainID{3}
		// The origin's history: bundles at heights 0..29, some skippable.
		var history []protocol.MessageBundle
		for h := range 30 {
			for tx := range 1 + rng.IntN(2) {
				kind := protocol.Tracked
				if rng.IntN(2) == 0 {
					kind = protocol.Simple
				}
				history = append(history, bundle(base.BlockHeight(h), uint32(tx), kind))
			}
		}
		var model Inbox
		s := ss.load()
		delivered, received := 0, 0
		// What was last flushed, to go back to when a block fails.
		type snapshot struct {
			model               Inbox
			delivered, received int
		}
		var saved snapshot
		save := func() {
			saved = snapshot{model: model, delivered: delivered, received: received}
			saved.model.Added = slices.Clone(model.Added)
			saved.model.Removed = slices.Clone(model.Removed)
		}
		for step := 0; step < 80 && (delivered < len(history) || received < len(history)); step++ {
			switch {
			case rng.IntN(2) == 0 && delivered < len(history):
				// Deliver 1..3 bundles (sometimes repeating the previous one).
				from := delivered
				if from > 0 && rng.IntN(4) == 0 {
					from--
				}
				to := min(len(history), from+1+rng.IntN(3))
				var ebs []protocol.EpochBundle
				var wantAdded []protocol.MessageBundle
				var wantErr error
				for _, b := range history[from:to] {
					ebs = append(ebs, protocol.EpochBundle{Bundle: b})
					if wantErr == nil {
						ok, err := model.AddBundle(b)
						if err != nil {
							wantErr = err
						} else if ok {
							wantAdded = append(wantAdded, b)
						}
					}
				}
				delivered = to
				added, err := s.ReceiveBundles(ctx, origin, ebs)
				if (err != nil) != (wantErr != nil) || (err == nil && !sameBundles(added, wantAdded)) {
					t.Fatalf("seed %d step %d: delivery gives %d bundles, %v; model %d, %v", seed, step, len(added), err, len(wantAdded), wantErr)
				}
				if err != nil {
					failures++
					continue seeds // both refused: the state would be discarded
				}
			case received < len(history):
				// A block receives the next bundle or skips to a later one.
				i := received + rng.IntN(min(3, len(history)-received))
				b := history[i]
				mustBePresent := rng.IntN(2) == 0
				modelCopy := model
				modelCopy.Added = slices.Clone(model.Added)
				modelCopy.Removed = slices.Clone(model.Removed)
				wantErr := modelCopy.RemoveBundle(&b, mustBePresent)
				err := s.removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: b}, mustBePresent)
				if (err != nil) != (wantErr != nil) || (err != nil && !errors.Is(err, errors.Unwrap(wantErr))) {
					t.Fatalf("seed %d step %d: receipt of %v gives %v; model %v", seed, step, b.Cursor(), err, wantErr)
				}
				if err != nil {
					failures++
					// Discard the state after a failed block.
					s = ss.load()
					model, delivered, received = saved.model, saved.delivered, saved.received
					save()
					continue
				}
				model = modelCopy
				anticipated += len(model.Removed)
				received = i + 1
			}
			if rng.IntN(3) == 0 {
				ss.flush(t, s)
				s = ss.load()
				save()
			}
			steps++
			pending, err := s.PendingBundles(ctx, 1000, math.MaxInt)
			if err != nil {
				t.Fatal(err)
			}
			var got []protocol.MessageBundle
			for _, p := range pending {
				got = append(got, p.Bundle)
			}
			if !sameBundles(got, model.Added) {
				t.Fatalf("seed %d step %d: %d bundles waiting, model %d", seed, step, len(got), len(model.Added))
			}
			var removed []protocol.MessageBundle
			if err := s.inboxQueuesOf(origin).removed.Queue.ForEach(ctx, func(q queuedBundle) error {
				b, err := q.bundle()
				removed = append(removed, b)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if !sameBundles(removed, model.Removed) {
				t.Fatalf("seed %d step %d: %d bundles received in anticipation, model %d", seed, step, len(removed), len(model.Removed))
			}
		}
	}
	t.Logf("%d steps, %d refused, %d anticipated bundles seen", steps, failures, anticipated)
	if steps < 1000 || failures == 0 || anticipated == 0 {
		t.Fatal("the random operations do not cover the inbox's cases")
	}
}

func sameBundles(a, b []protocol.MessageBundle) bool {
	return slices.EqualFunc(a, b, func(x, y protocol.MessageBundle) bool {
		return string(codec.Marshal(&x)) == string(codec.Marshal(&y))
	})
}

// TestStoredInboxComparesBundles: a stored inbox compares a received bundle with the
// delivered one byte for byte, whether the queue entry was staged or read back from
// storage, and reports a stored entry that does not decode as corruption when it must
// decode it (to skip it).
func TestStoredInboxComparesBundles(t *testing.T) {
	ctx := context.Background()
	origin := base.ChainID{2}
	delivered := bundle(1, 0, protocol.Tracked)
	other := delivered
	other.Messages = []protocol.PostedMessage{{Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Amount: base.Tokens(2)}}}}
	for _, flushed := range []bool{false, true} {
		ss := newStateStore(t)
		s := ss.load()
		if _, err := s.ReceiveBundles(ctx, origin, []protocol.EpochBundle{{Bundle: delivered}}); err != nil {
			t.Fatal(err)
		}
		if flushed {
			ss.flush(t, s)
			s = ss.load()
		}
		if err := s.removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: other}, true); !errors.Is(err, ErrBundleMismatch) {
			t.Fatalf("flushed=%v: receiving a different bundle at the delivered cursor: %v", flushed, err)
		}
		if err := ss.load().removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: delivered}, true); flushed && err != nil {
			t.Fatalf("receiving the delivered bundle: %v", err)
		}
	}

	// A stored entry whose cursor reads but whose messages do not decode.
	ss := newStateStore(t)
	s := ss.load()
	if _, err := s.ReceiveBundles(ctx, origin, []protocol.EpochBundle{{Bundle: bundle(1, 0, protocol.Simple)}}); err != nil {
		t.Fatal(err)
	}
	b := ss.flush(t, s)
	puts := queuePuts(t, b, groupsPrefix(ss, origin))
	if len(puts) != 1 {
		t.Fatalf("%d queue entries written, want 1", len(puts))
	}
	key, value := puts[0].key, puts[0].value
	// The entry's bundle: its cursor and header read, its messages do not decode.
	r := codec.NewReader(value)
	g := groupCodec{}.Decode(r)
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	g.items[0].raw = append(g.items[0].raw[:bundleRefLen:bundleRefLen], 0xff)
	var gw codec.Writer
	groupCodec{}.Encode(&gw, g)
	var w kv.Batch
	w.Put(key, puts[0].with(gw.Bytes()))
	if err := ss.db.Write(ctx, &w); err != nil {
		t.Fatal(err)
	}
	later := bundle(2, 0, protocol.Tracked)
	if err := ss.load().removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: later}, false); !errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("skipping an undecodable stored bundle: %v", err)
	}
	if _, err := ss.load().PendingBundles(ctx, 10, math.MaxInt); !errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("listing an undecodable stored bundle: %v", err)
	}
	// An entry too short to hold a cursor.
	w.Reset()
	w.Put(key, puts[0].with(value[:20]))
	if err := ss.db.Write(ctx, &w); err != nil {
		t.Fatal(err)
	}
	if err := ss.load().removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: later}, false); !errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("reading a truncated stored bundle: %v", err)
	}
}
