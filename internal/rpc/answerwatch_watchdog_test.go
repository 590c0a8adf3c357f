package rpc

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/peer"
)

// TestAnswerWatchdogDecidesByTheOldestAnswer: the connection's watchdog, when it runs,
// closes the connection if its oldest held answer is past the timeout (which gives
// back every answer held on it), waits for the oldest's deadline if not, and stops
// when nothing is held until the next answer is held.
func TestAnswerWatchdogDecidesByTheOldestAnswer(t *testing.T) {
	a, ctx := heldAnswers(t)
	c := a.conns[peerKey(t, ctx)]
	settle := func() *answerTicket {
		tk, err := a.reserve(ctx, 4<<10)
		if err != nil {
			t.Fatal(err)
		}
		tk.settle(mem.BufferSlice{make(mem.SliceBuffer, 4<<10)})
		return tk
	}
	state := func() (armed, closed bool) {
		a.mu.Lock()
		defer a.mu.Unlock()
		return c.armed, c.closed
	}
	first, second := settle(), settle()
	if armed, _ := state(); !armed {
		t.Fatal("no watchdog armed for a held answer")
	}
	// Nothing past its deadline: the watchdog waits for the oldest's.
	c.check()
	if armed, closed := state(); !armed || closed {
		t.Fatalf("watchdog with fresh answers: armed %v, closed %v; want armed, open", armed, closed)
	}
	// The oldest written: nothing held past its deadline still.
	first.release()
	a.mu.Lock()
	second.settled = second.settled.Add(-a.timeout / 2)
	a.mu.Unlock()
	c.check()
	if armed, closed := state(); !armed || closed {
		t.Fatalf("watchdog with an answer half its timeout old: armed %v, closed %v; want armed, open", armed, closed)
	}
	// Nothing held: it stops; the next answer arms it again.
	second.release()
	c.check()
	if armed, _ := state(); armed {
		t.Fatal("watchdog armed with nothing held")
	}
	late := settle()
	if armed, _ := state(); !armed {
		t.Fatal("no watchdog armed for an answer held after it stopped")
	}
	// An answer past its deadline: the connection closes and gives back what it held.
	a.mu.Lock()
	late.settled = late.settled.Add(-a.timeout)
	a.mu.Unlock()
	c.check()
	if _, closed := state(); !closed {
		t.Fatal("the connection stayed open with an answer held past its timeout")
	}
	if n := a.backlog(); n != 0 {
		t.Errorf("%d bytes held after the connection closed", n)
	}
}

// peerKey is the connection address of ctx's peer.
func peerKey(t *testing.T, ctx context.Context) netip.AddrPort {
	t.Helper()
	p, ok := peer.FromContext(ctx)
	if !ok {
		t.Fatal("no peer")
	}
	return p.Addr.(*net.TCPAddr).AddrPort()
}
