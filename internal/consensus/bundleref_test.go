package consensus

import (
	"bytes"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// fakeBundles is a store of received bundles: the bundles of sending blocks by
// (origin, certificate hash, transaction index).
type fakeBundles map[bundleKey]protocol.MessageBundle

type bundleKey struct {
	origin base.ChainID
	cert   base.Hash
	index  uint32
}

func (f fakeBundles) Held(origin base.ChainID, b *protocol.MessageBundle) bool {
	got, ok := f[bundleKey{origin, b.CertificateHash, b.TransactionIndex}]
	return ok && codec.Equal(&got, b)
}

func (f fakeBundles) Resolve(origin base.ChainID, height base.BlockHeight, timestamp base.Timestamp, cert base.Hash, index uint32) (protocol.MessageBundle, error) {
	b, ok := f[bundleKey{origin, cert, index}]
	if !ok || b.Height != height || b.Timestamp != timestamp {
		return protocol.MessageBundle{}, base.NotFoundf("no bundle")
	}
	return b, nil
}

// receivingState returns a fast vote on a proposal receiving bundles: from two sending
// blocks of one origin (n each) and one of another, with an operation between, and the
// store holding them all.
func receivingState(t testing.TB, n int) (*Manager, fakeBundles) {
	store := fakeBundles{}
	var txs []protocol.Transaction
	add := func(origin string, height base.BlockHeight, k int) {
		o := base.ChainID(base.Hash{origin[0]})
		cert := base.Hash{origin[0], byte(height)}
		for i := range k {
			b := protocol.MessageBundle{Height: height, Timestamp: base.Timestamp(height) * 10, CertificateHash: cert, TransactionIndex: uint32(2 * i),
				Messages: []protocol.PostedMessage{{Index: uint32(i), Message: protocol.Message{Bytes: bytes.Repeat([]byte(origin), 40)}}}}
			store[bundleKey{o, cert, b.TransactionIndex}] = b
			txs = append(txs, protocol.ReceiveTx(protocol.IncomingBundle{Origin: o, Bundle: b, Action: protocol.BundleAction(i % 2)}))
		}
	}
	add("a", 3, n)
	add("a", 4, n)
	txs = append(txs, protocol.OperationTx(protocol.Operation{Bytes: []byte("op")}))
	add("b", 7, n)
	block := testBlock(0, "R").Proposed
	block.Transactions = txs
	var fast protocol.ChainOwnership
	fast.SuperOwners = []base.Owner{ownerKey("S").Public().Owner()}
	fast.Timeouts = protocol.DefaultTimeoutConfig()
	m := NewManager(fast, 0, 0)
	p, err := protocol.SignProposal(ownerKey("S"), block, base.FastRound, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.VoteForProposal(p, executeProposal(p), prototest.Validators(1)[0], 0); err != nil {
		t.Fatal(err)
	}
	return m, store
}

func encodeStored(m *Manager, bundles Bundles) []byte {
	var w codec.Writer
	m.EncodeStored(&w, bundles)
	return w.Bytes()
}

// TestBundleReferences: received bundles the store holds are stored as references, a
// few bytes each, and DecodeStored rebuilds the manager exactly; without the store, or
// with a store that lacks a bundle or holds another, decoding fails (ErrInvalid), never
// with a different proposal. Decode (strict) refuses references.
func TestBundleReferences(t *testing.T) {
	m, store := receivingState(t, 50)
	whole := codec.Marshal(m)
	refs := encodeStored(m, store)
	if len(refs) >= len(whole)-150*100 {
		t.Fatalf("%d bytes with references, %d without: bundles not stored by reference", len(refs), len(whole))
	}
	d, err := DecodeStored(refs, store)
	if err != nil || !bytes.Equal(codec.Marshal(d), whole) {
		t.Fatalf("DecodeStored with the store: %v, or another manager", err)
	}
	if d, err := DecodeStored(whole, store); err != nil || !bytes.Equal(codec.Marshal(d), whole) {
		t.Fatalf("DecodeStored of bundles inline: %v, or another manager", err)
	}
	// A store holding only part of the bundles: those stay inline.
	part := fakeBundles{}
	for k, v := range store {
		if k.origin == (base.ChainID(base.Hash{'b'})) {
			part[k] = v
		}
	}
	mixed := encodeStored(m, part)
	if len(mixed) <= len(refs) || len(mixed) >= len(whole) {
		t.Fatalf("%d bytes with part of the bundles by reference (all: %d, none: %d)", len(mixed), len(refs), len(whole))
	}
	if d, err := DecodeStored(mixed, part); err != nil || !bytes.Equal(codec.Marshal(d), whole) {
		t.Fatalf("DecodeStored with part of the bundles by reference: %v, or another manager", err)
	}
	var strict Manager
	if err := codec.Unmarshal(refs, &strict); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("Decode accepted references: %v", err)
	}
	if _, err := DecodeStored(refs, nil); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("DecodeStored without a store accepted references: %v", err)
	}
	for name, damage := range map[string]func(f fakeBundles){
		"missing": func(f fakeBundles) {
			for k := range f {
				delete(f, k)
				return
			}
		},
		"other messages": func(f fakeBundles) {
			for k, v := range f {
				v.Messages = []protocol.PostedMessage{{Message: protocol.Message{Bytes: []byte("x")}}}
				f[k] = v
				return
			}
		},
		"other header": func(f fakeBundles) {
			for k, v := range f {
				v.Timestamp++
				f[k] = v
				return
			}
		},
	} {
		f := fakeBundles{}
		for k, v := range store {
			f[k] = v
		}
		damage(f)
		if _, err := DecodeStored(refs, f); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("%s: DecodeStored = %v, want ErrInvalid", name, err)
		}
	}
}

// FuzzDecodeStoredReferences: DecodeStored with a store of bundles never panics and
// fails with ErrInvalid; an accepted manager re-encodes, with the store, to bytes that
// decode to the same manager.
func FuzzDecodeStoredReferences(f *testing.F) {
	m, store := receivingState(f, 2)
	f.Add(encodeStored(m, store))
	f.Add(codec.Marshal(m))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeStored(b, store)
		if !checkDecodedStored(t, d, err) {
			return
		}
		again, err := DecodeStored(encodeStored(d, store), store)
		if err != nil || !bytes.Equal(codec.Marshal(again), codec.Marshal(d)) {
			t.Fatalf("re-encoding with the store: %v, or another manager", err)
		}
	})
}
