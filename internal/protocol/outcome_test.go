package protocol_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// TestOutcomeSizeIsTheEncoding: OutcomeBaseSize plus each transaction's TxSize is the
// length of the outcome's canonical encoding, for small and for multi-byte lengths.
func TestOutcomeSizeIsTheEncoding(t *testing.T) {
	app := base.ApplicationID{7}
	for _, n := range []int{1, 3, 127, 128, 300} {
		o := protocol.BlockExecutionOutcome{
			Messages:         make([][]protocol.OutgoingMessage, n),
			OracleResponses:  make([][]protocol.OracleResponse, n),
			Events:           make([][]protocol.Event, n),
			Blobs:            make([][]protocol.Blob, n),
			OperationResults: make([][]byte, n),
			StateHash:        base.Hash{1},
		}
		for i := range n {
			o.OperationResults[i] = bytes.Repeat([]byte{1}, i%200)
			if i%3 == 0 {
				o.Messages[i] = []protocol.OutgoingMessage{{Destination: base.ChainID{2}, Kind: protocol.Tracked, Message: protocol.Message{App: app, Bytes: bytes.Repeat([]byte{3}, i)}}}
				o.Events[i] = []protocol.Event{{Stream: protocol.StreamID{App: &app, Name: []byte("s")}, Index: uint32(i), Value: make([]byte, 2*i)}}
			}
			if i%5 == 0 {
				o.OracleResponses[i] = []protocol.OracleResponse{{Kind: protocol.OracleHTTP, Status: 200, Value: make([]byte, 130)}, {Kind: protocol.OracleAssert}}
				o.Blobs[i] = []protocol.Blob{protocol.NewBlob(base.BlobData, make([]byte, 140))}
			}
		}
		got := protocol.OutcomeBaseSize(n)
		for i := range n {
			got += o.TxSize(i)
		}
		if want := uint64(codec.Size(&o)); got != want {
			t.Fatalf("%d transactions: counted %d bytes, the encoding has %d", n, got, want)
		}
	}
}

// TestPolicyCheckDeliverable: the default policy is deliverable (its largest bytecode
// fits an upload and, two of them, a proposal; a certificate and the rest of a chain-info
// answer fit the transport), and each rule refuses a policy that breaks it.
func TestPolicyCheckDeliverable(t *testing.T) {
	def := protocol.NoFeesPolicy()
	if err := def.CheckDeliverable(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	if def.MaxBlockOutcomeBytes != 16<<20 || def.MaxBytecodeSize != protocol.DefaultMaxBytecodeSize {
		t.Fatalf("default policy: outcome %d, bytecode %d", def.MaxBlockOutcomeBytes, def.MaxBytecodeSize)
	}
	for name, change := range map[string]func(p *protocol.ResourcePolicy){
		"bytecode over blob size":      func(p *protocol.ResourcePolicy) { p.MaxBytecodeSize = p.MaxBlobSize + 1 },
		"two bytecodes over the block": func(p *protocol.ResourcePolicy) { p.MaxBlobSize = 16 << 20; p.MaxBytecodeSize = 8 << 20 },
		"no outcome":                   func(p *protocol.ResourcePolicy) { p.MaxBlockOutcomeBytes = 0 },
		"certificate over transport":   func(p *protocol.ResourcePolicy) { p.MaxBlockOutcomeBytes = 32 << 20 },
		"huge block":                   func(p *protocol.ResourcePolicy) { p.MaxBlockSize = 1 << 63 },
		"huge outcome":                 func(p *protocol.ResourcePolicy) { p.MaxBlockOutcomeBytes = 1<<64 - 1 },
	} {
		p := protocol.NoFeesPolicy()
		change(&p)
		if err := p.CheckDeliverable(); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("%s: got %v, want an ErrInvalid", name, err)
		}
	}
}

// TestPolicyEncodesOutcomeLimit: MaxBlockOutcomeBytes is part of the policy's
// encoding, hence of the committee blob and its hash.
func TestPolicyEncodesOutcomeLimit(t *testing.T) {
	p := protocol.NoFeesPolicy()
	p.MaxBlockOutcomeBytes = 12345
	var q protocol.ResourcePolicy
	roundTrip(t, &p, &q)
	if q.MaxBlockOutcomeBytes != 12345 {
		t.Fatalf("decoded MaxBlockOutcomeBytes %d", q.MaxBlockOutcomeBytes)
	}
	d := protocol.NoFeesPolicy()
	if bytes.Equal(codec.Marshal(&p), codec.Marshal(&d)) {
		t.Fatal("MaxBlockOutcomeBytes is not encoded")
	}
}
