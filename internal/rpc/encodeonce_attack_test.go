package rpc

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// largeFastProposal is a validator (worker and proxy) that voted for alice's fast
// proposal publishing a data blob of blobSize bytes (none if 0), with transfers more
// transfers: the proposal is its fast lock.
type largeFastProposal struct {
	w        *worker.Worker
	p        *Proxy
	chains   []base.ChainID
	proposal *protocol.BlockProposal
}

func newLargeFastProposal(tb testing.TB, blobSize, transfers int) *largeFastProposal {
	tb.Helper()
	ctx := context.Background()
	keys := prototest.Validators(4)
	alice := prototest.Key("alice")
	g := prototest.Genesis(prototest.Committee(keys), []*crypto.PrivateKey{alice, prototest.Key("bob")}, base.Tokens(100))
	chains := g.ChainIDs()
	st := newStore(tb, g)
	w := worker.New(worker.Config{Storage: st, Signer: keys[0], Clock: sysClock{}})
	blob := protocol.NewBlob(base.BlobData, bytes.Repeat([]byte{0x5a}, blobSize))
	o := alice.Public().Owner()
	block := protocol.ProposedBlock{ChainID: chains[0], Height: 0, Timestamp: base.TimestampFromTime(sysClock{}.Now().Time()), AuthenticatedOwner: &o,
		Transactions: []protocol.Transaction{
			protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: chains[1]}, Amount: base.Tokens(1)}),
			protocol.SystemTx(&protocol.PublishDataBlob{Hash: blob.ID().Hash}),
		}}
	var blobs []protocol.Blob
	if blobSize > 0 {
		blobs = []protocol.Blob{blob}
	} else {
		block.Transactions = block.Transactions[:1]
	}
	for range transfers {
		block.Transactions = append(block.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner,
			Recipient: base.Account{Chain: chains[1]}, Amount: base.AmountFromAttos(1)}))
	}
	prop, err := protocol.SignProposal(alice, block, base.FastRound, blobs)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.HandleBlockProposal(ctx, prop); err != nil {
		tb.Fatal(err)
	}
	p, err := NewProxy(ProxyConfig{Shards: []Shard{w}, Storage: st})
	if err != nil {
		tb.Fatal(err)
	}
	return &largeFastProposal{w: w, p: p, chains: chains, proposal: prop}
}

// answer is the proxy's answer to q, as it leaves for the transport.
func (l *largeFastProposal) answer(tb testing.TB, q *protocol.ChainInfoQuery) []byte {
	tb.Helper()
	resp, err := l.p.HandleChainInfoQuery(context.Background(), &pb.ChainInfoQuery{Payload: codec.Marshal(q)})
	if err != nil {
		tb.Fatal(err)
	}
	return resp.GetPayload()
}

// TestAttackManagerValuesEncodedOnce: a stranger repeats a chain-info query with
// RequestManagerValues (a small request, no in-flight slot) about a chain whose
// validator holds a large fast proposal. Each answer encoded the proposal again: for a
// 4 MiB blob, about 13 MiB allocated per query (the proposal encoded into a buffer
// grown by doubling, then copied out). The proposal's encoding is now kept once per
// held value, and each answer copies it: at most its size and a little per query.
func TestAttackManagerValuesEncodedOnce(t *testing.T) {
	const blobSize = 4 << 20
	const queries = 8
	l := newLargeFastProposal(t, blobSize, 0)
	q := &protocol.ChainInfoQuery{ChainID: l.chains[0], RequestManagerValues: true}
	first := l.answer(t, q)
	if len(first) < blobSize {
		t.Fatalf("answer of %d bytes does not carry the %d-byte blob", len(first), blobSize)
	}
	perQuery := bytesAllocatedPerRun(queries, func() {
		if got := l.answer(t, q); !bytes.Equal(got, first) {
			t.Fatal("the answer changed between queries")
		}
	})
	t.Logf("answer %d bytes; %d bytes allocated per query (%.2f× the answer)", len(first), perQuery, float64(perQuery)/float64(len(first)))
	if limit := uint64(len(first)) + uint64(len(first))/4; perQuery > limit {
		t.Errorf("each query allocated %d bytes for an answer of %d: the held proposal is encoded per query (want at most %d)", perQuery, len(first), limit)
	}
}

// TestAttackLiteQueryManagerValuesEncodedOnce: the genuine lite certificate of a
// chain's last block, replayed with a query for the manager values (a small request)
// while the validator holds a large fast proposal for the next height, is answered
// from the proposal's kept encoding too: the same bytes as the info's encoding, at
// most its size and a little allocated per replay.
func TestAttackLiteQueryManagerValuesEncodedOnce(t *testing.T) {
	const blobSize = 4 << 20
	const replays = 8
	ctx := context.Background()
	l := newLargeFastProposal(t, 16<<10, 0)
	keys := prototest.Validators(4)
	alice := prototest.Key("alice")
	exec, err := l.w.StageBlock(ctx, &l.proposal.Content.Block, l.proposal.Blobs)
	if err != nil {
		t.Fatal(err)
	}
	cert := prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, keys)
	if _, err := l.w.HandleCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	blob := protocol.NewBlob(base.BlobData, bytes.Repeat([]byte{0xa5}, blobSize))
	o := alice.Public().Owner()
	prev := exec.Hash()
	next := protocol.ProposedBlock{ChainID: l.chains[0], Height: 1, PreviousBlockHash: &prev, Timestamp: base.TimestampFromTime(sysClock{}.Now().Time()), AuthenticatedOwner: &o,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.PublishDataBlob{Hash: blob.ID().Hash})}}
	prop, err := protocol.SignProposal(alice, next, base.FastRound, []protocol.Blob{blob})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.w.HandleBlockProposal(ctx, prop); err != nil {
		t.Fatal(err)
	}
	q := &protocol.ChainInfoQuery{ChainID: l.chains[0], RequestManagerValues: true}
	lite := cert.Lite()
	msg := &pb.LiteCertificate{Payload: codec.Marshal(&lite), Query: codec.Marshal(q)}
	info, err := l.w.HandleChainInfoQuery(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	want := codec.Marshal(info)
	if len(want) < blobSize {
		t.Fatalf("answer of %d bytes does not carry the %d-byte blob", len(want), blobSize)
	}
	replay := func() {
		t.Helper()
		resp, err := l.p.HandleLiteCertificate(ctx, msg)
		if err != nil || !resp.GetQueryAnswered() {
			t.Fatalf("lite certificate with a query: answered %v, %v", resp.GetQueryAnswered(), err)
		}
		if !bytes.Equal(resp.GetPayload(), want) {
			t.Fatal("the lite certificate's answer differs from the info's encoding")
		}
	}
	replay()
	perReplay := bytesAllocatedPerRun(replays, replay)
	t.Logf("answer %d bytes; %d bytes allocated per replay (%.2f× the answer)", len(want), perReplay, float64(perReplay)/float64(len(want)))
	if limit := uint64(len(want)) + uint64(len(want))/4; perReplay > limit {
		t.Errorf("each replay allocated %d bytes for an answer of %d: the held proposal is encoded per replay (want at most %d)", perReplay, len(want), limit)
	}
}

// TestManagerValuesAnswerBytesUnchanged: the answers served from kept encodings are the
// canonical encodings of the worker's answers, byte for byte, and decode back, for
// several states and queries: no values, the fast lock, the fast lock with pending
// bundles and an owner balance, and the state after the block is confirmed.
func TestManagerValuesAnswerBytesUnchanged(t *testing.T) {
	ctx := context.Background()
	l := newLargeFastProposal(t, 64<<10, 100)
	owner := prototest.Key("alice").Public().Owner()
	from := uint64(0)
	queries := []*protocol.ChainInfoQuery{
		{ChainID: l.chains[0]},
		{ChainID: l.chains[0], RequestManagerValues: true},
		{ChainID: l.chains[0], RequestManagerValues: true, RequestPendingBundles: true, RequestOwnerBalance: &owner, RequestReceivedLogFrom: &from},
		{ChainID: l.chains[1], RequestManagerValues: true, RequestPendingBundles: true},
	}
	check := func(stage string) {
		t.Helper()
		for i, q := range queries {
			for range 2 { // the first answer fills what the second reuses
				info, err := l.w.HandleChainInfoQuery(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				want := codec.Marshal(info)
				got := l.answer(t, q)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s, query %d: answer of %d bytes differs from the info's encoding (%d bytes)", stage, i, len(got), len(want))
				}
				back, err := protocol.DecodeChainInfo(got, nil)
				if err != nil {
					t.Fatalf("%s, query %d: %v", stage, i, err)
				}
				if !bytes.Equal(codec.Marshal(back), got) {
					t.Fatalf("%s, query %d: the decoded answer encodes differently", stage, i)
				}
				if q.RequestManagerValues && q.ChainID == l.chains[0] && stage == "fast lock" && (back.Manager.LockingFast == nil || !codec.Equal(back.Manager.LockingFast, l.proposal)) {
					t.Fatalf("%s, query %d: the answer does not carry the fast lock", stage, i)
				}
			}
		}
	}
	check("fast lock")
	// The block confirmed: the manager moves on, and the answers with it.
	exec, err := l.w.StageBlock(ctx, &l.proposal.Content.Block, l.proposal.Blobs)
	if err != nil {
		t.Fatal(err)
	}
	keys := prototest.Validators(4)
	cert := prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, keys)
	if _, err := l.w.HandleCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	check("confirmed")
	// The answer to the certificate with a query (sent again) is the query's too.
	q := queries[2]
	resp, err := l.p.HandleCertificate(ctx, &pb.Certificate{Payload: codec.Marshal(cert), Query: codec.Marshal(q)})
	if err != nil || !resp.GetQueryAnswered() {
		t.Fatalf("certificate with a query: answered %v, %v", resp.GetQueryAnswered(), err)
	}
	info, err := l.w.HandleChainInfoQuery(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.GetPayload(), codec.Marshal(info)) {
		t.Fatal("the certificate's answer differs from the info's encoding")
	}
}

// BenchmarkChainInfoManagerValues measures a chain-info query with RequestManagerValues
// about a chain whose validator holds a large fast proposal (an 8 MiB blob, or 9,999
// transfers): "encode" is the answer as built before (the info encoded whole), "kept"
// the proxy's (the proposal's encoding kept once and copied).
func BenchmarkChainInfoManagerValues(b *testing.B) {
	for _, c := range []struct {
		name            string
		blob, transfers int
	}{{"blob8MiB", 8 << 20, 0}, {"transfers9999", 0, 9_999}} {
		b.Run(c.name, func(b *testing.B) {
			l := newLargeFastProposal(b, c.blob, c.transfers)
			q := &protocol.ChainInfoQuery{ChainID: l.chains[0], RequestManagerValues: true}
			ctx := context.Background()
			b.Run("encode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					info, err := l.w.HandleChainInfoQuery(ctx, q)
					if err != nil {
						b.Fatal(err)
					}
					b.SetBytes(int64(len(codec.Marshal(info))))
				}
			})
			b.Run("kept", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					b.SetBytes(int64(len(l.answer(b, q))))
				}
			})
		})
	}
}

// TestAttackDownloadSendsStoredBytes: anyone downloads a chain's certificates (a small
// request, no in-flight slot), over and over. Each download decoded every stored
// certificate it answered and encoded it again for the answer: for blocks of 5,000
// transfers, several times the answer's bytes allocated per download, and the CPU of a
// decode and an encode of each block. The stored bytes are the canonical encodings,
// sent as they are now: each download allocates about what it reads. The answers are
// the same bytes as before (the stored certificates' encodings), for the range and the
// single download.
func TestAttackDownloadSendsStoredBytes(t *testing.T) {
	ctx := context.Background()
	keys := prototest.Validators(4)
	alice := prototest.Key("alice")
	g := prototest.Genesis(prototest.Committee(keys), []*crypto.PrivateKey{alice}, base.Tokens(1))
	id := g.ChainIDs()[0]
	st := newStore(t, g)
	var b kv.Batch
	const heights = 4
	const downloads = 8
	var prev *base.Hash
	var hashes []base.Hash
	for h := range heights {
		block := prototest.TransferBlock(id, base.BlockHeight(h), prev, alice.Public().Owner(), base.Account{Chain: id}, 5000)
		storage.PutCertificate(&b, prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys))
		hash := block.Hash()
		prev = &hash
		hashes = append(hashes, hash)
	}
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	p, err := NewProxy(ProxyConfig{Shards: []Shard{fakeShard{t}}, Storage: st})
	if err != nil {
		t.Fatal(err)
	}
	// The answers as they were: each stored certificate decoded and encoded.
	var want [][]byte
	total := 0
	for _, h := range hashes {
		c, err := st.Certificate(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, codec.Marshal(c))
		total += len(want[len(want)-1])
	}
	req := &pb.CertificatesRequest{ChainId: id[:], From: 0, To: heights}
	download := func() {
		t.Helper()
		out, err := p.DownloadCertificates(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.GetPayloads()) != heights {
			t.Fatalf("%d certificates downloaded, want %d", len(out.GetPayloads()), heights)
		}
		for i, got := range out.GetPayloads() {
			if !bytes.Equal(got, want[i]) {
				t.Fatalf("certificate %d: downloaded bytes differ from its encoding", i)
			}
		}
	}
	download()
	perDownload := bytesAllocatedPerRun(downloads, download)
	t.Logf("answer %d bytes; %d bytes allocated per download (%.2f× the answer)", total, perDownload, float64(perDownload)/float64(total))
	if limit := uint64(total) + uint64(total)/4; perDownload > limit {
		t.Errorf("each download allocated %d bytes for an answer of %d: the certificates are decoded and encoded again (want at most %d)", perDownload, total, limit)
	}
	for i, h := range hashes {
		one, err := p.DownloadCertificate(ctx, &pb.CertificateHash{Hash: h[:]})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(one.GetPayload(), want[i]) {
			t.Fatalf("certificate %d: the single download's bytes differ from its encoding", i)
		}
		var c protocol.Certificate
		if err := codec.Unmarshal(one.GetPayload(), &c); err != nil || c.Block.Hash() != h {
			t.Fatalf("certificate %d: the download does not decode to the block (%v)", i, err)
		}
	}
}

// BenchmarkDownloadCertificates measures a download of 4 certificates of blocks of
// 5,000 transfers: "reencode" is the answer as built before (each stored certificate
// decoded and encoded again), "stored" the proxy's (the stored bytes sent).
func BenchmarkDownloadCertificates(b *testing.B) {
	ctx := context.Background()
	keys := prototest.Validators(4)
	alice := prototest.Key("alice")
	g := prototest.Genesis(prototest.Committee(keys), []*crypto.PrivateKey{alice}, base.Tokens(1))
	id := g.ChainIDs()[0]
	st := newStore(b, g)
	var batch kv.Batch
	var prev *base.Hash
	for h := range 4 {
		block := prototest.TransferBlock(id, base.BlockHeight(h), prev, alice.Public().Owner(), base.Account{Chain: id}, 5000)
		storage.PutCertificate(&batch, prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys))
		hash := block.Hash()
		prev = &hash
	}
	if err := st.Write(ctx, &batch); err != nil {
		b.Fatal(err)
	}
	p, err := NewProxy(ProxyConfig{Shards: []Shard{fakeShard{}}, Storage: st})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("reencode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			if err := st.ForEachCertificate(ctx, id, 0, 4, func(c *protocol.Certificate) bool {
				n += len(codec.Marshal(c))
				return true
			}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(n))
		}
	})
	b.Run("stored", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := p.DownloadCertificates(ctx, &pb.CertificatesRequest{ChainId: id[:], From: 0, To: 4})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for _, c := range out.GetPayloads() {
				n += len(c)
			}
			b.SetBytes(int64(n))
		}
	})
}

// bytesAllocatedPerRun returns the bytes the process allocated per call of f, over n
// calls after a collection.
func bytesAllocatedPerRun(n int, f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(n)
}
