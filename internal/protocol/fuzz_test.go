package protocol_test

import (
	"bytes"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// fuzzDecoder checks a network decoder: it never panics, it allocates at most
// maxAlloc(len(input)) whether it accepts the input or not, and accepted input
// re-encodes to exactly the same bytes.
func fuzzDecoder[T any, P interface {
	*T
	codable
}](f *testing.F, seeds ...codec.Encoder) {
	for _, s := range seeds {
		f.Add(codec.Marshal(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v := P(new(T))
		var err error
		if n := allocated(func() { err = codec.Unmarshal(b, v) }); n > maxAlloc(len(b)) {
			t.Fatalf("decoding %d bytes allocated %d, want at most %d (%v)", len(b), n, maxAlloc(len(b)), err)
		}
		if err != nil {
			return
		}
		if again := codec.Marshal(v); !bytes.Equal(again, b) {
			t.Fatalf("accepted input does not round-trip:\n in  %x\n out %x", b, again)
		}
	})
}

func seeds(f *testing.F) (*protocol.Certificate, *protocol.BlockProposal) {
	keys, _, block := fixture(f)
	cert := prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys[:3])
	p, err := protocol.SignProposal(prototest.Key("alice"), block.Proposed, base.FastRound, nil)
	if err != nil {
		f.Fatal(err)
	}
	return cert, p
}

func FuzzDecodeCertificate(f *testing.F) {
	c, _ := seeds(f)
	keys := prototest.Validators(4)
	fuzzDecoder[protocol.Certificate](f, c, prototest.Certify(protocol.KindConfirmed, blockOf(3), nil, base.FastRound, keys[:3]))
}

func FuzzDecodeLiteCertificate(f *testing.F) {
	c, _ := seeds(f)
	l := c.Lite()
	fuzzDecoder[protocol.LiteCertificate](f, &l)
}

func FuzzDecodeBlockProposal(f *testing.F) {
	_, p := seeds(f)
	mixed, err := protocol.SignProposal(prototest.Key("alice"), blockOf(3).Proposed, base.FastRound, nil)
	if err != nil {
		f.Fatal(err)
	}
	fuzzDecoder[protocol.BlockProposal](f, p, mixed)
}

func FuzzDecodeChainInfoQuery(f *testing.F) {
	fuzzDecoder[protocol.ChainInfoQuery](f, &protocol.ChainInfoQuery{RequestPendingBundles: true})
}

func FuzzDecodeChainInfo(f *testing.F) {
	fast, _, _ := fastInfos(f, []byte("blob"))
	fuzzDecoder[protocol.ChainInfo](f, &protocol.ChainInfo{NextBlockHeight: 3}, pendingInfo(), fast)
}

func FuzzDecodeCrossChainRequest(f *testing.F) {
	c, _ := seeds(f)
	var bundles []protocol.EpochBundle
	for _, bs := range c.Block.OutgoingBundles() {
		for _, b := range bs {
			bundles = append(bundles, protocol.EpochBundle{Bundle: b})
		}
	}
	fuzzDecoder[protocol.CrossChainRequest](f, &protocol.CrossChainRequest{Bundles: bundles})
}

func FuzzDecodeVote(f *testing.F) {
	c, _ := seeds(f)
	v, err := protocol.SignVote(prototest.Validators(1)[0], c.LiteValue(), base.FastRound)
	if err != nil {
		f.Fatal(err)
	}
	fuzzDecoder[protocol.Vote](f, &v)
}

func FuzzDecodeNotification(f *testing.F) {
	fuzzDecoder[protocol.Notification](f, &protocol.Notification{Kind: protocol.ReasonNewBlock, Height: 2})
}

func FuzzDecodeGenesis(f *testing.F) {
	keys := prototest.Validators(4)
	g := prototest.Genesis(prototest.Committee(keys), keys[:2], base.Tokens(10))
	fuzzDecoder[protocol.GenesisConfig](f, g)
}

func FuzzDecodeBlob(f *testing.F) {
	fuzzDecoder[protocol.Blob](f, ptr(protocol.NewBlob(base.BlobData, []byte("hello"))))
}

// FuzzDecodeCommittee covers committee blobs, decoded when a CreateCommittee operation
// or a new epoch is executed.
func FuzzDecodeCommittee(f *testing.F) {
	fuzzDecoder[protocol.Committee](f, prototest.Committee(prototest.Validators(4)))
}

// FuzzDecodeChainDescription covers chain description blobs.
func FuzzDecodeChainDescription(f *testing.F) {
	keys := prototest.Validators(4)
	g := prototest.Genesis(prototest.Committee(keys), keys[:2], base.Tokens(10))
	var seeds []codec.Encoder
	for _, d := range g.Descriptions() {
		seeds = append(seeds, &d)
	}
	fuzzDecoder[protocol.ChainDescription](f, seeds...)
}

// FuzzDecodeApplicationDescription covers application description blobs.
func FuzzDecodeApplicationDescription(f *testing.F) {
	fuzzDecoder[protocol.ApplicationDescription](f, &protocol.ApplicationDescription{Parameters: []byte("p"), Required: []base.ApplicationID{{1}}})
}

// FuzzDecodeTimeout covers the value of timeout votes and certificates.
func FuzzDecodeTimeout(f *testing.F) {
	fuzzDecoder[protocol.Timeout](f, &protocol.Timeout{ChainID: base.ChainID{1}, Height: 3, Epoch: 1})
}

func ptr[T any](v T) *T { return &v }

// FuzzDecodeOracleResponse covers every oracle kind (recorded in block outcomes).
func FuzzDecodeOracleResponse(f *testing.F) {
	fuzzDecoder[protocol.OracleResponse](f,
		&protocol.OracleResponse{Kind: protocol.OracleBlob, Blob: base.BlobID{Type: base.BlobData}},
		&protocol.OracleResponse{Kind: protocol.OracleHTTP, Status: 200, Value: []byte(`{"a":1}`)},
		&protocol.OracleResponse{Kind: protocol.OracleService, Value: []byte("answer")},
		&protocol.OracleResponse{Kind: protocol.OracleAssert})
}

// FuzzDecodePolicy covers the resource policy with an HTTP allow-list.
func FuzzDecodePolicy(f *testing.F) {
	p := protocol.NoFeesPolicy()
	p.HTTPAllowList = []string{"127.0.0.1", "example.com"}
	fuzzDecoder[protocol.ResourcePolicy](f, &p)
}

func FuzzDecodeStreamOperation(f *testing.F) {
	app := base.ApplicationID{7}
	s := protocol.StreamID{App: &app, Name: []byte("posts")}
	fuzzDecoder[protocol.Operation](f,
		&protocol.Operation{System: &protocol.SubscribeToStream{Publisher: base.ChainID{1}, Stream: s, App: app}},
		&protocol.Operation{System: &protocol.UnsubscribeFromStream{Publisher: base.ChainID{1}, Stream: s, App: app}},
		&protocol.Operation{System: &protocol.UpdateStreams{Updates: []protocol.StreamUpdate{{Publisher: base.ChainID{1}, Stream: s, NextIndex: 3}}}},
	)
}

func FuzzDecodeEventsNotification(f *testing.F) {
	fuzzDecoder[protocol.Notification](f, &protocol.Notification{Kind: protocol.ReasonNewEvents, Height: 2, App: base.ApplicationID{1}, StreamName: "posts", NextIndex: 4})
}

// FuzzDecodeBlockHash: a decoded block's hash, computed from the input bytes of its
// parts, is the hash of its re-encoded header (what NewBlock computes).
func FuzzDecodeBlockHash(f *testing.F) {
	c, _ := seeds(f)
	f.Add(codec.Marshal(c.Block))
	f.Add(codec.Marshal(richBlock()))
	f.Fuzz(func(t *testing.T, b []byte) {
		var block protocol.Block
		if err := codec.Unmarshal(b, &block); err != nil {
			return
		}
		h := block.Header()
		if block.Hash() != h.Hash() {
			t.Fatalf("decoded hash %s, re-encoded header %s", block.Hash(), h.Hash())
		}
		if again := protocol.NewBlock(block.Proposed, block.Outcome).Hash(); again != block.Hash() {
			t.Fatalf("decoded hash %s, NewBlock %s", block.Hash(), again)
		}
	})
}

// FuzzDecodesWithin checks the decodability check a validator makes of the block it
// votes for: protocol.DecodesWithin never panics and accepts a block, or its outcome,
// under a budget exactly when decoding it does (the default budget, and one a quarter
// of it, which the budget-bound inputs hit).
func FuzzDecodesWithin(f *testing.F) {
	for _, b := range []*protocol.Block{block100(), blockOf(3)} {
		f.Add(codec.Marshal(b), false)
		f.Add(codec.Marshal(&b.Outcome), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, outcome bool) {
		decoder := func() codec.Decoder {
			if outcome {
				return new(protocol.BlockExecutionOutcome)
			}
			return new(protocol.Block)
		}
		for _, budget := range []int{codec.Budget(len(b)), codec.Budget(len(b)) / 4} {
			r := codec.NewReaderBudget(b, budget)
			decoder().Decode(r)
			want := r.Finish()
			got := protocol.DecodesWithin(b, budget, decoder())
			if (got == nil) != (want == nil) {
				t.Fatalf("budget %d: DecodesWithin: %v, decoding: %v", budget, got, want)
			}
		}
	})
}
