package faucet

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/micachain/mica/internal/base"
)

// Defaults of the per-address limits (Config.MaxChainsPerIP, IPWindow, MaxTrackedIPs).
const (
	// DefaultMaxChainsPerIP is how many new chains one network address may obtain per
	// window: enough for a developer's few wallets, far from a farm of funded chains.
	DefaultMaxChainsPerIP = 10
	// DefaultIPWindow is the window of the per-address limit.
	DefaultIPWindow = time.Hour
	// DefaultMaxTrackedIPs bounds the per-address state: past it, the address whose
	// window started first is forgotten.
	DefaultMaxTrackedIPs = 100_000
)

// addressKey is the unit the per-address limit counts by (base.AddressBucket): the IPv4
// address, or the /64 prefix of an IPv6 address. remoteAddr is http.Request.RemoteAddr.
func addressKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "?" + host // not an IP (a test transport, a Unix socket): one bucket each
	}
	if a = base.AddressBucket(a); a.Is6() {
		return netip.PrefixFrom(a, base.IPv6BucketBits).String()
	}
	return a.String()
}

// ipLimiter counts the chains opened for each network address in fixed windows. Its
// state is bounded: at most maxEntries addresses are tracked; a new address evicts the
// one whose window started first (expired windows are dropped first). It is safe for
// concurrent use.
//
// Evicting under pressure lets an attacker who controls more than maxEntries addresses
// reset the count of an address it does not control; that attacker already has more
// quota than the limit could take from it, and the faucet's memory stays bounded.
type ipLimiter struct {
	max        int // < 0: no limit
	window     time.Duration
	maxEntries int

	mu sync.Mutex
	// entries maps an address key to its element in order.
	// Invariant: len(entries) == order.Len() <= maxEntries, and order is sorted by
	// ipWindow.start (oldest first) as long as the clock does not go back.
	entries map[string]*list.Element
	order   *list.List // of *ipWindow
}

type ipWindow struct {
	key   string
	start time.Time
	used  int
}

func newIPLimiter(max int, window time.Duration, maxEntries int) *ipLimiter {
	return &ipLimiter{max: max, window: window, maxEntries: maxEntries, entries: map[string]*list.Element{}, order: list.New()}
}

// reservation is one chain counted against an address; release gives it back.
type reservation struct {
	key   string
	start time.Time
}

// reserve counts one more chain for key at time now. If the address has used its
// quota, it returns false and how long until its window ends.
func (l *ipLimiter) reserve(key string, now time.Time) (reservation, bool, time.Duration) {
	if l.max < 0 {
		return reservation{}, true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Drop expired windows from the front: they hold nothing worth remembering.
	for e := l.order.Front(); e != nil; e = l.order.Front() {
		w := e.Value.(*ipWindow)
		if now.Sub(w.start) < l.window {
			break
		}
		l.order.Remove(e)
		delete(l.entries, w.key)
	}
	e, ok := l.entries[key]
	if !ok {
		if l.order.Len() >= l.maxEntries {
			oldest := l.order.Front()
			l.order.Remove(oldest)
			delete(l.entries, oldest.Value.(*ipWindow).key)
		}
		e = l.order.PushBack(&ipWindow{key: key, start: now})
		l.entries[key] = e
	}
	w := e.Value.(*ipWindow)
	if w.used >= l.max {
		return reservation{}, false, max(w.start.Add(l.window).Sub(now), time.Second)
	}
	w.used++
	return reservation{key: key, start: w.start}, true, 0
}

// release gives back a chain reserved by r (its claim failed), if r's window is still
// the current one.
func (l *ipLimiter) release(r reservation) {
	if r.key == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[r.key]; ok {
		if w := e.Value.(*ipWindow); w.start.Equal(r.start) && w.used > 0 {
			w.used--
		}
	}
}

// tracked returns how many addresses the limiter remembers.
func (l *ipLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// limitListener accepts at most n connections at a time; further ones wait in the
// kernel's backlog until one closes.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func newLimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
