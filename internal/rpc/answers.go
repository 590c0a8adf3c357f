package rpc

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/peer"

	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
)

// Answers held for peers that do not read.
//
// gRPC encodes a unary answer whole and queues it on its connection; it stays in memory
// until the peer's flow-control window lets it out, and a peer that grants no window
// (SETTINGS_INITIAL_WINDOW_SIZE 0, no WINDOW_UPDATE) never lets it out. A download or a
// chain-info answer is up to tens of MiB for a request of a few bytes, so a stranger
// could make a validator hold MaxConnections × MaxStreamsPerConn of them.
//
// answers bounds the bytes of large answers (Method.Answer > 0) held for peers,
// per remote address (Limits.MaxAnswerBytesPerAddr) and in all (Limits.MaxAnswerBytes).
// The unary interceptor reserves the method's Answer before the handler runs (a heavy
// request nothing: its in-flight slot bounds how many are handled at once) and
// refuses the request at once, with codes.ResourceExhausted and ErrBusy, if the
// reservation would pass a bound (answers.reserve); an address or a server holding
// nothing always gets one. When the codec encodes the answer the reservation becomes
// the answer's size (answerTicket.settle), held until gRPC frees the answer's buffers:
// once their last byte is written to the socket, or when the stream is reset and its
// queued data dropped. Connections are counted from the listener (answerConn): one that
// closes gives back what its answers held (gRPC drops what it had queued but does not
// free it), and one whose answer has not been written within answerWriteTimeout is
// closed (a reader's own deadline ends its call before that; a call it ended gives its
// answer back at once). One timer per connection watches its answers
// (answerConn.check), not one per answer: the oldest answer held decides.

// answerWriteTimeout bounds how long an answer may wait for its peer to read it before
// the connection is closed: longer than a client's call deadline (a Node ends a call
// after its CallTimeout and resets the stream, which frees the answer), and long enough
// for MaxMessageSize at about 0.5 MB/s.
const answerWriteTimeout = 2 * time.Minute

// answers is a server's count of the bytes of large answers held for its peers.
type answers struct {
	maxTotal, maxPerAddr int64
	timeout              time.Duration

	mu      sync.Mutex
	total   int64
	perAddr map[netip.Addr]int64           // entries removed at zero
	conns   map[netip.AddrPort]*answerConn // open connections by remote address
}

func newAnswers(l *Limits) *answers {
	perAddr := l.MaxAnswerBytesPerAddr
	if perAddr <= 0 {
		perAddr = l.MaxAnswerBytes
	}
	return &answers{maxTotal: l.MaxAnswerBytes, maxPerAddr: perAddr, timeout: answerWriteTimeout,
		perAddr: map[netip.Addr]int64{}, conns: map[netip.AddrPort]*answerConn{}}
}

// backlog returns the bytes reserved or held for peers.
func (a *answers) backlog() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// answerReservation is what the request req of the method with row m (whose answer may
// be large: m.Answer > 0) reserves while it is handled, and whether its answer is
// counted at all: a certificate or lite certificate answers with chain info only if it
// carries a query, else with nothing to count. It reserves nothing for a heavy request
// (its in-flight slot already bounds how many are handled at once, so a certificate's
// answer to its query, the client's hot path, is not held back by reservations of the
// largest answer); for a chain-info query
// that asks for neither pending bundles nor manager values, the row's SmallAnswer (a
// query refused as malformed reserves as much: its handler answers with an error);
// otherwise the method's largest answer. The answer's real size replaces it once encoded.
func answerReservation(req any, m Method) (n int64, counted bool) {
	var payload []byte
	query := false // req carries a chain-info query (payload)
	switch r := req.(type) {
	case *pb.Certificate:
		if len(r.GetQuery()) == 0 {
			return 0, false
		}
	case *pb.LiteCertificate:
		if payload = r.GetQuery(); len(payload) == 0 {
			return 0, false
		}
		query = true
	case *pb.ChainInfoQuery:
		payload, query = r.GetPayload(), true
	}
	if m.Heavy {
		return 0, true
	}
	if !query || m.SmallAnswer == 0 {
		return int64(m.Answer), true
	}
	q, err := decodePayload[protocol.ChainInfoQuery]("chain info query", payload)
	if err != nil || (!q.RequestPendingBundles && !q.RequestManagerValues) {
		return int64(min(m.SmallAnswer, m.Answer)), true
	}
	return int64(m.Answer), true
}

// reserve reserves n bytes for the answer of a request on the stream whose context is
// ctx, or refuses it (ResourceExhausted, ErrBusy) if that would pass a bound: the
// address's, unless it holds nothing, or the server's, unless nothing is held.
func (a *answers) reserve(ctx context.Context, n int64) (*answerTicket, error) {
	addr := remoteIP(ctx)
	var key netip.AddrPort
	if p, ok := peer.FromContext(ctx); ok {
		if tcp, ok := p.Addr.(*net.TCPAddr); ok {
			key = tcp.AddrPort()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if held := a.perAddr[addr]; held > 0 && held+n > a.maxPerAddr {
		return nil, refusal(codes.ResourceExhausted, fmt.Errorf("%w: %d bytes of answers held for this address, the bound is %d; retry", ErrBusy, held, a.maxPerAddr))
	}
	if a.total > 0 && a.total+n > a.maxTotal {
		return nil, refusal(codes.ResourceExhausted, fmt.Errorf("%w: %d bytes of answers held, the bound is %d; retry", ErrBusy, a.total, a.maxTotal))
	}
	a.perAddr[addr] += n
	a.total += n
	return &answerTicket{a: a, addr: addr, key: key, n: n}, nil
}

// trackStream is the stream interceptor that counts the answer of a chunked request (a
// client stream answered once) whose method's answer may be large, like the unary
// interceptor's: the request is refused at once, before its handler, if its address or
// the server is over its bound (it reserves answerReservation: nothing, for the heavy
// chunked methods), and its answer holds its bytes until written.
func (a *answers) trackStream(l *Limits) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		m := l.method(info.FullMethod)
		if !info.IsClientStream || info.IsServerStream || m.Answer == 0 {
			return handler(srv, ss)
		}
		n, _ := answerReservation(nil, m)
		t, err := a.reserve(ss.Context(), n)
		if err != nil {
			return err
		}
		as := &answerStream{ServerStream: ss, t: t}
		defer func() {
			if as.t != nil { // no answer took the ticket (an error, or none sent)
				as.t.release()
			}
		}()
		return handler(srv, as)
	}
}

// answerStream is a chunked request's stream whose answer is counted (trackStream).
type answerStream struct {
	grpc.ServerStream
	t *answerTicket // taken by the first answer
}

// SendMsg implements grpc.ServerStream: the answer carries the ticket to the codec
// (wireCodec.Marshal settles it).
func (s *answerStream) SendMsg(m any) error {
	t := s.t
	if t == nil {
		return s.ServerStream.SendMsg(m)
	}
	s.t = nil
	return s.ServerStream.SendMsg(&trackedAnswer{msg: m, t: t})
}

// answerTicket is what one answer reserves or holds.
type answerTicket struct {
	a    *answers
	addr netip.Addr
	key  netip.AddrPort // the connection's remote address

	// Guarded by a.mu.
	n        int64
	conn     *answerConn // set while the answer is held on it
	released bool
	settled  time.Time // when it became held on conn (monotonic)

	live atomic.Int32 // the answer's buffers not yet freed
}

// trackedAnswer is an answer whose encoding settles its ticket (wireCodec.Marshal). The
// server's unary interceptor returns it in place of the handler's answer; interceptors
// added with ServerConfig.Options run inside it and never see one.
type trackedAnswer struct {
	msg any
	t   *answerTicket
}

// settle turns the reservation into the bytes of out, the encoded answer, held until
// gRPC frees every buffer of out of pooling size (smaller ones are copied or
// negligible): it returns out with those buffers wrapped to report it.
func (t *answerTicket) settle(out mem.BufferSlice) mem.BufferSlice {
	live := int32(0)
	for _, b := range out {
		if !mem.IsBelowBufferPoolingThreshold(b.Len()) {
			live++
		}
	}
	a := t.a
	a.mu.Lock()
	c := a.conns[t.key]
	if t.released || live == 0 || c == nil {
		// Nothing to hold, or a connection the listener does not count (closed, not
		// TCP): the answer is not held for long.
		t.releaseLocked()
		a.mu.Unlock()
		return out
	}
	size := int64(out.Len())
	a.perAddr[t.addr] += size - t.n
	a.total += size - t.n
	t.n = size
	t.live.Store(live)
	t.conn = c
	t.settled = time.Now()
	c.tickets[t] = struct{}{}
	c.armLocked(a.timeout)
	a.mu.Unlock()
	wrapped := make(mem.BufferSlice, len(out))
	for i, b := range out {
		wrapped[i] = b
		if !mem.IsBelowBufferPoolingThreshold(b.Len()) {
			d := b.ReadOnlyData()
			d = d[:len(d):len(d)]
			wrapped[i] = mem.NewBuffer(&d, answerBuffer{orig: b, t: t})
		}
	}
	return wrapped
}

// release gives back what t reserved or holds; later calls do nothing.
func (t *answerTicket) release() {
	t.a.mu.Lock()
	defer t.a.mu.Unlock()
	t.releaseLocked()
}

func (t *answerTicket) releaseLocked() {
	if t.released {
		return
	}
	t.released = true
	a := t.a
	if a.perAddr[t.addr] -= t.n; a.perAddr[t.addr] <= 0 {
		delete(a.perAddr, t.addr)
	}
	a.total -= t.n
	if t.conn != nil {
		delete(t.conn.tickets, t)
	}
}

// answerBuffer is the mem.BufferPool of one buffer of an answer (settle): when gRPC
// frees the wrapping buffer, it frees the original and, with the answer's last buffer,
// releases its ticket.
type answerBuffer struct {
	orig mem.Buffer
	t    *answerTicket
}

// Get implements mem.BufferPool; settle's buffers never ask.
func (answerBuffer) Get(n int) *[]byte {
	b := make([]byte, n)
	return &b
}

// Put implements mem.BufferPool.
func (p answerBuffer) Put(*[]byte) {
	p.orig.Free()
	if p.t.live.Add(-1) == 0 {
		p.t.release()
	}
}

// answerListener counts the connections it accepts (answerConn).
type answerListener struct {
	net.Listener
	a *answers
}

// Accept implements net.Listener.
func (l *answerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tcp, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return c, nil
	}
	ac := &answerConn{Conn: c, a: l.a, key: tcp.AddrPort(), tickets: map[*answerTicket]struct{}{}}
	l.a.mu.Lock()
	defer l.a.mu.Unlock()
	if _, dup := l.a.conns[ac.key]; dup {
		return c, nil
	}
	l.a.conns[ac.key] = ac
	return ac, nil
}

// answerConn is an accepted connection whose close releases the answers held on it,
// and which is closed once one of them has been held answers.timeout.
type answerConn struct {
	net.Conn
	a   *answers
	key netip.AddrPort

	// Guarded by a.mu.
	tickets map[*answerTicket]struct{}
	watch   *time.Timer // runs check; nil until an answer is first held
	armed   bool        // watch will run check
	closed  bool
}

// armLocked makes sure the connection's watchdog will run while it holds answers: if it
// is not armed (it holds no other answer: an armed watchdog re-arms itself while some
// are held), it runs check in d, the timeout of the answer just held.
func (c *answerConn) armLocked(d time.Duration) {
	switch {
	case c.armed || c.closed:
	case c.watch == nil:
		c.watch = time.AfterFunc(d, c.check)
		c.armed = true
	default:
		c.watch.Reset(d)
		c.armed = true
	}
}

// check is the connection's watchdog: it closes the connection if its oldest answer
// has been held answers.timeout, else waits for that answer's deadline; with nothing
// held it stops until the next answer is held.
func (c *answerConn) check() {
	a := c.a
	a.mu.Lock()
	c.armed = false
	var oldest time.Time
	for t := range c.tickets {
		if oldest.IsZero() || t.settled.Before(oldest) {
			oldest = t.settled
		}
	}
	if oldest.IsZero() || c.closed {
		a.mu.Unlock()
		return
	}
	if left := a.timeout - time.Since(oldest); left > 0 {
		c.armLocked(left)
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	_ = c.Close()
}

// Close implements net.Conn.
func (c *answerConn) Close() error {
	c.a.mu.Lock()
	if c.a.conns[c.key] == c {
		delete(c.a.conns, c.key)
	}
	for t := range c.tickets {
		t.releaseLocked()
	}
	c.closed = true
	if c.watch != nil {
		c.watch.Stop()
	}
	c.a.mu.Unlock()
	return c.Conn.Close()
}
