package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
)

// DialOptions configures a connection to a validator (Dial) or to a shard (DialShard).
type DialOptions struct {
	// CallTimeout bounds each unary call (default 10 s); the caller's context may end it
	// earlier. Streams are bounded by the caller's context only.
	CallTimeout time.Duration
	// GenesisHash, if not zero, is the network the validator must belong to: the first
	// call checks it (GetGenesisHash) and every call fails with ErrWrongNetwork if it
	// differs. Ignored by DialShard.
	GenesisHash base.Hash
	// MaxMessageSize overrides MaxMessageSize when positive.
	MaxMessageSize int
	// Credentials secure the connection; nil means plaintext (loopback, private
	// networks).
	Credentials credentials.TransportCredentials
	// WaitForReady makes a call wait, within its deadline, for the connection to be
	// (re)established instead of failing at once while it backs off from a refused
	// attempt. Set for a validator's internal connections (DialShard): a shard that
	// starts after its proxy, or restarts, is the only one that can answer for its
	// chains. Left unset for validators, where a client's fan-out should hear at once
	// that one is down.
	WaitForReady bool
	// Options are extra gRPC dial options.
	Options []grpc.DialOption
	Logger  *slog.Logger

	// pool holds the connection's message buffers (nil: wireBuffers; tests set one that
	// poisons what it is given back).
	pool mem.BufferPool
}

// conn is one gRPC connection, reused by every call (HTTP/2 multiplexes them).
type conn struct {
	addr    string
	cc      *grpc.ClientConn
	timeout time.Duration
	// maxMsg is the connection's receive limit (DialOptions.MaxMessageSize): a call's
	// own (client.WithReceiveLimit) may only be lower.
	maxMsg int
	log    *slog.Logger
}

func newConn(address string, opts DialOptions) (*conn, error) {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = MaxMessageSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.pool == nil {
		opts.pool = wireBuffers
	}
	creds := opts.Credentials
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	dopts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithStaticStreamWindowSize(clientWindow),
		grpc.WithStaticConnWindowSize(clientWindow),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(opts.MaxMessageSize),
			grpc.MaxCallSendMsgSize(opts.MaxMessageSize),
		),
		// Reconnect quickly after a peer (re)starts: a validator or shard coming back
		// should be used again within a fraction of a second, not after gRPC's default
		// one-second-and-growing backoff.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: time.Second,
		}),
	}
	dopts = append(dopts, codecDialOptions(opts.pool)...)
	if opts.WaitForReady {
		dopts = append(dopts, grpc.WithDefaultCallOptions(grpc.WaitForReady(true)))
	}
	cc, err := grpc.NewClient(address, append(dopts, opts.Options...)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	return &conn{addr: address, cc: cc, timeout: opts.CallTimeout, maxMsg: opts.MaxMessageSize, log: opts.Logger}, nil
}

func (c *conn) close() error { return c.cc.Close() }

// unary makes one call with the connection's deadline and turns a failure into a
// *RemoteError. A call the validator refused as busy (ErrBusy with ResourceExhausted,
// from its in-flight bound: it read none of the call) is sent again after a short, growing pause until the deadline.
//
// A call whose context carries client.WithExtraCallTime (a block that makes validators
// compile bytecode) gets that much more than the connection's deadline.
func unary[Req, Resp any](ctx context.Context, c *conn, f func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	// A caller's deadline within the connection's needs no timer of its own (the
	// client's fan-outs set one per call): one context and one timer less per call.
	if d := c.timeout + client.ExtraCallTime(ctx); !deadlineWithin(ctx, d) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	pause := busyPause
	for {
		resp, err := f(ctx, req)
		if err == nil {
			return resp, nil
		}
		busy := status.Code(err) == codes.ResourceExhausted
		err = fromStatus(err)
		if !busy || !errors.Is(err, ErrBusy) {
			var zero Resp
			return zero, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			var zero Resp
			return zero, err
		case <-t.C:
		}
		pause = min(2*pause, maxBusyPause)
	}
}

// withReceiveLimit returns f with ctx's receive limit (client.WithReceiveLimit), if
// lower than the connection's, as the call's: gRPC refuses a larger answer from its
// length prefix, before reading it.
func withReceiveLimit[Req, Resp any](ctx context.Context, c *conn, f func(context.Context, Req, ...grpc.CallOption) (Resp, error)) func(context.Context, Req, ...grpc.CallOption) (Resp, error) {
	n := client.ReceiveLimit(ctx)
	if n <= 0 || n >= c.maxMsg {
		return f
	}
	return func(ctx context.Context, req Req, opts ...grpc.CallOption) (Resp, error) {
		return f(ctx, req, append(opts, grpc.MaxCallRecvMsgSize(n))...)
	}
}

// deadlineWithin reports whether ctx ends within d from now.
func deadlineWithin(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) <= d
}

// Pauses before sending again a call refused with ErrBusy.
const (
	busyPause    = time.Millisecond
	maxBusyPause = 10 * time.Millisecond
)
