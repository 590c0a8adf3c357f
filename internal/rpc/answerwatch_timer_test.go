package rpc

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/peer"

	"github.com/micachain/mica/internal/protocol"
)

// heldAnswers returns answers with one counted connection (from 10.0.0.9:1, closed
// with the test) and the context of a request on it.
func heldAnswers(tb testing.TB) (*answers, context.Context) {
	tb.Helper()
	l := DefaultLimits(protocol.NoFeesPolicy())
	a := newAnswers(&l)
	local, remote := net.Pipe()
	tb.Cleanup(func() { _ = remote.Close() })
	key := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 1}
	c := &answerConn{Conn: local, a: a, key: key.AddrPort(), tickets: map[*answerTicket]struct{}{}}
	a.conns[c.key] = c
	tb.Cleanup(func() { _ = c.Close() })
	return a, peer.NewContext(context.Background(), &peer.Peer{Addr: key})
}

// holdAnswer settles an answer of 4 KiB on ctx's connection and returns its buffers
// (held until freed).
func holdAnswer(tb testing.TB, a *answers, ctx context.Context) mem.BufferSlice {
	tb.Helper()
	t, err := a.reserve(ctx, 4<<10)
	if err != nil {
		tb.Fatal(err)
	}
	return t.settle(mem.BufferSlice{make(mem.SliceBuffer, 4<<10)})
}

// settleAndFree reserves, settles and frees one answer of out's size on ctx's
// connection, as the codec and gRPC do for a written answer.
func settleAndFree(tb testing.TB, a *answers, ctx context.Context, out mem.BufferSlice) {
	t, err := a.reserve(ctx, int64(out.Len()))
	if err != nil {
		tb.Fatal(err)
	}
	t.settle(out).Free()
}

// TestAnswerSettleArmsNoTimerPerAnswer: settling an answer on a connection that already
// holds one allocates only the wrapping of its buffers (the slice, the data's pointer,
// the pool), no timer of its own: the connection's one watchdog covers it.
func TestAnswerSettleArmsNoTimerPerAnswer(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so allocation counts differ")
	}
	a, ctx := heldAnswers(t)
	defer holdAnswer(t, a, ctx).Free()
	out := mem.BufferSlice{make(mem.SliceBuffer, 4<<10)}
	allocs := testing.AllocsPerRun(200, func() { settleAndFree(t, a, ctx, out) })
	const want = 4 // the ticket, the wrapping slice, the data's pointer, the pool
	if allocs > want {
		t.Errorf("%.1f allocations per answer settled and freed, want at most %d (no timer per answer)", allocs, want)
	}
	if n := a.backlog(); n != 4<<10 {
		t.Errorf("%d bytes held, want the held answer's %d", n, 4<<10)
	}
}

// BenchmarkAnswerSettleRelease: what counting one large answer costs, from its
// reservation to gRPC freeing its buffers, on a connection holding another answer.
func BenchmarkAnswerSettleRelease(b *testing.B) {
	a, ctx := heldAnswers(b)
	defer holdAnswer(b, a, ctx).Free()
	out := mem.BufferSlice{make(mem.SliceBuffer, 4<<10)}
	b.ReportAllocs()
	for b.Loop() {
		settleAndFree(b, a, ctx, out)
	}
}
