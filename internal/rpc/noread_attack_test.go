package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/storage"
)

// blobServer serves a proxy over a store holding one blob of size bytes under limits
// l, and returns its address and the blob's id.
func blobServer(t *testing.T, l Limits, size int) (*Server, base.BlobID) {
	t.Helper()
	g := prototest.Genesis(prototest.Committee(prototest.Validators(1)), []*crypto.PrivateKey{prototest.Key("alice")}, base.Tokens(1))
	st := newStore(t, g)
	blob := protocol.NewBlob(base.BlobData, bytes.Repeat([]byte{7}, size))
	var b kv.Batch
	storage.PutBlob(&b, &blob)
	if err := st.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	p, err := NewProxy(ProxyConfig{Shards: []Shard{fakeShard{t}}, Storage: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(listen(t), ServerConfig{Logger: testLogger(), Limits: &l})
	p.Register(srv.Registrar())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	return srv, blob.ID()
}

// nonReader is a raw HTTP/2 client that grants its streams no flow-control window
// (SETTINGS_INITIAL_WINDOW_SIZE 0, no WINDOW_UPDATE), so the server can write no
// answer's data to it. It reads the frames the server can send (headers) and counts
// the streams answered (response headers: the answer is queued) and refused.
type nonReader struct {
	conn net.Conn
	fr   *http2.Framer
	next uint32 // next stream id

	mu       sync.Mutex
	answered int
	refused  int // grpc-status ResourceExhausted
	other    int // any other grpc-status
	closed   bool
}

func dialNonReader(t *testing.T, addr, from string) *nonReader {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	r := &nonReader{conn: c, fr: http2.NewFramer(c, c), next: 1}
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := r.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	go r.read()
	return r
}

func (r *nonReader) read() {
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			r.mu.Lock()
			r.closed = true
			r.mu.Unlock()
			return
		}
		h, ok := f.(*http2.MetaHeadersFrame)
		if !ok {
			continue
		}
		r.mu.Lock()
		code, ended := "", false
		for _, f := range h.RegularFields() {
			if f.Name == "grpc-status" {
				code, ended = f.Value, true
			}
		}
		switch {
		case !ended && h.PseudoValue("status") == "200":
			r.answered++
		case code == "8":
			r.refused++
		default:
			r.other++
		}
		r.mu.Unlock()
	}
}

// ask opens a stream calling method with req and ends its side.
func (r *nonReader) ask(t *testing.T, method string, req proto.Message) {
	t.Helper()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":path", method}, {":scheme", "http"}, {":authority", "x"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	id := r.next
	r.next += 2
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	msg := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(b)))
	if err := r.fr.WriteData(id, true, append(msg, b...)); err != nil {
		t.Fatal(err)
	}
}

func (r *nonReader) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func (r *nonReader) counts() (answered, refused, other int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.answered, r.refused, r.other
}

// TestAttackAnswersHeldForNonReaders: a stranger asks for a stored 1 MiB blob on every
// stream of two connections from one address and one from another, and grants no
// flow-control window: each answer is encoded whole and queued on the connection, and
// stays in the validator's memory for as long as the stranger keeps the connection.
// The validator answered every stream (1024 connections × 64 streams × up to 64 MiB).
// It now counts the bytes of large answers not yet written to their peer, per address
// and in all, and refuses a large-answer request over the bounds at once
// (ResourceExhausted, ErrBusy) before reading anything; a connection that closes gives
// back all it held.
func TestAttackAnswersHeldForNonReaders(t *testing.T) {
	const blobSize = 1 << 20
	l := DefaultLimits(protocol.NoFeesPolicy())
	// Bounds scaled to the test: a blob answer reserves 2 MiB while it is read and
	// encoded, an address holds 16 MiB, the server 24 MiB.
	row := l.Methods[pb.ValidatorNode_DownloadBlob_FullMethodName]
	row.Answer = 2 << 20
	l.Methods[pb.ValidatorNode_DownloadBlob_FullMethodName] = row
	l.MaxAnswerBytesPerAddr, l.MaxAnswerBytes = 16<<20, 24<<20
	srv, id := blobServer(t, l, blobSize)
	addr := srv.Addr().String()
	req := &pb.BlobId{Id: encodeBlobID(id)}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	strangers := []*nonReader{dialNonReader(t, addr, "127.0.0.1"), dialNonReader(t, addr, "127.0.0.1"), dialNonReader(t, addr, "127.0.0.2")}
	const streams = 60 // under MaxStreamsPerConn
	for _, s := range strangers {
		for range streams {
			s.ask(t, pb.ValidatorNode_DownloadBlob_FullMethodName, req)
		}
	}
	total := func() (answered, refused, other int) {
		for _, s := range strangers {
			a, r, o := s.counts()
			answered, refused, other = answered+a, refused+r, other+o
		}
		return answered, refused, other
	}
	waitFor(t, "an answer or a refusal on every stream", func() bool {
		a, r, o := total()
		return a+r+o == len(strangers)*streams
	})
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	answered, refused, other := total()
	held := srv.AnswerBacklog()
	t.Logf("%d answers queued, %d refused, %d other; backlog %d bytes; heap in use grew by %d bytes",
		answered, refused, other, held, int64(after.HeapInuse)-int64(before.HeapInuse))
	if other != 0 {
		t.Errorf("%d streams ended with another status than ResourceExhausted", other)
	}
	if held > l.MaxAnswerBytes {
		t.Errorf("the validator holds %d bytes of answers for strangers that do not read, want at most %d", held, l.MaxAnswerBytes)
	}
	if max := int(l.MaxAnswerBytes / blobSize); answered > max {
		t.Errorf("%d answers of %d bytes queued for strangers that do not read, want at most %d", answered, blobSize, max)
	}
	// The address under its own bound still gets answers queued after the first filled
	// it; a reading client from a third address is refused only while the server is
	// full, and is answered once the strangers hang up.
	if a, _, _ := strangers[2].counts(); a == 0 {
		t.Errorf("the second address got no answer: the first took the whole server")
	}
	// A stream reset drops its queued answer: the first address's resets give back
	// what it held while its connections stay open; closing them all gives back the rest.
	first := srv.AnswerBacklog()
	for _, s := range strangers[:2] { // the first address's
		for id := uint32(1); id < s.next; id += 2 {
			if err := s.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "reset streams to give back their answers", func() bool { return srv.AnswerBacklog() < first })
	for _, s := range strangers {
		_ = s.conn.Close()
	}
	waitFor(t, "closed connections to give back their answers", func() bool { return srv.AnswerBacklog() == 0 })
}

// TestAttackUnreadAnswerClosesConnection: a stranger that keeps its connection and
// never reads the answers it asked for has the connection closed once an answer has
// waited answerWriteTimeout (shortened here), which gives back what it held.
func TestAttackUnreadAnswerClosesConnection(t *testing.T) {
	srv, id := blobServer(t, DefaultLimits(protocol.NoFeesPolicy()), 64<<10)
	srv.answers.mu.Lock()
	srv.answers.timeout = 3 * time.Second
	srv.answers.mu.Unlock()
	s := dialNonReader(t, srv.Addr().String(), "127.0.0.1")
	for range 4 {
		s.ask(t, pb.ValidatorNode_DownloadBlob_FullMethodName, &pb.BlobId{Id: encodeBlobID(id)})
	}
	// The connection may close before all 4 are answered on a loaded machine.
	waitFor(t, "the connection to be closed", func() bool { return s.isClosed() })
	if a, _, _ := s.counts(); a == 0 {
		t.Errorf("the connection closed before any answer was queued")
	}
	waitFor(t, "the closed connection to give back its answers", func() bool { return srv.AnswerBacklog() == 0 })
}

// TestConcurrentLargeDownloadsAreServed: an honest client downloads as the fast sync
// does, 4 large answers at once (blobs, then certificates, which reserve the most of
// the downloads) with a chain-info query alongside, several rounds, from one address
// under the default limits: none is refused.
func TestConcurrentLargeDownloadsAreServed(t *testing.T) {
	const blobSize = 7 << 20 // about a MaxBlobSize blob of the default policy
	srv, id := blobServer(t, DefaultLimits(protocol.NoFeesPolicy()), blobSize)
	api := pb.NewValidatorNodeClient(rawConn(t, srv.Addr().String(), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize))))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	chain := base.ChainID{1}
	query := &pb.ChainInfoQuery{Payload: codec.Marshal(&protocol.ChainInfoQuery{ChainID: chain})}
	downloads := map[string]func() error{
		"blob": func() error {
			out, err := api.DownloadBlob(ctx, &pb.BlobId{Id: encodeBlobID(id)})
			if err == nil && len(out.GetPayload()) < blobSize {
				t.Errorf("a blob answer of %d bytes", len(out.GetPayload()))
			}
			return err
		},
		"certificates": func() error {
			_, err := api.DownloadCertificates(ctx, &pb.CertificatesRequest{ChainId: chain[:], From: 0, To: maxDownloadCertificates})
			return err
		},
	}
	for name, download := range downloads {
		for round := range 3 {
			var g errgroup.Group
			for range 4 {
				g.Go(download)
			}
			g.Go(func() error { _, err := api.HandleChainInfoQuery(ctx, query); return err })
			if err := g.Wait(); err != nil {
				t.Fatalf("%s, round %d: %v", name, round, err)
			}
		}
	}
	waitFor(t, "the answers to be written", func() bool { return srv.AnswerBacklog() == 0 })
}
