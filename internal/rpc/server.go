package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/micachain/mica/internal/metrics"
	"github.com/micachain/mica/internal/protocol"
)

// MaxMessageSize bounds every gRPC message, both ways (64 MiB: a block with its blobs
// fits). Servers receive less: each method has its budget, and a validator's public
// endpoint takes no message over UnaryLimit (limits.go; larger requests come in chunks,
// chunks.go).
const MaxMessageSize = 64 << 20

// ServerConfig configures a Server.
type ServerConfig struct {
	Logger *slog.Logger
	// MaxMessageSize overrides the receive limit derived from Limits when positive.
	MaxMessageSize int
	// Limits bound what peers can make the server hold (nil: DefaultLimits of the
	// default policy).
	Limits *Limits
	// Credentials secure the listener (nil: plaintext).
	Credentials credentials.TransportCredentials
	// Options are extra gRPC server options (credentials, interceptors added with
	// grpc.ChainUnaryInterceptor / grpc.ChainStreamInterceptor, keepalive).
	Options []grpc.ServerOption
	// Metrics records every call's latency by method and status code (nil: none).
	Metrics *metrics.RPC
	// GracePeriod is how long Run waits for calls in flight when its context ends
	// before closing every connection (default 2 s).
	GracePeriod time.Duration

	// pool holds the server's message buffers (nil: wireBuffers; tests set one that
	// poisons what it is given back).
	pool mem.BufferPool
}

// Server is a gRPC server on one listener. Services register on Registrar before Run.
// Its interceptors recover panics in handlers: the panic is logged at error level with
// its stack and the call is answered with an error.
type Server struct {
	gs      *grpc.Server
	lis     net.Listener
	log     *slog.Logger
	grace   time.Duration
	metrics *metrics.RPC // nil: none
	limits  *Limits
	answers *answers // nil: answers held for peers are not bounded
}

// NewServer returns a server that will serve on lis.
func NewServer(lis net.Listener, cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Limits == nil {
		l := DefaultLimits(protocol.NoFeesPolicy())
		cfg.Limits = &l
	}
	if cfg.GracePeriod <= 0 {
		cfg.GracePeriod = 2 * time.Second
	}
	s := &Server{lis: cfg.Limits.listener(lis), log: cfg.Logger, grace: cfg.GracePeriod, metrics: cfg.Metrics, limits: cfg.Limits}
	if cfg.Limits.MaxAnswerBytes > 0 {
		s.answers = newAnswers(cfg.Limits)
		s.lis = &answerListener{Listener: s.lis, a: s.answers}
		cfg.Metrics.SetAnswerBacklog(s.answers.backlog)
	}
	if cfg.pool == nil {
		cfg.pool = wireBuffers
	}
	opts := append([]grpc.ServerOption{grpc.MaxSendMsgSize(MaxMessageSize)}, transportOptions()...)
	opts = append(opts, codecServerOptions(cfg.pool)...)
	// One unary interceptor does what a chain of three would (time, recover, check)
	// without the chain's closures per call.
	opts = append(opts, grpc.ChainUnaryInterceptor(s.unary))
	if cfg.Metrics != nil {
		// Outermost: the latency includes the limits' checks, and calls they refuse
		// are counted with their code.
		opts = append(opts, grpc.ChainStreamInterceptor(timeStream(cfg.Metrics)))
	}
	opts = append(opts, grpc.ChainStreamInterceptor(s.recoverStream))
	if s.answers != nil {
		opts = append(opts, grpc.ChainStreamInterceptor(s.answers.trackStream(cfg.Limits)))
	}
	opts = append(opts, cfg.Limits.serverOptions()...)
	if cfg.MaxMessageSize > 0 {
		opts = append(opts, grpc.MaxRecvMsgSize(cfg.MaxMessageSize))
	}
	if cfg.Credentials != nil {
		opts = append(opts, grpc.Creds(cfg.Credentials))
	}
	s.gs = grpc.NewServer(append(opts, cfg.Options...)...)
	return s
}

// Transport settings of servers (transportOptions) and connections (newConn).
//
// Flow-control windows are static: with dynamic ones each end sends a bandwidth-delay
// ping when data of nearly every call arrives, and the other end acknowledges it: four
// more frames per call to build, send, parse and handle (on loopback they mostly share
// the calls' own writes and reads; TestNoPingPerCall).
const (
	// serverWindow is the window a server grants each stream and connection: what one
	// connection can make it hold unread (see the budget comment in limits.go). At a
	// 50 ms round trip a blob uploads at about 5 MB/s.
	serverWindow = 256 << 10
	// clientWindow is the window a connection to a validator or shard grants: downloads
	// (certificates, blobs; up to 32 MiB an answer) stream at about 80 MB/s over a
	// 50 ms round trip.
	clientWindow = 4 << 20
	// streamWorkers is how many goroutines serve streams (more streams than that at once
	// each get a new goroutine, as without workers). A worker keeps the stack a
	// handler grew, where a goroutine per stream grows a small stack again each call.
	streamWorkers = 32
)

// transportOptions are the gRPC transport options of every server.
func transportOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.StaticStreamWindowSize(serverWindow),
		grpc.StaticConnWindowSize(serverWindow),
		grpc.NumStreamWorkers(streamWorkers),
	}
}

// Registrar is where services register (Proxy.Register, ShardServer.Register).
func (s *Server) Registrar() grpc.ServiceRegistrar { return s.gs }

// Addr returns the listener's address.
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// Run serves until ctx ends, then stops gracefully (closing every connection after the
// grace period). It returns nil after a stop.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.gs.Serve(s.lis) }()
	select {
	case err := <-errc:
		if errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	done := make(chan struct{})
	go func() { s.gs.GracefulStop(); close(done) }()
	t := time.NewTimer(s.grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.gs.Stop()
		<-done
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Close stops the server at once: connections close and calls in flight fail.
func (s *Server) Close() error {
	s.gs.Stop()
	return nil
}

func (s *Server) recovered(method string, err *error) {
	if r := recover(); r != nil {
		s.log.Error("panic in rpc handler", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = toStatus(fmt.Errorf("internal error while handling %s: %v", method, r))
	}
}

// unary is the server's unary interceptor: outermost it records the call's duration
// and status code (with ServerConfig.Metrics; a call the limits refuse is counted with
// its code), then it recovers a panic of the handler as an error, then it applies the
// limits (checkUnary). Only methods of registered services reach interceptors, and
// metrics.RPC caps the method labels.
func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	if s.metrics != nil {
		start := time.Now()
		// Deferred before recovered, so it runs after and sees the recovered error.
		defer func() { s.metrics.Observe(info.FullMethod, status.Code(err).String(), time.Since(start)) }()
	}
	defer s.recovered(info.FullMethod, &err)
	return s.limits.checkUnary(ctx, req, info, handler, s.answers)
}

// timeStream records each stream's duration and status code.
func timeStream(m *metrics.RPC) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		m.Observe(info.FullMethod, status.Code(err).String(), time.Since(start))
		return err
	}
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer s.recovered(info.FullMethod, &err)
	return handler(srv, ss)
}
