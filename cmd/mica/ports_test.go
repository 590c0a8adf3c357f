package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/netup"
)

// Loopback ports of the end-to-end tests. A test that starts a network takes a range of
// portSpan ports (and their metrics twins, +netup.DefaultMetricsOffset) picked at random
// among the slots of [portsLow, portsHigh), every port of which was free when picked.
// Fixed ports let two runs on one machine (two engineers, or a run beside someone's
// `mica net up`) collide; random free ranges make that unlikely, and netUp starts
// again on another range when net up finds a port taken meanwhile.
const (
	portSpan = 50
	// portsLow and portsHigh keep the metrics twins (30000–32749) below Linux's
	// ephemeral ports (32768 on), which outgoing connections take at random.
	portsLow  = 20000
	portsHigh = 22750
)

// ports is a range of loopback ports, base to base+portSpan-1, with their metrics
// twins. Validator i of a network on it listens on base+i, its metrics on
// base+netup.DefaultMetricsOffset+i.
type ports struct{ base int }

// at returns port base+k.
func (p ports) at(k int) int { return p.base + k }

// str returns port base+k in decimal, for a flag.
func (p ports) str(k int) string { return strconv.Itoa(p.at(k)) }

// freePorts returns a range of ports free at the time of the call.
func freePorts(t testing.TB) ports {
	t.Helper()
	for range 100 {
		p := ports{base: portsLow + portSpan*rand.IntN((portsHigh-portsLow)/portSpan)}
		if p.free() {
			return p
		}
	}
	t.Fatal("no free range of loopback ports")
	return ports{}
}

// free reports whether every port of p and its metrics twin can be bound now.
func (p ports) free() bool {
	for k := range portSpan {
		for _, port := range []int{p.at(k), p.at(k) + netup.DefaultMetricsOffset} {
			lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				return false
			}
			if err := lis.Close(); err != nil {
				return false
			}
		}
	}
	return true
}

// portArg stands for port base+k of the range netUp picks, in its arguments (a faucet's
// --faucet-port): netUp replaces it.
func portArg(k int) string { return fmt.Sprintf("{port+%d}", k) }

// expand replaces the portArg placeholders in args with ports of p.
func (p ports) expand(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if s, ok := strings.CutPrefix(a, "{port+"); ok {
			if k, err := strconv.Atoi(strings.TrimSuffix(s, "}")); err == nil && strings.HasSuffix(s, "}") && k >= 0 && k < portSpan {
				out[i] = p.str(k)
			}
		}
	}
	return out
}

// portTaken reports whether net up's output says it failed for a port already taken.
func portTaken(output string) bool {
	return strings.Contains(output, "already taken") || strings.Contains(output, "address already in use")
}

// TestPortsExpand: placeholders become ports of the range; anything else is kept.
func TestPortsExpand(t *testing.T) {
	p := ports{base: 20100}
	got := p.expand([]string{"--faucet-port", portArg(40), "{port+x}", "{port+50}", "7"})
	want := []string{"--faucet-port", "20140", "{port+x}", "{port+50}", "7"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("expand = %q, want %q", got, want)
	}
}

// TestFreePortsAvoidsTaken: a range with a port taken is not picked, and the ranges
// picked lie within the slots.
func TestFreePortsAvoidsTaken(t *testing.T) {
	p := freePorts(t)
	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.at(7)+netup.DefaultMetricsOffset))
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	if p.free() {
		t.Fatal("a range with a metrics port taken is free")
	}
	for range 50 {
		q := freePorts(t)
		if q == p {
			t.Fatal("freePorts picked a range with a port taken")
		}
		if q.base < portsLow || q.base+portSpan > portsHigh || (q.base-portsLow)%portSpan != 0 {
			t.Fatalf("range at %d outside the slots", q.base)
		}
	}
}

// TestNetUpRetriesTakenPorts: when a port of the range netUp picked is taken before net
// up binds it (another test run took it), netUp starts the network again on another
// range, and it works.
func TestNetUpRetriesTakenPorts(t *testing.T) {
	first := pickTakenFirst(t, 2)
	n := netUp(t, filepath.Join(t.TempDir(), "net"), "--initial-chains", "1")
	if n.ports == *first || n.ports.base == 0 {
		t.Fatalf("net up runs on ports from %d, the range with a port taken", n.ports.base)
	}
	if want := "127.0.0.1:" + n.ports.str(0); n.info.Validators[0].Address != want {
		t.Fatalf("validator 0 at %s, want %s", n.info.Validators[0].Address, want)
	}
	mustMica(t, n.info.Wallet, "sync", walletChain(t, n.info.Wallet))
}

// pickTakenFirst makes pickPorts return, on its first call, a free range whose port
// base+k it then takes (as another test run would, before the network binds it), and
// free ranges after that. It returns the first range (set once picked) and restores
// pickPorts when the test ends.
func pickTakenFirst(t *testing.T, k int) *ports {
	first := &ports{}
	var held net.Listener
	pickPorts = func(tb testing.TB) ports {
		if held != nil {
			return freePorts(tb)
		}
		*first = freePorts(tb)
		var err error
		if held, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", first.at(k))); err != nil {
			tb.Fatal(err)
		}
		return *first
	}
	t.Cleanup(func() {
		pickPorts = freePorts
		if held != nil {
			_ = held.Close()
		}
	})
	return first
}
