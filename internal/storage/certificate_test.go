package storage_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
)

// TestPutEncodedCertificateTakesBytes checks that a certificate's encoding is put in
// the batch as it is (taken, not copied: nobody may modify it afterwards, which the
// invariants build checks at the write), and that what is stored, with or without the
// encoding at hand, reads back as the certificate with the same canonical bytes.
func TestPutEncodedCertificateTakesBytes(t *testing.T) {
	ctx := context.Background()
	db := memkv.New()
	defer db.Close()
	st := storage.New(db)
	for i, withEncoding := range []bool{true, false} {
		block := protocol.NewBlock(protocol.ProposedBlock{Height: base.BlockHeight(1 + i)}, protocol.BlockExecutionOutcome{})
		cert := &protocol.Certificate{Kind: protocol.KindConfirmed, Block: block}
		want := codec.Marshal(cert)
		var b kv.Batch
		var encoded []byte
		if withEncoding {
			encoded = codec.Marshal(cert)
		}
		storage.PutEncodedCertificate(&b, cert, encoded)
		v := b.Ops()[0].Value
		if !bytes.Equal(v, want) {
			t.Fatalf("with encoding %v: stored bytes are not the certificate's encoding", withEncoding)
		}
		if withEncoding && &v[0] != &encoded[0] {
			t.Error("the certificate's encoding was copied")
		}
		if err := st.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
		got, err := st.Certificate(ctx, block.Hash())
		if err != nil || !bytes.Equal(codec.Marshal(got), want) {
			t.Fatalf("with encoding %v: read back %v", withEncoding, err)
		}
	}
}
