package execution

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

var bg = context.Background()

func owner(name string) base.Owner { return base.Address32Owner(sha256.Sum256([]byte(name))) }

var (
	alice = owner("alice")
	bob   = owner("bob")
	carol = owner("carol")
)

func ptr[T any](v T) *T { return &v }

func tokens(n uint64) base.Amount { return base.Tokens(n) }

// detReader is a deterministic byte stream for key generation.
type detReader struct {
	seed string
	n    uint64
	buf  []byte
}

func (r *detReader) Read(p []byte) (int, error) {
	for i := 0; i < len(p); {
		if len(r.buf) == 0 {
			s := sha256.Sum256(binary.LittleEndian.AppendUint64([]byte(r.seed), r.n))
			r.n++
			r.buf = s[:]
		}
		k := copy(p[i:], r.buf)
		r.buf = r.buf[k:]
		i += k
	}
	return len(p), nil
}

// testCommittee returns a committee of n deterministic Ed25519 validators.
func testCommittee(t testing.TB, seed string, n int) *protocol.Committee {
	t.Helper()
	vs := make([]protocol.ValidatorState, n)
	for i := range vs {
		k, err := crypto.GenerateKey(crypto.Ed25519, &detReader{seed: fmt.Sprintf("%s-%d", seed, i)})
		if err != nil {
			t.Fatal(err)
		}
		vs[i] = protocol.ValidatorState{PublicKey: k.Public(), NetworkAddress: fmt.Sprintf("127.0.0.1:%d", 13001+i), Votes: 1}
	}
	c, err := protocol.NewCommittee(vs, protocol.NoFeesPolicy())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// resolver is an in-memory Resolver.
type resolver struct {
	blobs  map[base.BlobID]protocol.Blob
	events map[string][]byte
	reads  int
}

func newResolver() *resolver {
	return &resolver{blobs: map[base.BlobID]protocol.Blob{}, events: map[string][]byte{}}
}

func (r *resolver) addBlob(b protocol.Blob) base.BlobID {
	id := b.ID()
	r.blobs[id] = b
	return id
}

func (r *resolver) addEvent(id protocol.EventID, v []byte) { r.events[string(codec.Marshal(&id))] = v }

func (r *resolver) ReadBlob(_ context.Context, id base.BlobID) (protocol.Blob, error) {
	r.reads++
	b, ok := r.blobs[id]
	if !ok {
		return protocol.Blob{}, base.NotFoundf("blob %s not found", id)
	}
	return b, nil
}

func (r *resolver) ReadEvent(_ context.Context, id protocol.EventID) ([]byte, error) {
	r.reads++
	v, ok := r.events[string(codec.Marshal(&id))]
	if !ok {
		return nil, base.NotFoundf("event not found")
	}
	return v, nil
}

// net is a set of chains over one store, as a validator holds them.
type testNet struct {
	t          testing.TB
	store      *memkv.Store
	committee  *protocol.Committee
	admin      protocol.ChainDescription
	adminID    base.ChainID
	res        *resolver
	loader     ApplicationLoader
	prefixByID map[base.ChainID][]byte
}

func newNet(t testing.TB) *testNet {
	t.Helper()
	c := testCommittee(t, "genesis", 4)
	n := &testNet{t: t, store: memkv.New(), committee: c, res: newResolver(), prefixByID: map[base.ChainID][]byte{}}
	n.res.addBlob(c.Blob())
	n.admin = protocol.ChainDescription{
		Origin:     protocol.RootOrigin(0),
		Timestamp:  1_000,
		Committees: []protocol.EpochCommittee{{Epoch: 0, CommitteeHash: c.Hash()}},
		Config:     protocol.InitialChainConfig{Ownership: protocol.SingleSuperOwner(alice), Balance: tokens(1000)},
	}
	n.adminID = n.admin.ID()
	return n
}

// rootDesc returns the description of root chain i (i > 0) owned by o with balance.
func (n *testNet) rootDesc(i uint32, o protocol.ChainOwnership, balance base.Amount) protocol.ChainDescription {
	return protocol.ChainDescription{
		Origin:     protocol.RootOrigin(i),
		Timestamp:  1_000,
		AdminChain: n.adminID,
		Committees: []protocol.EpochCommittee{{Epoch: 0, CommitteeHash: n.committee.Hash()}},
		Config:     protocol.InitialChainConfig{Ownership: o, Balance: balance},
	}
}

// prefix returns the key prefix of a chain's execution state.
func (n *testNet) prefix(id base.ChainID) []byte {
	if p, ok := n.prefixByID[id]; ok {
		return p
	}
	p := append([]byte{'C'}, id[:]...)
	n.prefixByID[id] = p
	return p
}

// load returns a fresh State of a chain over the store.
func (n *testNet) load(id base.ChainID) *State {
	return NewState(views.NewContext(n.store, n.prefix(id)), WithLoader(n.loader))
}

// create initializes a chain from desc, writes it, and returns a fresh loaded state.
func (n *testNet) create(desc protocol.ChainDescription) (*State, base.ChainID) {
	n.t.Helper()
	id := desc.ID()
	s := n.load(id)
	if err := s.Initialize(&desc); err != nil {
		n.t.Fatal(err)
	}
	n.commit(s)
	return n.load(id), id
}

// commit flushes s and writes the batch; it returns the batch.
func (n *testNet) commit(s *State) *kv.Batch {
	n.t.Helper()
	var b kv.Batch
	s.Flush(&b)
	if err := n.store.Write(bg, &b); err != nil {
		n.t.Fatal(err)
	}
	return &b
}

func tc(id base.ChainID, signer *base.Owner) TxContext {
	return TxContext{ChainID: id, Height: 3, Timestamp: 5_000, AuthenticatedOwner: signer}
}

func sysTx(op protocol.SystemOperation) *protocol.Transaction { t := protocol.SystemTx(op); return &t }

func userTx(app base.ApplicationID, b []byte) *protocol.Transaction {
	t := protocol.OperationTx(protocol.Operation{App: app, Bytes: b})
	return &t
}

// bundleTx wraps the messages of an outcome sent to dest into an incoming bundle.
func bundleTx(origin base.ChainID, msgs []protocol.OutgoingMessage, dest base.ChainID, action protocol.BundleAction) *protocol.Transaction {
	b := protocol.MessageBundle{Height: 3, Timestamp: 5_000, TransactionIndex: 0}
	for i := range msgs {
		if msgs[i].Destination == dest {
			b.Messages = append(b.Messages, msgs[i].Posted(uint32(i)))
		}
	}
	t := protocol.ReceiveTx(protocol.IncomingBundle{Origin: origin, Bundle: b, Action: action})
	return &t
}

func postedTx(origin base.ChainID, action protocol.BundleAction, msgs ...protocol.PostedMessage) *protocol.Transaction {
	t := protocol.ReceiveTx(protocol.IncomingBundle{Origin: origin, Bundle: protocol.MessageBundle{Height: 1, Timestamp: 10, Messages: msgs}, Action: action})
	return &t
}

func credit(target base.Owner, amount base.Amount, source base.Owner, kind protocol.MessageKind) protocol.PostedMessage {
	return protocol.PostedMessage{Kind: kind, Message: protocol.Message{System: &protocol.Credit{Target: target, Amount: amount, Source: source}}}
}

func mustExec(t testing.TB, s *State, c TxContext, tx *protocol.Transaction, o *Oracles) *TxOutcome {
	t.Helper()
	out, err := s.ExecuteTransaction(bg, c, tx, o)
	if err != nil {
		t.Fatalf("execute: %v", err)
	}
	return out
}

func balance(t testing.TB, s *State, o base.Owner) base.Amount {
	t.Helper()
	a, err := s.OwnerBalance(bg, o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func wantErr(t testing.TB, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %v, got nil", targets)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("error %q does not match %v", err, target)
		}
	}
}

func batchBytes(b *kv.Batch) []byte {
	var buf bytes.Buffer
	for _, op := range b.Ops() {
		fmt.Fprintf(&buf, "%d %x %x\n", op.Kind, op.Key, op.Value)
	}
	return buf.Bytes()
}

// snapshot captures every accessor of a state.
func snapshot(t testing.TB, s *State) string {
	t.Helper()
	var w bytes.Buffer
	d, err := s.Description(bg)
	if err != nil {
		t.Fatal(err)
	}
	if d != nil {
		fmt.Fprintf(&w, "desc %x\n", codec.Marshal(d))
	}
	init, _ := s.IsInitialized(bg)
	e, _ := s.Epoch(bg)
	a, _ := s.AdminChain(bg)
	cs, _ := s.Committees(bg)
	own, _ := s.Ownership(bg)
	cl, _ := s.IsClosed(bg)
	p, _ := s.Permissions(bg)
	cb, _ := s.ChainBalance(bg)
	var tot any
	if sum, err := s.TotalBalance(bg); err != nil {
		tot = err
	} else {
		tot = sum
	}
	ts, _ := s.Timestamp(bg)
	fmt.Fprintf(&w, "init %v epoch %d admin %s committees %v owners %x closed %v perms %x chain %s total %v ts %d\n",
		init, e, a, cs, codec.Marshal(&own), cl, codec.Marshal(&p), cb, tot, ts)
	err = s.OwnerBalances(bg, func(o base.Owner, a base.Amount) error {
		fmt.Fprintf(&w, "%s=%s\n", o, a)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return w.String()
}
