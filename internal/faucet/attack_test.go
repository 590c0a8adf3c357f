package faucet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// clientFrom returns a faucet client whose connections come from the loopback address
// ip (127.0.0.0/8 is all local on Linux), so that one test plays several hosts.
func clientFrom(f *Faucet, ip string) *Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}
	return NewClient("http://"+f.Addr().String(), &http.Client{Transport: tr, Timeout: time.Minute})
}

// TestAttackThousandChainsFromOneAddress: one client asking for 1,000 chains for 1,000
// owners gets its quota and 429s with a Retry-After; another address still gets a chain,
// and an owner already served still gets its chain back.
func TestAttackThousandChainsFromOneAddress(t *testing.T) {
	ctx := context.Background()
	fk := prototest.Key("faucet")
	n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(1_000_000)})
	cl := n.client()
	const quota = 5
	f, _ := startWith(t, Config{Client: cl, Chain: cl.Chain(n.chains[0], fk, nil), Amount: base.Tokens(1), Genesis: n.genesis,
		Listen: "127.0.0.1:0", MaxChainsPerIP: quota, MaxQueue: 2000}, nil)
	attacker := clientFrom(f, "127.0.0.1")

	const asks = 1000
	var served, limited atomic.Int64
	var firstServed atomic.Pointer[Opened]
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50) // 50 requests in flight at a time
	for i := range asks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			op, err := attacker.Claim(ctx, prototest.Key(fmt.Sprintf("sybil-%d", i)).Public().Owner())
			var se *ServerError
			switch {
			case err == nil:
				served.Add(1)
				firstServed.CompareAndSwap(nil, &op)
			case errors.As(err, &se) && se.StatusCode == http.StatusTooManyRequests && se.RetryAfter > 0 && errors.Is(err, base.ErrRetryable):
				limited.Add(1)
			default:
				t.Errorf("claim %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	t.Logf("one address asked for %d chains: %d served, %d refused with 429", asks, served.Load(), limited.Load())
	if served.Load() != quota || limited.Load() != asks-quota {
		t.Fatalf("one address got %d chains of %d asked (%d refused), want its quota of %d", served.Load(), asks, limited.Load(), quota)
	}
	if b := n.balance(0, n.chains[0]); b != base.Tokens(1_000_000-quota) {
		t.Fatalf("faucet chain has %s, want %d: exactly the quota was paid out", b, 1_000_000-quota)
	}
	// An owner already served gets its chain back, quota or not.
	if op := firstServed.Load(); op != nil {
		again, err := attacker.Claim(ctx, op.Owner)
		if err != nil || again != *op {
			t.Fatalf("served owner claiming again: %+v, %v", again, err)
		}
	}
	// Another address is not affected.
	if _, err := clientFrom(f, "127.0.0.2").Claim(ctx, prototest.Key("honest").Public().Owner()); err != nil {
		t.Fatalf("claim from another address: %v", err)
	}
}

// TestAttackQueueBound: with the loop busy, claims beyond MaxQueue are refused at once
// with 503 and a Retry-After instead of piling up; the queued ones are served after.
func TestAttackQueueBound(t *testing.T) {
	ctx := context.Background()
	fk := prototest.Key("faucet")
	n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(1000)})
	cl := n.client()
	const maxQueue = 4
	release := make(chan struct{})
	hold := func(f *Faucet) func() {
		var once sync.Once
		return func() { once.Do(func() { <-release }) }
	}
	f, fc := startWith(t, Config{Client: cl, Chain: cl.Chain(n.chains[0], fk, nil), Amount: base.Tokens(1), Genesis: n.genesis,
		Listen: "127.0.0.1:0", MaxQueue: maxQueue, MaxChainsPerIP: -1}, hold)
	var wg sync.WaitGroup
	errs := make([]error, maxQueue)
	for i := range maxQueue {
		wg.Go(func() { _, errs[i] = fc.Claim(ctx, prototest.Key(fmt.Sprintf("queued-%d", i)).Public().Owner()) })
	}
	for deadline := time.Now().Add(2 * time.Minute); len(f.queue) < maxQueue && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	// The queue is full: more claims are refused without waiting (a client that waited
	// would time out here, and the loop is held until they are answered).
	short := NewClient("http://"+f.Addr().String(), &http.Client{Timeout: 20 * time.Second})
	for i := range 20 {
		_, err := short.Claim(ctx, prototest.Key(fmt.Sprintf("excess-%d", i)).Public().Owner())
		var se *ServerError
		if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable || se.RetryAfter <= 0 || !strings.Contains(se.Message, "busy") {
			close(release)
			wg.Wait()
			t.Fatalf("claim beyond a full queue: %v, want 503 busy with Retry-After", err)
		}
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("queued claim %d: %v", i, err)
		}
	}
}

// TestAttackLimiterStateIsBounded: an attacker with many addresses cannot grow the
// limiter's state past its cap; the oldest addresses are forgotten first, and expired
// windows are dropped.
func TestAttackLimiterStateIsBounded(t *testing.T) {
	const maxEntries = 100
	l := newIPLimiter(1, time.Hour, maxEntries)
	now := time.Unix(1_000_000, 0)
	for i := range 10 * maxEntries {
		if _, ok, _ := l.reserve(fmt.Sprintf("10.0.%d.%d", i/256, i%256), now.Add(time.Duration(i)*time.Millisecond)); !ok {
			t.Fatalf("address %d refused its first chain", i)
		}
		if got := l.tracked(); got > maxEntries {
			t.Fatalf("limiter tracks %d addresses, cap %d", got, maxEntries)
		}
	}
	later := now.Add(10 * maxEntries * time.Millisecond)
	// The newest address is still counted; the first one was evicted.
	last := fmt.Sprintf("10.0.%d.%d", (10*maxEntries-1)/256, (10*maxEntries-1)%256)
	if _, ok, wait := l.reserve(last, later); ok || wait <= 0 {
		t.Fatalf("newest address got a second chain (ok=%v, wait=%v)", ok, wait)
	}
	if _, ok, _ := l.reserve("10.0.0.0", later); !ok {
		t.Fatalf("evicted address still counted")
	}
	// An hour later every window has expired: the state shrinks to the one new address.
	if _, ok, _ := l.reserve("10.9.9.9", later.Add(2*time.Hour)); !ok || l.tracked() != 1 {
		t.Fatalf("after the window: ok=%v, %d addresses tracked, want 1", ok, l.tracked())
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"1.2.3.4:5678":                "1.2.3.4",
		"[::ffff:1.2.3.4]:1":          "1.2.3.4",
		"[2001:db8:1:2:3:4:5:6]:80":   "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:80":   "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":           "fe80::/64",
		"pipe":                        "?pipe",
		"[2001:db8:1:3:3:4:5:6]:8080": "2001:db8:1:3::/64",
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAttackOversizedRequests: headers and bodies beyond the limits are refused without
// being served.
func TestAttackOversizedRequests(t *testing.T) {
	fk := prototest.Key("faucet")
	n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(100)})
	f, _ := start(t, n, fk, base.Tokens(1), 0, nil)
	url := "http://" + f.Addr().String() + "/claim"
	body := `{"owner": "` + prototest.Key("x").Public().Owner().String() + `"}`

	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("X-Padding", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB of headers: status %d, want 431", resp.StatusCode)
	}

	resp, err = http.Post(url, "application/json", strings.NewReader(`{"owner": "`+strings.Repeat("0", 8<<20)+`"}`))
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "too large") {
			t.Fatalf("8 MiB body: status %d (%s), want 400 too large", resp.StatusCode, b)
		}
	} // else the server closed the connection while the body was being sent: also fine
	if h := n.height(0, n.chains[0]); h != 0 {
		t.Fatalf("oversized requests committed %d blocks", h)
	}
}

// TestAttackFloodNeverWedgesTheChain: a flood of concurrent claims while three of the
// four validators are overloaded (requests and replies lost at random, as when calls
// time out), with impatient clients, must never make the faucet sign two different fast
// blocks at one height; once the flood is over a legitimate claim succeeds, and the
// faucet shuts down cleanly.
func TestAttackFloodNeverWedgesTheChain(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			ctx := context.Background()
			fk := prototest.Key("faucet")
			n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(1_000_000)})
			cl := n.parallelClient(time.Second)
			f, fc := startWith(t, Config{Client: cl, Chain: cl.Chain(n.chains[0], fk, nil), Amount: base.Tokens(1), Genesis: n.genesis,
				Listen: "127.0.0.1:0", MaxBatch: 10, MaxChainsPerIP: -1}, nil)
			for i := 1; i < len(n.validators); i++ {
				n.node(i).faults.Store(newFaults(seed*10+uint64(i), 0.15, 0.15, 2*time.Millisecond))
			}

			const claims = 300
			var wg sync.WaitGroup
			var served, refused atomic.Int64
			impatient := NewClient("http://"+f.Addr().String(), &http.Client{Timeout: 50 * time.Millisecond})
			for i := range claims {
				c := fc
				if i%3 == 0 {
					c = impatient // gives up early: its claim stays queued
				}
				wg.Go(func() {
					o := prototest.Key(fmt.Sprintf("flood-%d-%d", seed, i)).Public().Owner()
					if _, err := c.Claim(ctx, o); err == nil {
						served.Add(1)
					} else {
						refused.Add(1)
					}
				})
			}
			wg.Wait()
			t.Logf("flood: %d claims served, %d refused; faucet chain at height %d", served.Load(), refused.Load(), n.height(0, n.chains[0]))
			for i := range n.validators {
				n.node(i).faults.Store(nil)
			}

			// The flood is over: a legitimate claim succeeds.
			op, err := fc.Claim(ctx, prototest.Key("legit").Public().Owner())
			if err != nil {
				t.Fatalf("legitimate claim after the flood: %v", err)
			}
			// A quorum has executed the block (a validator that missed it may not yet).
			if err := n.client().CheckChainExists(ctx, op.ChainID); err != nil || op.Owner != prototest.Key("legit").Public().Owner() {
				t.Fatalf("legitimate claim's chain %+v: %v", op, err)
			}
			n.checkNoConflictingProposals(n.chains[0])
		})
	}
}

// TestAttackRestartBehindPendingProposal: a faucet restarts with a persisted pending
// proposal (its block reached only half of the validators) while its local node is
// behind the chain and cannot catch up at once (validators too busy to serve
// certificates). It must keep the pending proposal and re-send it once caught up, never
// sign another block at its height: two fast blocks at one height, each voted by half
// of the validators, wedge the chain for good (the fast round never times out).
func TestAttackRestartBehindPendingProposal(t *testing.T) {
	ctx := context.Background()
	fk := prototest.Key("faucet")
	n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(100)})
	var mu sync.Mutex
	var persisted *protocol.BlockProposal // the wallet's pending proposal
	persist := func(p *protocol.BlockProposal) error { mu.Lock(); defer mu.Unlock(); persisted = p; return nil }

	cl1 := n.client()
	cc1 := cl1.Chain(n.chains[0], fk, nil)
	cc1.OnFastProposal = persist
	f1, fc1 := startWith(t, Config{Client: cl1, Chain: cc1, Amount: base.Tokens(1), Genesis: n.genesis, Listen: "127.0.0.1:0", MaxChainsPerIP: -1}, nil)
	if _, err := fc1.Claim(ctx, prototest.Key("a").Public().Owner()); err != nil {
		t.Fatal(err)
	}
	n.node(2).dropProposals.Store(true)
	n.node(3).dropProposals.Store(true)
	if _, err := fc1.Claim(ctx, prototest.Key("b").Public().Owner()); err == nil {
		t.Fatal("claim without a quorum succeeded")
	}
	if err := f1.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	pending := persisted
	mu.Unlock()
	if pending == nil || pending.Content.Block.Height != 1 {
		t.Fatalf("pending proposal %v, want one at height 1", pending)
	}

	// Restart with a fresh local node; nobody serves certificates for now.
	n.node(2).dropProposals.Store(false)
	n.node(3).dropProposals.Store(false)
	for i := range n.validators {
		n.node(i).dropDownloads.Store(true)
	}
	cl2 := n.client()
	cc2 := cl2.Chain(n.chains[0], fk, pending)
	cc2.OnFastProposal = persist
	_, fc2 := startWith(t, Config{Client: cl2, Chain: cc2, Amount: base.Tokens(1), Genesis: n.genesis, Listen: "127.0.0.1:0", MaxChainsPerIP: -1}, nil)
	c := prototest.Key("c").Public().Owner()
	if _, err := fc2.Claim(ctx, c); err == nil {
		t.Fatal("claim succeeded while the faucet cannot catch up")
	}
	for i := range n.validators {
		n.node(i).dropDownloads.Store(false)
	}
	var err error
	for range 3 {
		if _, err = fc2.Claim(ctx, c); err == nil {
			break
		}
	}
	n.checkNoConflictingProposals(n.chains[0])
	if err != nil {
		t.Fatalf("claim once the faucet can catch up: %v", err)
	}
	// The pending block (b's chain) was committed, not replaced.
	if b := n.balance(0, n.chains[0]); b != base.Tokens(97) {
		t.Fatalf("faucet chain has %s, want 97 (a, b and c served)", b)
	}
}

// TestAttackLostPendingProposal: a faucet whose pending proposal was never persisted (no
// OnFastProposal, or a wallet restored from a copy) restarts while validators hold that
// proposal, signed by the faucet's key. The client must re-send that proposal (it is
// its own signature: no equivocation), not sign a new block at its height.
//
// Before the client asked a quorum for a locked fast proposal of its own key, it signed
// a new one here and split the fast votes for good.
func TestAttackLostPendingProposal(t *testing.T) {
	ctx := context.Background()
	fk := prototest.Key("faucet")
	n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(100)})
	cl1 := n.client()
	cc1 := cl1.Chain(n.chains[0], fk, nil)
	n.node(2).dropProposals.Store(true)
	n.node(3).dropProposals.Store(true)
	if _, _, err := cc1.OpenChain(ctx, protocol.SingleSuperOwner(prototest.Key("a").Public().Owner()), base.Tokens(1)); err == nil {
		t.Fatal("block without a quorum committed")
	}
	n.node(2).dropProposals.Store(false)
	n.node(3).dropProposals.Store(false)

	_, fc := start(t, n, fk, base.Tokens(1), 0, nil) // a fresh ChainClient: no pending proposal
	var err error
	for range 3 {
		if _, err = fc.Claim(ctx, prototest.Key("b").Public().Owner()); err == nil {
			break
		}
	}
	n.checkNoConflictingProposals(n.chains[0])
	if err != nil {
		t.Fatalf("claim after a restart that lost the pending proposal: %v", err)
	}
}

// FuzzAddressKey: any remote address maps to a key without panicking, and every address
// of one IPv6 /64 maps to the same key.
func FuzzAddressKey(f *testing.F) {
	f.Add("1.2.3.4:5")
	f.Add("[2001:db8::1]:80")
	f.Add("[::ffff:10.0.0.1]:1")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, addr string) {
		k := addressKey(addr)
		if k == "" {
			t.Fatalf("empty key for %q", addr)
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Unmap().Is6() {
			return
		}
		b := a.As16()
		b[15] ^= 0xff // same /64, another host
		if other := addressKey(net.JoinHostPort(netip.AddrFrom16(b).String(), "1")); other != k {
			t.Fatalf("%q and its /64 neighbour map to %q and %q", addr, k, other)
		}
	})
}
