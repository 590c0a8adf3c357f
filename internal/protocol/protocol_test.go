package protocol_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

type codable interface {
	codec.Encoder
	codec.Decoder
}

// roundTrip checks that v encodes, decodes into fresh, and re-encodes identically.
func roundTrip(t *testing.T, v codec.Encoder, fresh codable) {
	t.Helper()
	b := codec.Marshal(v)
	if err := codec.Unmarshal(b, fresh); err != nil {
		t.Fatalf("%T: decode own encoding: %v", v, err)
	}
	if again := codec.Marshal(fresh); !bytes.Equal(b, again) {
		t.Fatalf("%T: re-encoding differs", v)
	}
	if len(b) > 0 {
		if err := codec.Unmarshal(append(b, 0), fresh); err == nil {
			t.Fatalf("%T: trailing byte accepted", v)
		}
		if err := codec.Unmarshal(b[:len(b)-1], fresh); err == nil {
			t.Fatalf("%T: truncated input accepted", v)
		}
	}
}

func fixture(t testing.TB) (keys []*crypto.PrivateKey, committee *protocol.Committee, block *protocol.Block) {
	keys = prototest.Validators(4)
	committee = prototest.Committee(keys)
	owner := prototest.Key("alice").Public().Owner()
	g := prototest.Genesis(committee, []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}, base.Tokens(100))
	ids := g.ChainIDs()
	block = prototest.TransferBlock(ids[0], 0, nil, owner, base.Account{Chain: ids[1]}, 3)
	return keys, committee, block
}

func TestRoundTrips(t *testing.T) {
	keys, committee, block := fixture(t)
	alice := prototest.Key("alice")
	cert := prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys[:3])
	timeout := &protocol.Timeout{ChainID: block.ChainID(), Height: 3, Epoch: 1}
	tcert := prototest.Certify(protocol.KindTimeout, nil, timeout, base.MultiLeader(1), keys[1:])
	prop, err := protocol.SignProposal(alice, block.Proposed, base.FastRound, []protocol.Blob{protocol.NewBlob(base.BlobData, []byte("hello"))})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := protocol.SignRegularRetry(alice, prototest.Certify(protocol.KindValidated, block, nil, base.MultiLeader(0), keys[:3]), base.MultiLeader(2), nil)
	if err != nil {
		t.Fatal(err)
	}
	vote, err := protocol.SignVote(keys[0], cert.LiteValue(), base.FastRound)
	if err != nil {
		t.Fatal(err)
	}
	g := prototest.Genesis(committee, []*crypto.PrivateKey{alice}, base.Tokens(5))
	h := base.BlockHeight(7)
	o := alice.Public().Owner()
	info := &protocol.ChainInfo{ChainID: block.ChainID(), NextBlockHeight: 4, BlockHash: &base.Hash{1}, RequestedOwnerBalance: &base.OneToken,
		Manager:                 protocol.ManagerInfo{Ownership: protocol.SingleOwner(o), CurrentRound: base.SingleLeader(3), Leader: &o, PendingVote: &vote, LockingValidated: cert, Proposed: prop},
		RequestedPendingBundles: []protocol.IncomingBundle{{Origin: block.ChainID(), Bundle: block.OutgoingBundles()[block.Proposed.Transactions[0].Operation.System.(*protocol.Transfer).Recipient.Chain][0]}},
		RequestedReceivedLog:    []protocol.ChainAndHeight{{ChainID: block.ChainID(), Height: 2}}}
	cases := []struct {
		v     codec.Encoder
		fresh codable
	}{
		{block, new(protocol.Block)},
		{cert, new(protocol.Certificate)},
		{tcert, new(protocol.Certificate)},
		{prop, new(protocol.BlockProposal)},
		{retry, new(protocol.BlockProposal)},
		{&vote, new(protocol.Vote)},
		{committee, new(protocol.Committee)},
		{g, new(protocol.GenesisConfig)},
		{info, new(protocol.ChainInfo)},
		{&protocol.ChainInfoQuery{ChainID: block.ChainID(), TestNextBlockHeight: &h, RequestOwnerBalance: &o, RequestPendingBundles: true, RequestLeaderTimeout: &protocol.LeaderTimeoutRequest{Height: 1, Round: base.SingleLeader(2)}}, new(protocol.ChainInfoQuery)},
		{&protocol.CrossChainRequest{Sender: block.ChainID(), Recipient: g.AdminChainID(), Bundles: []protocol.EpochBundle{{Epoch: 1, Bundle: info.RequestedPendingBundles[0].Bundle}}}, new(protocol.CrossChainRequest)},
		{&protocol.CrossChainRequest{Confirm: true, Sender: block.ChainID(), LatestHeight: 9}, new(protocol.CrossChainRequest)},
		{&protocol.Notification{ChainID: block.ChainID(), Kind: protocol.ReasonNewRound, Height: 3, Round: base.MultiLeader(4)}, new(protocol.Notification)},
	}
	for _, c := range cases {
		roundTrip(t, c.v, c.fresh)
	}
	var decoded protocol.Block
	if err := codec.Unmarshal(codec.Marshal(block), &decoded); err != nil || decoded.Hash() != block.Hash() {
		t.Fatalf("decoded block hash differs: %v", err)
	}
}

func TestCertificateCheck(t *testing.T) {
	keys, committee, block := fixture(t)
	if q := committee.QuorumThreshold(); q != 3 {
		t.Fatalf("quorum of 4 = %d, want 3", q)
	}
	good := prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys[:3])
	if err := good.Check(committee); err != nil {
		t.Fatalf("valid certificate refused: %v", err)
	}
	short := prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys[:2])
	if err := short.Check(committee); !errors.Is(err, protocol.ErrInsufficientQuorum) {
		t.Fatalf("2 of 4 accepted or wrong error: %v", err)
	}
	outsider := prototest.Key("mallory")
	foreign := prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, append(keys[:2:2], outsider))
	if err := foreign.Check(committee); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("non-member signature accepted: %v", err)
	}
	// A signature on another round must not verify for this one.
	wrongRound := prototest.Certify(protocol.KindConfirmed, block, nil, base.MultiLeader(0), keys[:3])
	wrongRound.Round = base.FastRound
	if err := wrongRound.Check(committee); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("signature over another round accepted: %v", err)
	}
	// Validated votes do not make a confirmed certificate.
	kindSwap := prototest.Certify(protocol.KindValidated, block, nil, base.FastRound, keys[:3])
	kindSwap.Kind = protocol.KindConfirmed
	if err := kindSwap.Check(committee); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("validated signatures accepted as confirmed: %v", err)
	}
	// Duplicate signer: decoding refuses unsorted/repeated signatures, Check too.
	dup := prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys[:2])
	dup.Signatures = append(dup.Signatures, dup.Signatures[1])
	if err := dup.Check(committee); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("repeated signer accepted: %v", err)
	}
	var back protocol.Certificate
	if err := codec.Unmarshal(codec.Marshal(dup), &back); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("decoder accepted repeated signer: %v", err)
	}
}

func TestBlockHashCommitsToOutcome(t *testing.T) {
	_, _, block := fixture(t)
	o := block.Outcome
	o.StateHash = base.Hash{9}
	other := protocol.NewBlock(block.Proposed, o)
	if other.Hash() == block.Hash() {
		t.Fatal("blocks with different outcomes share a hash")
	}
	o = block.Outcome
	o.Messages = append([][]protocol.OutgoingMessage{nil}, o.Messages[1:]...)
	if protocol.NewBlock(block.Proposed, o).Hash() == block.Hash() {
		t.Fatal("block hash does not commit to messages")
	}
}

func TestProposalInvariants(t *testing.T) {
	keys, _, block := fixture(t)
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	p, err := protocol.SignProposal(alice, block.Proposed, base.FastRound, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckInvariants(); err != nil {
		t.Fatalf("valid proposal refused: %v", err)
	}
	// Signed by someone other than the authenticated owner.
	q, _ := protocol.SignProposal(bob, block.Proposed, base.FastRound, nil)
	if err := q.CheckInvariants(); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("proposal by non-authenticated signer accepted: %v", err)
	}
	// Tampered content.
	p2 := *p
	p2.Content.Round = base.MultiLeader(0)
	if err := p2.CheckInvariants(); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("tampered proposal accepted: %v", err)
	}
	// Fast retry keeps the original signer.
	fr, _ := protocol.SignFastRetry(alice, p, base.MultiLeader(0))
	if err := fr.CheckInvariants(); err != nil {
		t.Fatalf("fast retry refused: %v", err)
	}
	// Regular retry must certify the carried outcome.
	vc := prototest.Certify(protocol.KindValidated, block, nil, base.MultiLeader(0), keys[:3])
	rr, _ := protocol.SignRegularRetry(alice, vc, base.MultiLeader(1), nil)
	if err := rr.CheckInvariants(); err != nil {
		t.Fatalf("regular retry refused: %v", err)
	}
	bad := *rr
	out := *rr.Content.Outcome
	out.StateHash = base.Hash{7}
	bad.Content.Outcome = &out
	if err := bad.CheckInvariants(); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("regular retry with a different outcome accepted: %v", err)
	}
	early, _ := protocol.SignRegularRetry(alice, vc, base.MultiLeader(0), nil)
	if err := early.CheckInvariants(); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("regular retry in the certificate's round accepted: %v", err)
	}
}

// TestCheckEncodedInvariants: checking a proposal with its encoding (the signed content
// hashed from the bytes) gives CheckInvariants's verdict for every proposal shape, a bad
// signature, tampered content, blobs, and bytes that are not the proposal's own.
func TestCheckEncodedInvariants(t *testing.T) {
	keys, _, block := fixture(t)
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	fresh, err := protocol.SignProposal(alice, block.Proposed, base.FastRound, nil)
	if err != nil {
		t.Fatal(err)
	}
	withBlobs, _ := protocol.SignProposal(alice, block.Proposed, base.FastRound, []protocol.Blob{protocol.NewBlob(base.BlobData, []byte("data"))})
	fastRetry, _ := protocol.SignFastRetry(alice, fresh, base.MultiLeader(0))
	vc := prototest.Certify(protocol.KindValidated, block, nil, base.MultiLeader(0), keys[:3])
	regularRetry, _ := protocol.SignRegularRetry(alice, vc, base.MultiLeader(1), nil)
	byBob, _ := protocol.SignProposal(bob, block.Proposed, base.FastRound, nil)
	tampered := *fresh
	tampered.Content.Round = base.MultiLeader(0)
	badSig := *fresh
	sig := fresh.Signature.Bytes()
	sig[5] ^= 4
	badSig.Signature, _ = crypto.NewSignature(crypto.Ed25519, sig)

	for name, c := range map[string]struct {
		p  *protocol.BlockProposal
		ok bool
	}{
		"fresh": {fresh, true}, "blobs": {withBlobs, true}, "fast retry": {fastRetry, true}, "regular retry": {regularRetry, true},
		"not the authenticated owner": {byBob, false}, "tampered content": {&tampered, false}, "bad signature": {&badSig, false},
	} {
		enc := codec.Marshal(c.p)
		var d protocol.BlockProposal
		if err := codec.Unmarshal(enc, &d); err != nil {
			t.Fatal(err)
		}
		for _, v := range []*crypto.Verifier{nil, crypto.NewVerifier(4)} {
			err := d.CheckEncodedInvariantsWith(v, enc)
			if want := d.CheckInvariants(); (err == nil) != c.ok || (want == nil) != c.ok {
				t.Errorf("%s: encoded %v, plain %v, want accepted = %v", name, err, want, c.ok)
			}
		}
	}
	// Bytes that are not the proposal's: another proposal with the same key and
	// signature (the signed content differs: refused), one with another tail (the content
	// is encoded again: accepted), and none.
	for name, enc := range map[string][]byte{"tampered bytes": codec.Marshal(&tampered), "another tail": codec.Marshal(byBob), "nil": nil, "short": {1}} {
		err := fresh.CheckEncodedInvariantsWith(nil, enc)
		if wantOK := name != "tampered bytes"; (err == nil) != wantOK {
			t.Errorf("%s: %v, want accepted = %v", name, err, wantOK)
		}
	}
}

func TestOwnershipRounds(t *testing.T) {
	o := prototest.Key("alice").Public().Owner()
	super := protocol.SingleSuperOwner(o)
	if r := super.FirstRound(); !r.IsFast() {
		t.Fatalf("super owner chain starts in %v", r)
	}
	multi := protocol.MultiOwner([]base.Owner{o, prototest.Key("bob").Public().Owner()}, 2)
	r := multi.FirstRound()
	var seq []string
	for i := 0; i < 4; i++ {
		seq = append(seq, r.String())
		r, _ = multi.NextRound(r)
	}
	want := "[multi-leader(0) multi-leader(1) single-leader(0) single-leader(1)]"
	if got := fmtSlice(seq); got != want {
		t.Fatalf("rounds %s, want %s", got, want)
	}
	if _, ok := multi.RoundTimeout(base.MultiLeader(0)); ok {
		t.Fatal("non-last multi-leader round has a timeout")
	}
	if d, ok := multi.RoundTimeout(base.SingleLeader(2)); !ok || d != 12_000_000 {
		t.Fatalf("single-leader(2) timeout = %d, %v", d, ok)
	}
}

func fmtSlice(s []string) string {
	var b bytes.Buffer
	b.WriteString("[")
	for i, x := range s {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(x)
	}
	b.WriteString("]")
	return b.String()
}

// TestSignProposalEncoded: the proposal signed in one pass with its encoding is the
// one SignProposal signs, and the bytes are its canonical encoding.
func TestSignProposalEncoded(t *testing.T) {
	key := prototest.Key("alice")
	block := blockOf(3).Proposed
	blobs := []protocol.Blob{protocol.NewBlob(base.BlobData, []byte("data"))}
	want, err := protocol.SignProposal(key, block, base.FastRound, blobs)
	if err != nil {
		t.Fatal(err)
	}
	got, enc, err := protocol.SignProposalEncoded(key, block, base.FastRound, blobs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, codec.Marshal(want)) || !bytes.Equal(codec.Marshal(got), enc) {
		t.Fatalf("encoding differs from SignProposal's:\n got  %x\n want %x", enc, codec.Marshal(want))
	}
	if err := got.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestCommitteeRefusesUnusableKeys: a committee's keys are checked in full when it is
// decoded (a kept object), although a vote's or certificate's keys are left to
// verification: a member's key of small order or off the curve is refused.
func TestCommitteeRefusesUnusableKeys(t *testing.T) {
	key := prototest.Key("validator")
	good := codec.Marshal(prototest.Committee([]*crypto.PrivateKey{key}))
	var c protocol.Committee
	if err := codec.Unmarshal(good, &c); err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(good, key.Public().Bytes())
	for name, first := range map[string]byte{"small order": 1, "not a curve point": 2} {
		bad := bytes.Clone(good)
		copy(bad[at:at+32], append([]byte{first}, make([]byte, 31)...))
		if err := codec.Unmarshal(bad, &c); !errors.Is(err, base.ErrInvalid) || !bytes.Contains([]byte(err.Error()), []byte(name)) {
			t.Errorf("%s: %v, want the key refused", name, err)
		}
		// The same bytes as a vote's signer decode: verification refuses them.
		var pk crypto.PublicKey
		if err := codec.Unmarshal(bad[at-2:at+32], &pk); err != nil {
			t.Errorf("%s: a key of canonical encoding refused by decoding: %v", name, err)
		}
	}
}
