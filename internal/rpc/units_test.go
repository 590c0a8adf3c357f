package rpc

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/grpc/peer"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

func TestShardOfVectors(t *testing.T) {
	var seq base.ChainID
	for i := range seq {
		seq[i] = byte(i)
	}
	var ff base.ChainID
	for i := range ff {
		ff[i] = 0xff
	}
	// Computed independently: int.from_bytes(sha256(id).digest()[:8], "big") % n.
	for _, tc := range []struct {
		id   base.ChainID
		want map[int]int
	}{
		{base.ChainID{}, map[int]int{1: 0, 2: 1, 3: 0, 4: 3, 7: 2, 16: 7}}, // 0x66687aadf862bd77
		{seq, map[int]int{1: 0, 2: 0, 3: 2, 4: 2, 7: 5, 16: 6}},            // 0x630dcd2966c43366
		{ff, map[int]int{1: 0, 2: 1, 3: 2, 4: 3, 7: 1, 16: 15}},            // 0xaf9613760f72635f
	} {
		for n, want := range tc.want {
			if got := ShardOf(tc.id, n); got != want {
				t.Errorf("ShardOf(%s, %d) = %d, want %d", tc.id.Short(), n, got, want)
			}
		}
	}
}

func TestNotifierSlowSubscriberDrops(t *testing.T) {
	n := NewNotifier(2)
	a, b := base.ChainID{1}, base.ChainID{2}
	slow := n.Subscribe([]base.ChainID{a})
	everything := n.Subscribe(nil)
	other := n.Subscribe([]base.ChainID{b, b})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for h := range 5 {
			n.Publish(protocol.Notification{ChainID: a, Height: base.BlockHeight(h)})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a full subscriber")
	}
	if got := slow.Queued(); got != 2 {
		t.Errorf("slow subscriber holds %d, want 2", got)
	}
	if d := slow.TakeDropped(); d != 3 {
		t.Errorf("dropped %d, want 3", d)
	}
	if d := slow.TakeDropped(); d != 0 {
		t.Errorf("dropped counter not reset: %d", d)
	}
	if everything.Queued() != 2 || other.Queued() != 0 {
		t.Errorf("fan-out: all-chains subscriber %d, other chain %d", everything.Queued(), other.Queued())
	}
	if got := n.Subscribers(); got != 3 {
		t.Errorf("%d subscribers, want 3", got)
	}
	slow.Close()
	slow.Close()
	everything.Close()
	other.Close()
	if got := n.Subscribers(); got != 0 {
		t.Errorf("%d subscribers after close, want 0", got)
	}
	n.Publish(protocol.Notification{ChainID: a}) // no subscriber: no panic
}

// fakeShard answers chain-info queries with the error of the kind whose index is the
// first byte of the chain id, and panics for chain 0xff.
type fakeShard struct{ t *testing.T }

func (f fakeShard) fail(id base.ChainID) error {
	if id[0] == 0xff {
		panic("fake shard: broken invariant")
	}
	err, _ := sampleError(f.t, &kinds[id[0]])
	return err
}

func (f fakeShard) HandleBlockProposal(_ context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	return nil, f.fail(p.Content.Block.ChainID)
}
func (f fakeShard) HandleCertificate(_ context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error) {
	return nil, f.fail(c.ChainID())
}
func (f fakeShard) HandleChainInfoQuery(_ context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	if q.TestNextBlockHeight == nil {
		// The proxy asks for the next height to annotate wrong-height refusals.
		return &protocol.ChainInfo{ChainID: q.ChainID, NextBlockHeight: 12}, nil
	}
	return nil, f.fail(q.ChainID)
}
func (f fakeShard) HandleBlob(context.Context, protocol.Blob) error { return nil }

// TestErrorKindsOverGRPC: every kind reaches a real client through a real gRPC server
// with its identity, and a panicking handler answers an error.
func TestErrorKindsOverGRPC(t *testing.T) {
	g := prototest.Genesis(prototest.Committee(prototest.Validators(4)), nil, base.Tokens(1))
	proxy, err := NewProxy(ProxyConfig{Shards: []Shard{fakeShard{t}}, Storage: newStore(t, g)})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(listen(t), ServerConfig{Logger: testLogger()})
	proxy.Register(srv.Registrar())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}()
	node, err := Dial(ctx, srv.Addr().String(), DialOptions{GenesisHash: g.Hash()})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	if len(kinds) >= 0xff {
		t.Fatalf("%d kinds: too many for the fake shard's encoding", len(kinds))
	}
	h := base.BlockHeight(1)
	for i := range kinds {
		k := &kinds[i]
		want, typed := sampleError(t, k)
		_, got := node.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: base.ChainID{byte(i)}, TestNextBlockHeight: &h})
		if got == nil {
			t.Fatalf("%s: no error", k.name)
		}
		checkSame(t, k, want, typed, got)
		if k.name == "worker.ErrWrongHeight" || k.name == "worker.ErrMissingEarlierBlocks" {
			if next, ok := NextHeight(got); !ok || next != 12 {
				t.Errorf("%s: next height %d, %v; want 12", k.name, next, ok)
			}
		}
	}
	_, err = node.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: base.ChainID{0xff}, TestNextBlockHeight: &h})
	var re *RemoteError
	if !errors.As(err, &re) || re.Kind != "" {
		t.Fatalf("panic: %v", err)
	}
	// The server is still serving.
	if _, err := node.GenesisHash(ctx); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
}

// TestRemoteIP: the in-flight bound counts per IP address: one key for every port of an
// address, the same key for an IPv4 address whether or not mapped into IPv6, one key
// for the addresses of an IPv6 /64, and one shared key for peers without an IP address.
func TestRemoteIP(t *testing.T) {
	at := func(a net.Addr) context.Context { return peer.NewContext(context.Background(), &peer.Peer{Addr: a}) }
	v4 := netip.MustParseAddr("192.0.2.7")
	for _, c := range []struct {
		name string
		ctx  context.Context
		want netip.Addr
	}{
		{"ipv4", at(&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 4000}), v4},
		{"ipv4 other port", at(&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7).To4(), Port: 4001}), v4},
		{"ipv4 in ipv6", at(net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[::ffff:192.0.2.7]:4002"))), v4},
		{"ipv6", at(net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[2001:db8::1]:4003"))), netip.MustParseAddr("2001:db8::")},
		{"ipv6 same /64", at(net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[2001:db8::ffff:1:2:3]:4003"))), netip.MustParseAddr("2001:db8::")},
		{"ipv6 other /64", at(net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[2001:db8:0:1::1]:4003"))), netip.MustParseAddr("2001:db8:0:1::")},
		{"ipv6 zone", at(net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[fe80::1%eth0]:4003"))), netip.MustParseAddr("fe80::")},
		{"ipv6 loopback", at(net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[::1]:4003"))), netip.MustParseAddr("::")},
		{"udp", at(&net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 9}), v4},
		{"unix", at(&net.UnixAddr{Name: "/tmp/sock", Net: "unix"}), netip.Addr{}},
		{"no peer", context.Background(), netip.Addr{}},
	} {
		if got := remoteIP(c.ctx); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
