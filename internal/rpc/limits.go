package rpc

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/proto"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
)

// Budgets.
//
// Every limit of a request reads its method's row of the limits table (Method,
// MethodTable): its byte budget (sized from the committee's resource policy), whether
// it takes an in-flight slot (Heavy), and its receive timeout. A proposal or certificate may carry a block and its blobs, a blob
// upload one blob, everything else is small. gRPC enforces one receive limit per
// server (Limits.MaxRecvMsgSize) and checks it against a message's 5-byte length
// prefix, before it reads the message; it has no limit per method. A public server's
// limit is therefore UnaryLimit (1 MiB, the largest budget of a small method, the lite
// certificate's), not the largest budget: every message over it is refused with
// codes.ResourceExhausted from its prefix, so a small method (query, download, lite
// certificate) never receives more than 1 MiB. Requests that may legitimately be larger
// go over the chunked methods (chunks.go): a stream of chunks under UnaryLimit whose
// first declares the total, refused at once if over the method's budget. The server's
// interceptors refuse a unary request over its method's budget with
// codes.ResourceExhausted (class invalid) before it reaches a handler.
//
// What a stranger can make a validator hold: at most MaxConnections connections are
// accepted (more wait in the kernel's accept queue), each with at most
// MaxStreamsPerConn concurrent streams, and at most MaxInFlight heavy requests
// (proposals, certificates, blob uploads, batches: Method.Heavy) server-wide, MaxInFlightPerAddr of them from one
// IP address, are being received or handled at once (one more is refused at once with
// codes.ResourceExhausted and ErrBusy, before any of its message is read; Node retries
// it with a short backoff within the call's deadline, so bursts from honest clients
// queue on their side rather than on the validator's). A heavy request whose message
// has not arrived within its method's ReceiveTimeout (30 s) is ended, so streams that
// never send their data hold their slots for that long at most (a chunked stream holds
// its slot until it ends; ReceiveTimeout bounds the time its chunks take), and small requests (queries,
// downloads) are never refused for lack of a slot. A heavy request holds at most its
// method's budget B (64 MiB for a block with its blobs under the default policy) while
// it is received, and about as much again while decoded; a small request at most
// UnaryLimit U while received, and about as much again while decoded. So the worst
// case is about
//
//	MaxInFlight × 2 × B + MaxConnections × MaxStreamsPerConn × 2 × U
//	  + MaxConnections × (per-connection HTTP/2 buffers)
//
// where a connection's buffers are its static flow-control window (serverWindow,
// 256 KiB: data received but not yet read) and its 32 KiB read and write buffers.
// With DefaultLimits and the default policy (B 64 MiB, MaxInFlight 32, U 1 MiB,
// MaxConnections 1024, MaxStreamsPerConn 64, about 320 KiB of buffers a connection)
// that is 4 GiB + 128 GiB + 320 MiB, and only while the stranger keeps sending that
// much data: a small request whose message has not arrived within its method's
// ReceiveTimeout (10 s) of its headers is ended like a heavy one, so holding the middle term takes
// sending it anew every 10 s (about 13 GiB/s for all of it; what a stranger holds is
// at most its bandwidth × 10 s, docs/SECURITY.md). With
// the server-wide limit at 64 MiB, as before the chunked methods, the middle term was
// 64 × as large. Idle connections without streams are closed after KeepaliveIdle, and
// peers pinging more often than every 10 s are disconnected (keepalive enforcement).
// Subscription streams release their slot once their request is read; their number is
// bounded by the streams per connection.
//
// That bounds requests. Answers are held too: gRPC queues a unary answer whole until
// the peer's flow-control window lets it out, and a download or a chain-info answer
// is up to MaxMessageSize M for a request of a few bytes, so a peer that grants no
// window could make a validator hold MaxConnections × MaxStreamsPerConn × M (65,536 ×
// 64 MiB). The answers whose size the request does not bound (Method.Answer: downloads,
// chain-info queries, certificates and lite certificates that carry a query) count
// against MaxAnswerBytes A and MaxAnswerBytesPerAddr from before their handler runs
// until they are written or dropped (answers.go), so the answer term of the worst case
// is
//
//	A + MaxInFlight × M
//
// (heavy requests reserve nothing before their handler runs: their slots bound how
// many answers are being made at once), 2 GiB + 2 GiB with DefaultLimits. An answer
// not written within answerWriteTimeout (2 minutes) closes its connection.

// Method budgets (bytes of the request message) of requests that are always small.
const (
	smallRequestBudget = 64 << 10
	// subscriptionBudget: maxSubscribedChains ids of 32 bytes and their framing.
	subscriptionBudget = maxSubscribedChains*34 + 1024
	// liteCertificateBudget: a lite certificate with a signature per validator of a
	// committee of up to a few hundred.
	liteCertificateBudget = 1 << 20
	// envelopeOverhead covers the framing around a block and its blobs.
	envelopeOverhead = 1 << 20
)

// UnaryLimit is a public server's receive limit, the most a message to a validator
// may declare in its length prefix: the largest budget of the small methods (the lite
// certificate's). A proposal of a 100-transfer block is about 25 KB, so the hot path
// stays unary; a request over the limit (a block with blobs, a large blob) goes over
// a chunked method (chunks.go), in chunks under the limit.
const UnaryLimit = liteCertificateBudget

// Method is a method's row in the limits table (Limits.Methods): every limit a server
// applies to a request reads its method's row.
type Method struct {
	// Budget bounds the bytes of the request message (of all its chunks, for a chunked
	// method).
	Budget int
	// Heavy requests take an in-flight slot (Limits.MaxInFlight, MaxInFlightPerAddr)
	// from their headers until they end (a server-streaming one: until its request is
	// read): those that may carry a block or a blob, make the validator execute a block
	// or store one, and batches of them. Small requests take none, so a stranger who
	// fills the heavy slots cannot stop reads.
	Heavy bool
	// ReceiveTimeout ends a request whose message (a chunked one: all its chunks) has
	// not arrived this long after its headers (0: no limit), so a stream that never
	// sends its data gives back what it holds. Applied where the server bounds the
	// requests in flight (MaxInFlight > 0).
	ReceiveTimeout time.Duration
	// Answer is what a request reserves of the bounds on answers held for peers
	// (Limits.MaxAnswerBytes, MaxAnswerBytesPerAddr; answers.go) while it is handled:
	// the most its answer may hold. 0: a small answer, not counted.
	Answer int
	// SmallAnswer is what a chain-info answer reserves instead when its query asks for
	// neither pending bundles nor manager values (answerReservation): the chain's
	// ownership, which a block (an operation, or a parent's message opening the chain)
	// sets, so at most max(MaxBlockSize, MaxBlockOutcomeBytes), and a few KB of the rest
	// (heights, a vote, a timeout certificate, 1,000 entries of the received log),
	// within the envelope overhead. 0: Answer.
	SmallAnswer int
}

// Receive timeouts of the public endpoint (DefaultLimits).
const (
	// heavyReceiveTimeout bounds the arrival of a heavy request (up to a block's budget).
	heavyReceiveTimeout = 30 * time.Second
	// smallReceiveTimeout bounds the arrival of a small request (up to UnaryLimit), so
	// a stranger cannot keep partial messages in the validator's memory on every stream
	// for longer: holding them takes sending them again.
	smallReceiveTimeout = 10 * time.Second
)

// MethodTable returns the limits table of the public and the internal service under a
// resource policy, keyed by full method name, with the receive timeouts heavy (for heavy
// methods) and small (for the others). Every method of both services has a row
// (TestMethodTableCoversServices lists them from the generated descriptor). The budget
// of a method carrying a block is min(MaxMessageSize, MaxBlockSize + MaxPublishedBlobs ×
// MaxBlobSize + 1 MiB).
func MethodTable(p protocol.ResourcePolicy, heavy, small time.Duration) map[string]Method {
	block := capped(p.MaxBlockSize, p.MaxPublishedBlobs, p.MaxBlobSize)
	blob := capped(p.MaxBlobSize, 0, 0)
	h := func(budget int) Method { return Method{Budget: budget, Heavy: true, ReceiveTimeout: heavy} }
	sm := func(budget int) Method { return Method{Budget: budget, ReceiveTimeout: small} }
	// large is a row whose answer may be large: a download, or a chain-info answer
	// (pending bundles, manager values), up to answer bytes.
	large := func(m Method, answer int) Method { m.Answer = answer; return m }
	// info is a row answering chain info: large, but smaller for a query asking little.
	info := func(m Method) Method {
		m = large(m, MaxMessageSize)
		m.SmallAnswer = capped(max(p.MaxBlockSize, p.MaxBlockOutcomeBytes), 0, 0)
		return m
	}
	// Heavy requests whose answers are counted: a proposal's chain info (a chain's
	// ownership may be as large as a block), a batch's results (up to MaxMessageSize),
	// the chunked methods' answers. They reserve nothing before their handler runs
	// (answerReservation) but hold their answers' bytes until written.
	return map[string]Method{
		pb.ValidatorNode_HandleBlockProposal_FullMethodName:   large(h(block), MaxMessageSize),
		pb.ValidatorNode_HandleCertificate_FullMethodName:     large(h(block), MaxMessageSize),
		pb.ValidatorNode_HandleLiteCertificate_FullMethodName: info(sm(liteCertificateBudget)),
		pb.ValidatorNode_HandleChainInfoQuery_FullMethodName:  info(sm(smallRequestBudget)),
		pb.ValidatorNode_UploadBlob_FullMethodName:            h(blob),
		pb.ValidatorNode_DownloadBlob_FullMethodName:          large(sm(smallRequestBudget), blob),
		pb.ValidatorNode_DownloadCertificates_FullMethodName:  large(sm(smallRequestBudget), maxDownloadBytes+envelopeOverhead),
		pb.ValidatorNode_DownloadCertificate_FullMethodName:   large(sm(smallRequestBudget), capped(p.MaxBlockSize, 0, 0)),
		pb.ValidatorNode_Subscribe_FullMethodName:             sm(subscriptionBudget),
		pb.ValidatorNode_GetVersionInfo_FullMethodName:        sm(smallRequestBudget),
		pb.ValidatorNode_GetGenesisHash_FullMethodName:        sm(smallRequestBudget),
		// A batch is small in bytes (under UnaryLimit) but each of its items may make
		// the validator execute a block.
		pb.ValidatorNode_HandleBlockProposals_FullMethodName: large(h(batchBudget), MaxMessageSize),
		pb.ValidatorNode_HandleCertificates_FullMethodName:   large(h(batchBudget), MaxMessageSize),

		pb.ValidatorNode_HandleBlockProposalChunks_FullMethodName: large(h(block), MaxMessageSize),
		pb.ValidatorNode_HandleCertificateChunks_FullMethodName:   large(h(block), MaxMessageSize),
		pb.ValidatorNode_UploadBlobChunks_FullMethodName:          h(blob),

		pb.ValidatorWorker_HandleBlockProposal_FullMethodName:     h(block),
		pb.ValidatorWorker_HandleCertificate_FullMethodName:       h(block),
		pb.ValidatorWorker_HandleLiteCertificate_FullMethodName:   sm(liteCertificateBudget),
		pb.ValidatorWorker_HandleChainInfoQuery_FullMethodName:    sm(smallRequestBudget),
		pb.ValidatorWorker_UploadBlob_FullMethodName:              h(blob),
		pb.ValidatorWorker_HandleCrossChainRequest_FullMethodName: h(block),
		pb.ValidatorWorker_Notifications_FullMethodName:           sm(smallRequestBudget),
		pb.ValidatorWorker_HandleBlockProposals_FullMethodName:    h(batchBudget),
		pb.ValidatorWorker_HandleCertificates_FullMethodName:      h(batchBudget),
	}
}

// unlisted is the row of a method missing from the table: a small request's. (Every
// method served has a row; gRPC answers others Unimplemented once their request is
// read.)
var unlisted = Method{Budget: smallRequestBudget, ReceiveTimeout: smallReceiveTimeout}

// capped returns min(MaxMessageSize, base + n×each + envelopeOverhead), saturating.
func capped(base, n, each uint64) int {
	total := base
	if each > 0 && n > 0 {
		if n > uint64(MaxMessageSize)/each {
			return MaxMessageSize
		}
		total += n * each
	}
	if total > uint64(MaxMessageSize)-envelopeOverhead {
		return MaxMessageSize
	}
	return int(total) + envelopeOverhead
}

// Limits bound what peers can make a server hold (see the package's budget comment).
type Limits struct {
	// Methods is the limits table: each method's row (MethodTable). A method not
	// listed gets a small request's row (unlisted).
	Methods map[string]Method
	// MaxMessage is the server's receive limit: a message whose length prefix declares
	// more is refused before it is read (0: the largest budget of Methods).
	MaxMessage int
	// MaxConnections bounds the connections served at once (0: unbounded).
	MaxConnections int
	// MaxStreamsPerConn bounds the concurrent streams of one connection.
	MaxStreamsPerConn uint32
	// MaxInFlight bounds the heavy requests (Method.Heavy) being received or handled
	// at once, server-wide (0: unbounded, and no receive timeouts).
	MaxInFlight int
	// MaxInFlightPerAddr bounds the heavy slots one remote IP address holds at once
	// (0: MaxInFlight).
	MaxInFlightPerAddr int
	// KeepaliveIdle closes a connection without streams for that long.
	KeepaliveIdle time.Duration
	// MaxAnswerBytes bounds the bytes of large answers (Method.Answer) reserved for
	// requests being handled or held for peers until written to them, server-wide (0:
	// unbounded); MaxAnswerBytesPerAddr bounds those of one remote IP address (0:
	// MaxAnswerBytes). A request over a bound is refused at once (answers.go).
	MaxAnswerBytes, MaxAnswerBytesPerAddr int64
}

// Bounds of the answers held for peers on the public endpoint (DefaultLimits): as many
// answers of MaxMessageSize as heavy requests in flight (MaxInFlight, MaxInFlightPerAddr),
// 512 MiB an address and 2 GiB in all, where a stranger could make a validator hold
// 65,536 answers of up to 64 MiB. An honest client's fast sync downloads 4 answers at
// once (client syncGrants, each reserving at most 33 MiB while it is handled, then its
// size until read) and has room for chain-info queries alongside (each reserving
// MaxMessageSize while it is handled, its few KB after).
const (
	maxAnswerBytes        = 32 * MaxMessageSize
	maxAnswerBytesPerAddr = 8 * MaxMessageSize
)

// DefaultLimits returns the limits of a validator's public endpoint under policy p.
func DefaultLimits(p protocol.ResourcePolicy) Limits {
	return Limits{Methods: MethodTable(p, heavyReceiveTimeout, smallReceiveTimeout), MaxMessage: UnaryLimit, MaxConnections: 1024, MaxStreamsPerConn: 64, MaxInFlight: 32, MaxInFlightPerAddr: 8, KeepaliveIdle: 5 * time.Minute,
		MaxAnswerBytes: maxAnswerBytes, MaxAnswerBytesPerAddr: maxAnswerBytesPerAddr}
}

// InternalLimits returns the limits of a shard's internal service under policy p: its
// peers are authenticated (the proxy and the other shards, by mutual TLS under the
// validator's internal CA), so there is no in-flight bound (nor receive timeout) beyond
// the streams per connection, and its receive limit stays the largest budget: the proxy
// forwards a proposal or certificate it reassembled from chunks as one message, and
// shards send each other cross-chain requests of up to a block's budget. Only the
// validator's own processes can make a shard hold that much.
func InternalLimits(p protocol.ResourcePolicy) Limits {
	return Limits{Methods: MethodTable(p, 0, 0), MaxConnections: 256, MaxStreamsPerConn: 1024, KeepaliveIdle: 30 * time.Minute}
}

// setReceiveTimeouts sets the receive timeout of every heavy method to heavy and of
// every other to small.
func (l *Limits) setReceiveTimeouts(heavy, small time.Duration) {
	for name, m := range l.Methods {
		m.ReceiveTimeout = small
		if m.Heavy {
			m.ReceiveTimeout = heavy
		}
		l.Methods[name] = m
	}
}

// MaxRecvMsgSize returns the server's receive limit: MaxMessage, or the largest method
// budget.
func (l *Limits) MaxRecvMsgSize() int {
	if l.MaxMessage > 0 {
		return l.MaxMessage
	}
	m := smallRequestBudget
	for _, r := range l.Methods {
		m = max(m, r.Budget)
	}
	return m
}

// method returns method's row.
func (l *Limits) method(name string) Method {
	if m, ok := l.Methods[name]; ok {
		return m
	}
	return unlisted
}

// heavy reports whether a request of method takes an in-flight slot.
func (l *Limits) heavy(method string) bool { return l.method(method).Heavy }

func (l *Limits) budget(method string) int { return l.method(method).Budget }

// listener wraps lis with the connection bound.
func (l *Limits) listener(lis net.Listener) net.Listener {
	if l.MaxConnections > 0 {
		return netutil.LimitListener(lis, l.MaxConnections)
	}
	return lis
}

// serverOptions returns the gRPC options enforcing l, but for the unary calls' check,
// which the server's interceptor makes (Server.unary calls checkUnary).
func (l *Limits) serverOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(l.MaxRecvMsgSize()),
		grpc.ChainStreamInterceptor(l.checkStream),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: l.KeepaliveIdle, Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.ConnectionTimeout(10 * time.Second),
		grpc.MaxHeaderListSize(16 << 10),
	}
	if l.MaxStreamsPerConn > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(l.MaxStreamsPerConn))
	}
	if l.MaxInFlight > 0 {
		f := &inFlight{l: l, slots: make(chan struct{}, l.MaxInFlight), perAddr: map[netip.Addr]int{}}
		opts = append(opts, grpc.InTapHandle(f.admit))
	}
	return opts
}

// refusal is a status with the pb.Error details callers decode.
func refusal(code codes.Code, err error) error {
	e := encodeError(err)
	st, derr := status.New(code, e.Message).WithDetails(e)
	if derr != nil {
		return status.Error(code, e.Message)
	}
	return st.Err()
}

func (l *Limits) check(method string, req any) error { return l.method(method).check(method, req) }

// check refuses req if it is over the row's budget.
func (r Method) check(method string, req any) error {
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	if n, b := proto.Size(m), r.Budget; n > b {
		return refusal(codes.ResourceExhausted, base.Invalidf("request of %d bytes exceeds the limit of %d bytes for %s", n, b, method))
	}
	return nil
}

// checkUnary applies l to a unary call (the server's unary interceptor calls it): the
// request's budget, and with a (not nil) the bounds on answers held for peers.
func (l *Limits) checkUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler, a *answers) (resp any, err error) {
	received(ctx)
	m := l.method(info.FullMethod)
	if err := m.check(info.FullMethod, req); err != nil {
		return nil, err
	}
	if m.Answer == 0 || a == nil {
		return handler(ctx, req)
	}
	reserve, counted := answerReservation(req, m)
	if !counted {
		return handler(ctx, req)
	}
	t, err := a.reserve(ctx, reserve)
	if err != nil {
		return nil, err
	}
	defer func() {
		if resp == nil || err != nil {
			t.release() // no answer (an error, a panic the server recovers)
		}
	}()
	resp, err = handler(ctx, req)
	if resp == nil || err != nil {
		return nil, err
	}
	return &trackedAnswer{msg: resp, t: t}, nil
}

func (l *Limits) checkStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	cs := &checkedStream{ServerStream: ss, l: l, method: info.FullMethod, ctx: ss.Context()}
	if info.IsClientStream {
		// A chunked request: its handler reassembles it under the method's budget.
		cs.ctx = context.WithValue(cs.ctx, budgetKey{}, l.budget(info.FullMethod))
		cs.chunked = true
	}
	return handler(srv, cs)
}

// checkedStream checks every message received on a stream against its method's budget.
// A stream with one request (a subscription) releases its in-flight slot once the
// request is read; a chunked one keeps it to its end, and its context carries its
// method's budget (streamBudget).
type checkedStream struct {
	grpc.ServerStream
	l       *Limits
	method  string
	ctx     context.Context
	chunked bool
}

func (s *checkedStream) Context() context.Context { return s.ctx }

func (s *checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if !s.chunked {
		releaseSlot(s.ctx)
	}
	return s.l.check(s.method, m)
}

type budgetKey struct{}

// streamBudget is the byte budget of a chunked request on a stream whose context is
// ctx: its method's, or MaxMessageSize on a server without limits.
func streamBudget(ctx context.Context) int {
	if b, ok := ctx.Value(budgetKey{}).(int); ok {
		return b
	}
	return MaxMessageSize
}

// inFlight bounds the heavy requests being received or handled at once, server-wide
// and per remote address. A heavy stream takes a slot when its headers arrive (before
// any of its message is read) and gives it back when it ends, or, for a server-streaming
// method, once its request is read. A stream whose request (for a chunked method: all
// of its chunks) has not arrived within
// its method's ReceiveTimeout is ended, so a stranger who opens streams and sends nothing
// holds its slots for that long at most.
type inFlight struct {
	l     *Limits
	slots chan struct{}

	mu      sync.Mutex
	perAddr map[netip.Addr]int // heavy slots held per remote IP; entries removed at zero
}

type slotKey struct{}

type slot struct {
	once   sync.Once
	f      *inFlight
	addr   netip.Addr
	cancel context.CancelFunc
	timer  *time.Timer // calls cancel if the request does not arrive in time
}

func (s *slot) release() {
	s.once.Do(func() {
		s.stopTimer()
		if s.f == nil { // a small request's deadline: no slot
			return
		}
		s.f.mu.Lock()
		if s.f.perAddr[s.addr]--; s.f.perAddr[s.addr] <= 0 {
			delete(s.f.perAddr, s.addr)
		}
		s.f.mu.Unlock()
		<-s.f.slots
	})
}

func (s *slot) stopTimer() {
	if s.timer != nil {
		s.timer.Stop()
	}
}

// admit is the server's tap.ServerInHandle.
func (f *inFlight) admit(ctx context.Context, info *tap.Info) (context.Context, error) {
	m := f.l.method(info.FullMethodName)
	if !m.Heavy {
		return smallDeadline(ctx, m.ReceiveTimeout), nil
	}
	addr := remoteIP(ctx)
	perAddr := f.l.MaxInFlightPerAddr
	if perAddr <= 0 {
		perAddr = cap(f.slots)
	}
	f.mu.Lock()
	if f.perAddr[addr] >= perAddr {
		f.mu.Unlock()
		return nil, refusal(codes.ResourceExhausted, fmt.Errorf("%w: %d requests in flight from this address; retry", ErrBusy, perAddr))
	}
	select {
	case f.slots <- struct{}{}:
	default:
		f.mu.Unlock()
		return nil, refusal(codes.ResourceExhausted, fmt.Errorf("%w: %d requests in flight; retry", ErrBusy, cap(f.slots)))
	}
	f.perAddr[addr]++
	f.mu.Unlock()
	s := &slot{f: f, addr: addr}
	// The stream's context: cancelled by the receive deadline, and otherwise ended by
	// gRPC with the stream.
	ctx, s.cancel = context.WithCancel(ctx)
	if m.ReceiveTimeout > 0 {
		s.timer = time.AfterFunc(m.ReceiveTimeout, s.cancel)
	}
	// The stream's context ends when the stream does, whatever way it ends.
	context.AfterFunc(ctx, s.release)
	return context.WithValue(ctx, slotKey{}, s), nil
}

// smallDeadline gives a small request its method's receive deadline d: no slot, only a
// timer that ends the stream if its message is not in by then (stopped by received or
// releaseSlot, as a heavy request's).
func smallDeadline(ctx context.Context, d time.Duration) context.Context {
	if d <= 0 {
		return ctx
	}
	s := &slot{}
	ctx, s.cancel = context.WithCancel(ctx)
	s.timer = time.AfterFunc(d, s.cancel)
	context.AfterFunc(ctx, s.release)
	return context.WithValue(ctx, slotKey{}, s)
}

// remoteIP is the address the per-address bounds count the peer by: its IPv4 address
// (as such, not mapped into IPv6), the first address of its IPv6 /64 (one host usually
// has a whole /64, so counting its addresses one by one would give it 2^64 shares, as
// the faucet's limits say too), or the zero address if unknown. A TCP peer's is read
// without formatting and parsing its address.
func remoteIP(ctx context.Context) netip.Addr {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return netip.Addr{}
	}
	if a, ok := p.Addr.(*net.TCPAddr); ok {
		return base.AddressBucket(a.AddrPort().Addr())
	}
	if ap, err := netip.ParseAddrPort(p.Addr.String()); err == nil {
		return base.AddressBucket(ap.Addr())
	}
	return netip.Addr{}
}

// received stops the receive deadline of a heavy request: its message, or its last
// chunk, is in.
func received(ctx context.Context) {
	if s, ok := ctx.Value(slotKey{}).(*slot); ok {
		s.stopTimer()
	}
}

func releaseSlot(ctx context.Context) {
	if s, ok := ctx.Value(slotKey{}).(*slot); ok {
		s.release()
	}
}
