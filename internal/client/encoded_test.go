package client

import (
	"bytes"
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// TestEncodingIsForTheSameValueOnly: the encoding a fan-out carries is the canonical
// encoding of exactly the value it was made for; any other value, even an equal copy,
// is encoded by the transport itself.
func TestEncodingIsForTheSameValueOnly(t *testing.T) {
	p := &protocol.BlockProposal{Content: protocol.ProposalContent{Block: protocol.ProposedBlock{ChainID: base.ChainID{1}, Height: 7}}}
	ctx := withEncoding(context.Background(), p)
	b, ok := Encoding(ctx, p)
	if !ok || !bytes.Equal(b, codec.Marshal(p)) {
		t.Fatalf("encoding of the fan-out's proposal: %x %v", b, ok)
	}
	cp := *p
	if _, ok := Encoding(ctx, &cp); ok {
		t.Fatal("a copy got the fan-out's encoding")
	}
	cert := &protocol.Certificate{Kind: protocol.KindTimeout, Timeout: &protocol.Timeout{ChainID: base.ChainID{1}}}
	if _, ok := Encoding(ctx, cert); ok {
		t.Fatal("another value got the fan-out's encoding")
	}
	if _, ok := Encoding(context.Background(), p); ok {
		t.Fatal("a context without an encoding has one")
	}
}
