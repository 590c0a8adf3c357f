package protocol_test

import (
	"bytes"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// fastInfos returns a chain info whose manager's fast lock is also its latest proposal
// (one pointer), the fast proposal, and a fast retry of it by the same key.
func fastInfos(tb testing.TB, blob []byte) (*protocol.ChainInfo, *protocol.BlockProposal, *protocol.BlockProposal) {
	tb.Helper()
	_, _, block := fixture(tb)
	var blobs []protocol.Blob
	if blob != nil {
		blobs = []protocol.Blob{protocol.NewBlob(base.BlobData, blob)}
	}
	p, err := protocol.SignProposal(prototest.Key("alice"), block.Proposed, base.FastRound, blobs)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := protocol.SignFastRetry(prototest.Key("alice"), p, base.MultiLeader(0))
	if err != nil {
		tb.Fatal(err)
	}
	info := &protocol.ChainInfo{ChainID: block.ChainID(), NextBlockHeight: block.Height(), Manager: protocol.ManagerInfo{LockingFast: p, Proposed: p}}
	return info, p, r
}

// TestManagerInfoFastProposalOnce: a fast proposal that is both the fast lock and the
// latest proposal is encoded once (it was encoded twice, and an answer about a
// proposal over half the transport's limit could not be sent), decodes to one pointer,
// and is chosen by value: two equal proposals at different addresses encode the same.
// The decoder refuses the proposal repeated inline, a reference without a fast lock and
// unknown variants, so every accepted input re-encodes to itself.
func TestManagerInfoFastProposalOnce(t *testing.T) {
	blob := bytes.Repeat([]byte{7}, 1<<20)
	info, p, r := fastInfos(t, blob)
	b := codec.Marshal(info)
	if n, one := len(b), codec.Size(p); n > one+1024 {
		t.Fatalf("chain info of %d bytes carries the %d-byte fast proposal more than once", n, one)
	}
	var got protocol.ChainInfo
	if err := codec.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Manager.LockingFast == nil || got.Manager.Proposed != got.Manager.LockingFast {
		t.Fatal("decoded proposal is not the decoded fast lock")
	}
	if !bytes.Equal(codec.Marshal(&got), b) {
		t.Fatal("decoded info re-encodes differently")
	}
	twin := *info
	twin.Manager.Proposed = new(protocol.BlockProposal)
	if err := codec.Unmarshal(codec.Marshal(p), twin.Manager.Proposed); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(codec.Marshal(&twin), b) {
		t.Fatal("an equal proposal at another address encodes differently")
	}

	// The layout: the fast lock's bytes, then the proposal's variant byte, then the
	// timeout certificate's option tag and the rest of the info.
	lf := codec.Marshal(p)
	at := bytes.Index(b, lf) + len(lf)
	if b[at] != 2 {
		t.Fatalf("proposal variant %d after the fast lock, want 2 (same as the fast lock)", b[at])
	}
	splice := func(variant []byte) []byte {
		return append(append(append([]byte(nil), b[:at]...), variant...), b[at+1:]...)
	}
	var d protocol.ChainInfo
	if err := codec.Unmarshal(splice(append([]byte{1}, lf...)), &d); err == nil {
		t.Fatal("accepted the fast lock repeated inline as the proposal")
	}
	if err := codec.Unmarshal(splice([]byte{3}), &d); err == nil {
		t.Fatal("accepted an unknown proposal variant")
	}
	// An empty manager ends with four absent options: validated lock, fast lock,
	// proposal, timeout certificate.
	bad := codec.Marshal(&protocol.ManagerInfo{})
	bad[len(bad)-2] = 2
	var m protocol.ManagerInfo
	if err := codec.Unmarshal(bad, &m); err == nil {
		t.Fatal("accepted a proposal that refers to a missing fast lock")
	}

	// A fast retry beside the fast lock is another proposal: inline, round-trips.
	retry := *info
	retry.Manager.Proposed = r
	rb := codec.Marshal(&retry)
	if err := codec.Unmarshal(rb, &d); err != nil || d.Manager.Proposed == d.Manager.LockingFast || !bytes.Equal(codec.Marshal(&d), rb) {
		t.Fatalf("fast retry beside the fast lock: %v", err)
	}
}

func FuzzDecodeManagerInfo(f *testing.F) {
	info, _, r := fastInfos(f, []byte("blob"))
	retry := info.Manager
	retry.Proposed = r
	alone := protocol.ManagerInfo{Proposed: r}
	fuzzDecoder[protocol.ManagerInfo](f, &info.Manager, &retry, &alone, &protocol.ManagerInfo{})
}
