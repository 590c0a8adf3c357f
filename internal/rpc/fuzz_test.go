package rpc

import (
	"bytes"
	"context"
	"testing"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

// Request selectors for the fuzz targets.
const (
	selProposal = iota
	selCertificate
	selLite
	selQuery
	selBlob
	selBlobID
	selCertificates
	selCertificateHash
	selSubscription
	selCrossChain
	numSelectors
)

// fuzzSeeds returns valid requests of every kind, as protobuf bytes.
func fuzzSeeds(tb testing.TB) [][2][]byte {
	keys := []*crypto.PrivateKey{prototest.Key("alice")}
	committee := prototest.Committee(prototest.Validators(4))
	g := prototest.Genesis(committee, keys, base.Tokens(10))
	chains := g.ChainIDs()
	owner := keys[0].Public().Owner()
	block := prototest.TransferBlock(chains[0], 0, nil, owner, base.Account{Chain: base.ChainID{2}}, 2)
	prop, err := protocol.SignProposal(keys[0], block.Proposed, base.Round{}, []protocol.Blob{protocol.NewBlob(base.BlobData, []byte("x"))})
	if err != nil {
		tb.Fatal(err)
	}
	cert := prototest.Certify(protocol.KindConfirmed, block, nil, base.Round{}, prototest.Validators(4)[:3])
	lite := cert.Lite()
	h := base.BlockHeight(1)
	q := &protocol.ChainInfoQuery{ChainID: chains[0], TestNextBlockHeight: &h, RequestOwnerBalance: &owner, RequestPendingBundles: true}
	blob := protocol.NewBlob(base.BlobData, []byte("hello"))
	ccr := &protocol.CrossChainRequest{Sender: chains[0], Recipient: base.ChainID{2}, Bundles: []protocol.EpochBundle{{Bundle: block.OutgoingBundles()[base.ChainID{2}][0]}}}
	msgs := map[int]proto.Message{
		selProposal:        &pb.BlockProposal{Payload: codec.Marshal(prop)},
		selCertificate:     &pb.Certificate{Payload: codec.Marshal(cert), Query: codec.Marshal(&protocol.ChainInfoQuery{ChainID: chains[0], RequestPendingBundles: true, RequestManagerValues: true})},
		selLite:            &pb.LiteCertificate{Payload: codec.Marshal(&lite)},
		selQuery:           &pb.ChainInfoQuery{Payload: codec.Marshal(q)},
		selBlob:            &pb.Blob{Payload: codec.Marshal(&blob)},
		selBlobID:          &pb.BlobId{Id: encodeBlobID(blob.ID())},
		selCertificates:    &pb.CertificatesRequest{ChainId: chains[0][:], From: 0, To: 3},
		selCertificateHash: &pb.CertificateHash{Hash: make([]byte, 32)},
		selSubscription:    &pb.SubscriptionRequest{ChainIds: [][]byte{chains[0][:]}},
		selCrossChain:      &pb.CrossChainRequest{Payload: codec.Marshal(ccr)},
	}
	var out [][2][]byte
	for sel := range numSelectors {
		b, err := proto.Marshal(msgs[sel])
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, [2][]byte{{byte(sel)}, b})
	}
	return out
}

// decodeRequest decodes protobuf bytes as the request sel names, as a server would, and
// returns the canonical payload it accepted (nil if none).
func decodeRequest(sel byte, data []byte) (payload, canonical []byte, err error) {
	switch sel % numSelectors {
	case selProposal:
		var m pb.BlockProposal
		if err := proto.Unmarshal(data, &m); err != nil {
			return nil, nil, err
		}
		v, err := decodeProposal(&m)
		if err != nil {
			return nil, nil, err
		}
		return m.Payload, codec.Marshal(v), nil
	case selCertificate:
		var m pb.Certificate
		if err := proto.Unmarshal(data, &m); err != nil {
			return nil, nil, err
		}
		v, err := decodeCertificate(&m)
		if err != nil {
			return nil, nil, err
		}
		return m.Payload, codec.Marshal(v), nil
	case selLite:
		var m pb.LiteCertificate
		if err := proto.Unmarshal(data, &m); err != nil {
			return nil, nil, err
		}
		v, err := decodeLiteCertificate(&m)
		if err != nil {
			return nil, nil, err
		}
		return m.Payload, codec.Marshal(v), nil
	case selQuery:
		var m pb.ChainInfoQuery
		if err := proto.Unmarshal(data, &m); err != nil {
			return nil, nil, err
		}
		v, err := decodeQuery(&m)
		if err != nil {
			return nil, nil, err
		}
		return m.Payload, codec.Marshal(v), nil
	case selBlob:
		var m pb.Blob
		if err := proto.Unmarshal(data, &m); err != nil {
			return nil, nil, err
		}
		v, err := decodeBlob(&m)
		if err != nil {
			return nil, nil, err
		}
		return m.Payload, codec.Marshal(&v), nil
	case selBlobID:
		var m pb.BlobId
		if err := proto.Unmarshal(data, &m); err != nil {
			return nil, nil, err
		}
		v, err := decodeBlobID(&m)
		if err != nil {
			return nil, nil, err
		}
		return m.Id, encodeBlobID(v), nil
	case selCertificates:
		var m pb.CertificatesRequest
		if err := proto.Unmarshal(data, &m); err != nil {
			return nil, nil, err
		}
		v, err := decodeCertificatesRequest(&m)
		if err != nil {
			return nil, nil, err
		}
		return m.ChainId, v.chain[:], nil
	case selCertificateHash:
		var m pb.CertificateHash
		if err := proto.Unmarshal(data, &m); err != nil {
			return nil, nil, err
		}
		v, err := decodeHash("hash", m.Hash)
		if err != nil {
			return nil, nil, err
		}
		return m.Hash, v[:], nil
	case selSubscription:
		var m pb.SubscriptionRequest
		if err := proto.Unmarshal(data, &m); err != nil {
			return nil, nil, err
		}
		v, err := decodeSubscription(&m)
		if err != nil {
			return nil, nil, err
		}
		var p, c []byte
		for i := range v {
			p = append(p, m.ChainIds[i]...)
			c = append(c, v[i][:]...)
		}
		return p, c, nil
	default:
		var m pb.CrossChainRequest
		if err := proto.Unmarshal(data, &m); err != nil {
			return nil, nil, err
		}
		v, err := decodeCrossChain(&m)
		if err != nil {
			return nil, nil, err
		}
		return m.Payload, codec.Marshal(v), nil
	}
}

// FuzzRequestEnvelopes: server-side decoding of every request never panics, and what it
// accepts is canonical (re-encoding gives the same bytes).
func FuzzRequestEnvelopes(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s[0][0], s[1])
	}
	f.Fuzz(func(t *testing.T, sel byte, data []byte) {
		payload, canonical, err := decodeRequest(sel, data)
		if err != nil {
			return
		}
		if !bytes.Equal(payload, canonical) {
			t.Fatalf("selector %d accepted non-canonical bytes %x (canonical %x)", sel%numSelectors, payload, canonical)
		}
	})
}

// FuzzErrorDecoding: a pb.Error from a validator never makes the client panic; a known
// kind survives re-encoding (as a proxy forwards it).
func FuzzErrorDecoding(f *testing.F) {
	for i := range kinds {
		err, _ := sampleError(f, &kinds[i])
		b, merr := proto.Marshal(encodeError(err))
		if merr != nil {
			f.Fatal(merr)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e pb.Error
		if proto.Unmarshal(data, &e) != nil {
			return
		}
		re := decodeError(&e)
		if re.Error() != e.GetMessage() {
			t.Fatalf("message changed: %q", re.Error())
		}
		again := encodeError(re)
		if again.Kind != re.Kind {
			t.Fatalf("kind %q re-encoded as %q", re.Kind, again.Kind)
		}
		if (again.NextHeight == nil) != (e.NextHeight == nil) {
			t.Fatalf("next height lost")
		}
	})
}

// FuzzStatusDecoding: whatever status a validator sends (grpc-status-details-bin is a
// google.rpc.Status), the client turns it into an error without panicking.
func FuzzStatusDecoding(f *testing.F) {
	for i := range kinds {
		err, _ := sampleError(f, &kinds[i])
		st, _ := status.FromError(toStatus(err))
		b, merr := proto.Marshal(st.Proto())
		if merr != nil {
			f.Fatal(merr)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var sp spb.Status
		if proto.Unmarshal(data, &sp) != nil {
			return
		}
		err := status.ErrorProto(&sp)
		if err == nil {
			return
		}
		if got := fromStatus(err); got == nil {
			t.Fatal("a failed status decoded to no error")
		}
	})
}

// fuzzValidator returns the proxy of a one-process validator over a real worker, the
// worker and its notifier, for the handler fuzz targets.
func fuzzValidator(f *testing.F) (*Proxy, *worker.Worker, *Notifier) {
	keys := prototest.Validators(4)
	g := prototest.Genesis(prototest.Committee(keys), []*crypto.PrivateKey{prototest.Key("alice")}, base.Tokens(10))
	notifier := NewNotifier(0)
	w := worker.New(worker.Config{Storage: newStore(f, g), Signer: keys[0], Clock: sysClock{}, Notify: notifier.Publish})
	proxy, err := NewValidatorServer(w, ProxyConfig{Notifier: notifier})
	if err != nil {
		f.Fatal(err)
	}
	return proxy, w, notifier
}

// FuzzServerHandlers: the proxy's and a shard's handlers, over a real worker, never
// panic on arbitrary request bytes (they are called directly, without the recovering
// interceptors).
func FuzzServerHandlers(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s[0][0], s[1])
	}
	proxy, w, notifier := fuzzValidator(f)
	shard := NewShardServer(w, notifier, nil)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, sel byte, data []byte) {
		var err error
		switch sel % numSelectors {
		case selProposal:
			var m pb.BlockProposal
			if proto.Unmarshal(data, &m) == nil {
				_, err = proxy.HandleBlockProposal(ctx, &m)
			}
		case selCertificate:
			var m pb.Certificate
			if proto.Unmarshal(data, &m) == nil {
				_, err = proxy.HandleCertificate(ctx, &m)
			}
		case selLite:
			var m pb.LiteCertificate
			if proto.Unmarshal(data, &m) == nil {
				_, perr := proxy.HandleLiteCertificate(ctx, &m)
				if _, ok := status.FromError(perr); !ok {
					t.Fatalf("proxy's lite certificate error is not a status: %v", perr)
				}
				_, err = shard.HandleLiteCertificate(ctx, &m)
			}
		case selQuery:
			var m pb.ChainInfoQuery
			if proto.Unmarshal(data, &m) == nil {
				_, err = proxy.HandleChainInfoQuery(ctx, &m)
			}
		case selBlob:
			var m pb.Blob
			if proto.Unmarshal(data, &m) == nil {
				_, err = proxy.UploadBlob(ctx, &m)
			}
		case selBlobID:
			var m pb.BlobId
			if proto.Unmarshal(data, &m) == nil {
				_, err = proxy.DownloadBlob(ctx, &m)
			}
		case selCertificates:
			var m pb.CertificatesRequest
			if proto.Unmarshal(data, &m) == nil {
				_, err = proxy.DownloadCertificates(ctx, &m)
			}
		case selCertificateHash:
			var m pb.CertificateHash
			if proto.Unmarshal(data, &m) == nil {
				_, err = proxy.DownloadCertificate(ctx, &m)
			}
		case selSubscription:
			var m pb.SubscriptionRequest
			if proto.Unmarshal(data, &m) == nil {
				_, err = decodeSubscription(&m)
				err = toStatus(err)
			}
		default:
			var m pb.CrossChainRequest
			if proto.Unmarshal(data, &m) == nil {
				_, err = shard.HandleCrossChainRequest(ctx, &m)
			}
		}
		if err != nil {
			if _, ok := status.FromError(err); !ok {
				t.Fatalf("handler error is not a status: %v", err)
			}
		}
	})
}
