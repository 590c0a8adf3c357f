package storage_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/kvtest"
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

// TestCertificatesWithin: a range read as an answer stops at the count, before the
// certificate that would pass the byte bound (the first is answered whatever its size),
// and at the first missing height; it reads at most one certificate past what it answers.
func TestCertificatesWithin(t *testing.T) {
	ctx := context.Background()
	db := &kvtest.ReadCounter{Store: memkv.New(), Prefix: []byte{'K'}}
	defer db.Close()
	st := storage.New(db)
	var chain base.ChainID
	chain[0] = 7
	var b kv.Batch
	var prev *base.Hash
	size := 0
	sizes := map[base.BlockHeight]int{}
	for h := range 6 {
		block := protocol.NewBlock(protocol.ProposedBlock{ChainID: chain, Height: base.BlockHeight(h), PreviousBlockHash: prev}, protocol.BlockExecutionOutcome{})
		cert := &protocol.Certificate{Kind: protocol.KindConfirmed, Block: block}
		size = len(codec.Marshal(cert))
		sizes[block.Height()] = size
		storage.PutCertificate(&b, cert)
		hash := block.Hash()
		prev = &hash
	}
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from, to        base.BlockHeight
		count, bytes    int
		want, wantReads int
	}{
		{0, 6, 10, 100 * size, 6, 6},
		{0, 6, 4, 100 * size, 4, 5},
		{0, 6, 10, 3*size + size/2, 3, 4},
		{2, 6, 10, 1, 1, 2}, // the first alone
		{4, 100, 10, 100 * size, 2, 2},
		{6, 100, 10, 100 * size, 0, 0},
	} {
		db.Reset()
		got, n, err := st.CertificatesWithin(ctx, chain, tc.from, tc.to, tc.count, tc.bytes)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Errorf("[%d, %d) within %d and %d bytes: %d certificates, want %d", tc.from, tc.to, tc.count, tc.bytes, len(got), tc.want)
		}
		for i, c := range got {
			if c.Height() != tc.from+base.BlockHeight(i) {
				t.Errorf("certificate %d of height %d", i, c.Height())
			}
		}
		want := 0
		for _, c := range got {
			want += sizes[c.Height()]
		}
		if n != want {
			t.Errorf("answered %d bytes for certificates of %d bytes", n, want)
		}
		if db.Reads() > int64(tc.wantReads) {
			t.Errorf("[%d, %d) within %d and %d bytes: %d certificates read, want at most %d", tc.from, tc.to, tc.count, tc.bytes, db.Reads(), tc.wantReads)
		}
		// From the end: the newest first, as far as the same bounds go.
		db.Reset()
		latest, _, err := st.LatestCertificatesWithin(ctx, chain, tc.from, min(tc.to, 6), tc.count, tc.bytes)
		if err != nil || len(latest) != tc.want {
			t.Errorf("[%d, %d) from the end: %d certificates (%v), want %d", tc.from, tc.to, len(latest), err, tc.want)
		}
		for i, c := range latest {
			if c.Height() != min(tc.to, 6)-1-base.BlockHeight(i) {
				t.Errorf("from the end, certificate %d of height %d", i, c.Height())
			}
		}
		if db.Reads() > int64(tc.wantReads) {
			t.Errorf("[%d, %d) from the end: %d certificates read, want at most %d", tc.from, tc.to, db.Reads(), tc.wantReads)
		}
	}
}
