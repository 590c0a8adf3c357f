package client_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestDataBlobPublishAndRead publishes a data blob, reads it from a fresh client (which
// fetches it from the validators), and checks the refusals: content over MaxBlobSize
// (refused before anything is sent) and a blob nobody published.
func TestDataBlobPublishAndRead(t *testing.T) {
	ctx := context.Background()
	key := prototest.Key("publisher")
	n := newNet(t, []*crypto.PrivateKey{key}, base.Tokens(10))
	c := n.client()
	cc := c.Chain(n.chains[0], key, nil)
	content := []byte("the description of an item")
	hash, cert, err := cc.PublishDataBlob(ctx, content)
	if err != nil {
		t.Fatal(err)
	}
	if hash != client.DataBlobID(content).Hash || cert == nil || cert.Height() != 0 {
		t.Fatalf("published %s in %v", hash, cert)
	}
	for i, w := range n.workers {
		b, err := w.ReadBlob(ctx, base.BlobID{Type: base.BlobData, Hash: hash})
		if err != nil || !bytes.Equal(b.Content, content) {
			t.Fatalf("validator %d: %v", i, err)
		}
	}
	got, err := n.client().ReadDataBlob(ctx, hash)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read back %q, %v", got, err)
	}

	policy, err := cc.Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, policy.MaxBlobSize+1)
	if _, _, err := cc.PublishDataBlob(ctx, big); !errors.Is(err, client.ErrBlobTooLarge) {
		t.Fatalf("publishing %d bytes: %v", len(big), err)
	}
	if tip, err := c.LocalTip(ctx, n.chains[0]); err != nil || tip.NextHeight != 1 {
		t.Fatalf("a refused publication moved the chain: %+v %v", tip, err)
	}
	if _, err := n.client().ReadDataBlob(ctx, base.Hash{1}); !base.IsNotFound(err) {
		t.Fatalf("reading a blob nobody published: %v", err)
	}
}

// lyingBlobNode answers every blob read with other content.
type lyingBlobNode struct{ client.ValidatorNode }

func (l lyingBlobNode) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	return protocol.NewBlob(id.Type, []byte("forged content")), nil
}

// TestAttackDataBlobForgedContent: validators that answer a blob read with content
// that does not hash to the blob id are not believed. With one honest validator the
// client gets the real content; with none, an error, never the forged bytes.
func TestAttackDataBlobForgedContent(t *testing.T) {
	ctx := context.Background()
	key := prototest.Key("publisher")
	n := newNet(t, []*crypto.PrivateKey{key}, base.Tokens(10))
	content := []byte("the real content")
	hash, _, err := n.client().Chain(n.chains[0], key, nil).PublishDataBlob(ctx, content)
	if err != nil {
		t.Fatal(err)
	}
	for liars := 3; liars <= 4; liars++ {
		vals := append([]client.Validator(nil), n.validators...)
		for i := range liars {
			vals[i].Node = lyingBlobNode{vals[i].Node}
		}
		c := client.New(client.Config{Local: n.client().Local(), Committee: n.committee, Validators: vals, Clock: n.clock, Sequential: true})
		got, err := c.ReadDataBlob(ctx, hash)
		switch {
		case liars < 4 && (err != nil || !bytes.Equal(got, content)):
			t.Fatalf("%d liars: %q, %v", liars, got, err)
		case liars == 4 && (err == nil || !base.IsNotFound(err)):
			t.Fatalf("4 liars: %q, %v; want not found", got, err)
		}
	}
}
