package rpc

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// frameCounter counts the HTTP/2 frames of one direction of a connection by type.
type frameCounter struct {
	w     *io.PipeWriter
	done  chan struct{}
	pings atomic.Int64 // PING frames that are not acknowledgements
	total atomic.Int64
}

func newFrameCounter(skip []byte) *frameCounter {
	r, w := io.Pipe()
	c := &frameCounter{w: w, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		if len(skip) > 0 {
			got := make([]byte, len(skip))
			if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, skip) {
				_ = r.CloseWithError(io.ErrUnexpectedEOF)
				return
			}
		}
		fr := http2.NewFramer(io.Discard, r)
		fr.SetMaxReadFrameSize(1 << 24)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				_ = r.CloseWithError(err)
				return
			}
			c.total.Add(1)
			if p, ok := f.(*http2.PingFrame); ok && !p.IsAck() {
				c.pings.Add(1)
			}
		}
	}()
	return c
}

// countingConn copies what a client connection reads and writes to frame counters.
type countingConn struct {
	net.Conn
	in, out *frameCounter
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	_, _ = c.in.w.Write(b[:n])
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	_, _ = c.out.w.Write(b[:n])
	return n, err
}

// TestNoPingPerCall: calls exchange their messages and nothing more. Neither a server
// nor a connection to it sends pings while calls run (with dynamic flow-control
// windows gRPC sends a bandwidth-delay ping with the first data frame of nearly every
// call, and its peer acknowledges it).
func TestNoPingPerCall(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice")}
	g := prototest.Genesis(prototest.Committee(prototest.Validators(4)), keys, base.Tokens(10))
	info := &protocol.ChainInfo{ChainID: g.ChainIDs()[0], NextBlockHeight: 7}
	proxy, err := NewProxy(ProxyConfig{Shards: []Shard{echoShard{info}}, Storage: newStore(t, g)})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []*countingConn
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		cc := &countingConn{Conn: c, in: newFrameCounter(nil), out: newFrameCounter([]byte(http2.ClientPreface))}
		mu.Lock()
		conns = append(conns, cc)
		mu.Unlock()
		return cc, nil
	}
	node := serveProxy(t, proxy, ServerConfig{}, DialOptions{Options: []grpc.DialOption{grpc.WithContextDialer(dial)}})
	ctx := context.Background()
	const calls = 50
	for range calls {
		if _, err := node.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: info.ChainID}); err != nil {
			t.Fatal(err)
		}
	}
	if err := node.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1", len(conns))
	}
	c := conns[0]
	_ = c.in.w.Close()
	_ = c.out.w.Close()
	<-c.in.done
	<-c.out.done
	t.Logf("%d calls: %d frames from the server (%d pings), %d to it (%d pings)", calls, c.in.total.Load(), c.in.pings.Load(), c.out.total.Load(), c.out.pings.Load())
	if c.in.total.Load() < calls || c.out.total.Load() < calls {
		t.Fatalf("frames not counted: %d in, %d out", c.in.total.Load(), c.out.total.Load())
	}
	if p := c.in.pings.Load(); p > 0 {
		t.Errorf("the server sent %d pings during %d calls, want none", p, calls)
	}
	if p := c.out.pings.Load(); p > 0 {
		t.Errorf("the client sent %d pings during %d calls, want none", p, calls)
	}
}
