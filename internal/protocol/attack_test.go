package protocol_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// Decoding attacks: inputs a stranger can send whose decoding would allocate far more
// memory than their size. Each decode must fail with an ErrInvalid-class error and
// allocate at most maxAlloc(len(input)).

// attackSize is the size of the attack inputs: large enough that the allocation ratio,
// not the constant slack, decides.
const attackSize = 8 << 20

// maxAlloc is what decoding n bytes may allocate: the reader's budget plus two bytes per
// input byte for allocations the budget does not track (a decoded block is re-encoded to
// hash it; public keys are copied into strings).
func maxAlloc(n int) uint64 { return uint64(codec.Budget(n) + 2*n) }

// allocated returns the bytes allocated while f runs (by any goroutine, so tests using
// it must not run in parallel).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// checkAttack decodes b into v and checks the decoder refused it within the allocation bound.
func checkAttack(t *testing.T, b []byte, v codec.Decoder) {
	t.Helper()
	var err error
	n := allocated(func() { err = codec.Unmarshal(b, v) })
	t.Logf("input %d bytes, allocated %d bytes (%.1f per input byte): %.160v", len(b), n, float64(n)/float64(len(b)), err)
	if n > maxAlloc(len(b)) {
		t.Errorf("decoding %d bytes allocated %d bytes (%.1f per input byte), want at most %d", len(b), n, float64(n)/float64(len(b)), maxAlloc(len(b)))
	}
	if err == nil || !errors.Is(err, base.ErrInvalid) {
		t.Errorf("decode: got %v, want an ErrInvalid-class error", err)
	}
}

// proposalTail returns what follows a proposal's content: a public key, a signature, no
// original proposal, no blobs.
func proposalTail(t *testing.T) []byte {
	small, err := protocol.SignProposal(prototest.Key("alice"), protocol.ProposedBlock{ChainID: base.ChainID{1}}, base.FastRound, nil)
	if err != nil {
		t.Fatal(err)
	}
	return codec.Marshal(small)[len(codec.Marshal(&small.Content)):]
}

// TestAttackCertificateNestedEmptyLists sends a confirmed certificate whose block outcome
// lists millions of empty per-transaction message lists: one byte each on the wire, a
// 24-byte slice header each in memory.
func TestAttackCertificateNestedEmptyLists(t *testing.T) {
	var w codec.Writer
	w.Tag(uint32(protocol.KindConfirmed))
	block := protocol.ProposedBlock{ChainID: base.ChainID{1}}
	block.Encode(&w)
	w.Length(attackSize)
	w.Fixed(make([]byte, attackSize)) // attackSize empty lists of messages
	w.Hash(base.Hash{})               // state hash
	for range 4 {
		w.Length(0) // oracle responses, events, blobs, operation results
	}
	w.Round(base.FastRound)
	w.Length(0) // signatures
	checkAttack(t, w.Bytes(), new(protocol.Certificate))
}

// TestAttackProposalNestedEmptyLists sends a regular-retry style proposal whose outcome
// carries millions of empty event lists.
func TestAttackProposalNestedEmptyLists(t *testing.T) {
	var w codec.Writer
	block := protocol.ProposedBlock{ChainID: base.ChainID{1}}
	block.Encode(&w)
	w.Round(base.MultiLeader(1))
	w.OptionTag(true) // outcome
	w.Length(0)       // messages
	w.Hash(base.Hash{})
	w.Length(0) // oracle responses
	w.Length(attackSize)
	w.Fixed(make([]byte, attackSize)) // attackSize empty lists of events
	w.Length(0)                       // blobs
	w.Length(0)                       // operation results
	w.Fixed(proposalTail(t))
	checkAttack(t, w.Bytes(), new(protocol.BlockProposal))
}

// TestAttackProposalTinyTransactions sends a proposal of millions of three-byte
// transactions (CloseChain operations): each decodes into a Transaction and an Operation,
// about 100 bytes of memory.
func TestAttackProposalTinyTransactions(t *testing.T) {
	const n = attackSize / 3
	block := protocol.ProposedBlock{ChainID: base.ChainID{1}}
	prefix := codec.Marshal(&block)
	var w codec.Writer
	w.Fixed(prefix[:len(prefix)-1]) // all but the empty transaction list
	w.Length(n)
	for range n {
		w.Tag(1) // operation
		w.Tag(0) // system
		w.Tag(protocol.TagCloseChain)
	}
	w.Round(base.FastRound)
	w.OptionTag(false)
	w.Fixed(proposalTail(t))
	checkAttack(t, w.Bytes(), new(protocol.BlockProposal))
}

// TestAttackCrossChainDeclaredLength sends a cross-chain request whose bundle declares as
// many messages as the remaining input allows at the declared minimum of 4 bytes each:
// the decoder used to preallocate them all (112 bytes each) before reading the first.
func TestAttackCrossChainDeclaredLength(t *testing.T) {
	var w codec.Writer
	w.Bool(false)
	w.Hash(base.Hash{1})
	w.Hash(base.Hash{2})
	w.Length(1) // one bundle
	w.U32(0)    // epoch
	w.U64(1)
	w.U64(1)
	w.Hash(base.Hash{3})
	w.U32(0)
	w.Length(attackSize / 4)
	w.Fixed(make([]byte, attackSize))
	checkAttack(t, w.Bytes(), new(protocol.CrossChainRequest))
}

// TestAttackHugeDeclaredLength: a declared length far beyond a short input allocates
// nothing big, whatever the element type.
func TestAttackHugeDeclaredLength(t *testing.T) {
	var w codec.Writer
	w.Bool(false)
	w.Hash(base.Hash{1})
	w.Hash(base.Hash{2})
	w.Length(codec.MaxLength) // bundles
	w.Fixed(make([]byte, 100))
	var err error
	n := allocated(func() { err = codec.Unmarshal(w.Bytes(), new(protocol.CrossChainRequest)) })
	if !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("decode: %v", err)
	}
	if n > 64<<10 {
		t.Fatalf("a %d-byte input declaring %d bundles allocated %d bytes", len(w.Bytes()), codec.MaxLength, n)
	}
}

// TestDecodeBudgetFitsHonestBlocks: certificates of full blocks (the default policy's
// MaxTransactionsBlock) of the smallest honest transactions decode within the default
// budget: user operations with a one-byte payload and an empty outcome, and transfers
// each sending a credit.
func TestDecodeBudgetFitsHonestBlocks(t *testing.T) {
	keys := prototest.Validators(4)
	n := int(protocol.NoFeesPolicy().MaxTransactionsBlock)

	p := protocol.ProposedBlock{ChainID: base.ChainID{1}}
	var o protocol.BlockExecutionOutcome
	for range n {
		p.Transactions = append(p.Transactions, protocol.OperationTx(protocol.Operation{App: base.ApplicationID{2}, Bytes: []byte{1}}))
		o.Messages = append(o.Messages, nil)
		o.OracleResponses = append(o.OracleResponses, nil)
		o.Events = append(o.Events, nil)
		o.Blobs = append(o.Blobs, nil)
		o.OperationResults = append(o.OperationResults, []byte{})
	}
	userOps := protocol.NewBlock(p, o)
	transfers := prototest.TransferBlock(base.ChainID{1}, 0, nil, keys[0].Public().Owner(), base.Account{Chain: base.ChainID{2}}, n)

	for name, block := range map[string]*protocol.Block{"user operations": userOps, "transfers": transfers} {
		b := codec.Marshal(prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys[:3]))
		r := codec.NewReader(b)
		var c protocol.Certificate
		c.Decode(r)
		if err := r.Finish(); err != nil {
			t.Fatalf("%s: %d-byte certificate: %v", name, len(b), err)
		}
		used := codec.Budget(len(b)) - r.Budget()
		t.Logf("%s: %d-byte certificate charged %d bytes (%.1f per input byte)", name, len(b), used, float64(used)/float64(len(b)))
	}
}

// pendingInfo is a chain info answering a query for pending bundles with the 100
// received bundles of block100.
func pendingInfo() *protocol.ChainInfo {
	info := &protocol.ChainInfo{ChainID: base.ChainID{1}, NextBlockHeight: 5}
	for _, tx := range block100().Proposed.Transactions {
		if tx.Bundle != nil {
			info.RequestedPendingBundles = append(info.RequestedPendingBundles, *tx.Bundle)
		}
	}
	return info
}

// TestDecodeChargesItsAllocations: decoding a 100-transfer block's certificate and
// proposal, and a chain info with its 100 pending bundles, charges the budget for every
// byte it allocates: what a decode allocates is at most what it charged plus 1 KiB,
// and a budget one byte short of the charge refuses the input without allocating past
// it.
func TestDecodeChargesItsAllocations(t *testing.T) {
	keys := prototest.Validators(4)
	block := block100()
	proposal, err := protocol.SignProposal(prototest.Key("alice"), block.Proposed, base.FastRound, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		v   codec.Encoder
		new func() codec.Decoder
	}{
		"certificate": {prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys[:3]), func() codec.Decoder { return new(protocol.Certificate) }},
		"proposal":    {proposal, func() codec.Decoder { return new(protocol.BlockProposal) }},
		"chain info":  {pendingInfo(), func() codec.Decoder { return new(protocol.ChainInfo) }},
	} {
		b := codec.Marshal(c.v)
		var charged int
		n := allocated(func() {
			r := codec.NewReader(b)
			c.new().Decode(r)
			if err := r.Finish(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			charged = codec.Budget(len(b)) - r.Budget()
		})
		t.Logf("%s: %d bytes, charged %d, allocated %d", name, len(b), charged, n)
		if n > uint64(charged)+1024 {
			t.Errorf("%s: allocated %d bytes, charged only %d", name, n, charged)
		}
		r := codec.NewReaderBudget(b, charged-1)
		n = allocated(func() { c.new().Decode(r) })
		if !errors.Is(r.Err(), codec.ErrBudget) {
			t.Errorf("%s: budget %d, one byte short of the charge: %v", name, charged-1, r.Err())
		}
		if n > uint64(charged)+1024 {
			t.Errorf("%s: refused, but allocated %d bytes on a budget of %d", name, n, charged-1)
		}
	}
}

// TestDecodesWithinAgreesWithDecode: checking that a 100-transfer block, its outcome
// and its certificate decode within a budget (protocol.DecodesWithin, as a validator
// checks the block it votes for) accepts exactly the budgets that decoding them
// accepts, while allocating a fraction of it, in a few objects instead of hundreds.
func TestDecodesWithinAgreesWithDecode(t *testing.T) {
	block := block100()
	for _, c := range []struct {
		name string
		v    codec.Encoder
		new  func() codec.Decoder
	}{
		{"block", block, func() codec.Decoder { return new(protocol.Block) }},
		{"outcome", &block.Outcome, func() codec.Decoder { return new(protocol.BlockExecutionOutcome) }},
		{"certificate", prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, prototest.Validators(4)[:3]), func() codec.Decoder { return new(protocol.Certificate) }},
	} {
		b := codec.Marshal(c.v)
		r := codec.NewReader(b)
		kept := allocated(func() { c.new().Decode(r) })
		if err := r.Finish(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		charged := codec.Budget(len(b)) - r.Budget()
		// The least of a few checks: the arenas' pool may be empty for one (the race
		// detector makes sync.Pool drop items, a collection empties it), and the check
		// then makes a new arena.
		checked := ^uint64(0)
		for range 5 {
			var err error
			checked = min(checked, allocated(func() { err = protocol.DecodesWithin(b, charged, c.new()) }))
			if err != nil {
				t.Fatalf("%s: DecodesWithin(the charge, %d): %v", c.name, charged, err)
			}
		}
		if err := protocol.DecodesWithin(b, charged-1, c.new()); !errors.Is(err, codec.ErrBudget) {
			t.Errorf("%s: DecodesWithin(one short of the charge, %d): %v, want ErrBudget", c.name, charged-1, err)
		}
		objects := testing.AllocsPerRun(10, func() { _ = protocol.DecodesWithin(b, charged, c.new()) })
		t.Logf("%s: %d bytes, charged %d; decoding allocated %d bytes, checking %d in %.0f objects", c.name, len(b), charged, kept, checked, objects)
		if checked*2 > kept {
			t.Errorf("%s: checking allocated %d bytes, decoding %d", c.name, checked, kept)
		}
		// Not one object per transaction (decoding makes 2 to 3).
		if objects > 60 {
			t.Errorf("%s: checking made %.0f objects", c.name, objects)
		}
	}
}
