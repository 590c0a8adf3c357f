package mcp

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// initSession opens an MCP session over streamable HTTP (an initialize request) and
// returns the HTTP status, the session id and the body.
func initSession(t *testing.T, url string) (int, string, string) {
	t.Helper()
	return post(t, url, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"attacker","version":"1"}}}`)
}

// post sends a JSON-RPC message, in session id unless it is "", and returns the HTTP
// status, the session id the response gives and the body.
func post(t *testing.T, url, id, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if id != "" {
		req.Header.Set("Mcp-Session-Id", id)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), string(b)
}

func (s *Server) sessions() int {
	n := 0
	for range s.srv.Sessions() {
		n++
	}
	return n
}

// waitFor polls cond until it holds, failing the test after two minutes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAttackSessionsBounded: a caller of /mcp (the token holder, or anyone on loopback
// without a token) opens 300 sessions and never closes them. Each stayed for 30 minutes
// idle, without bound: 300 sessions. Now the server holds at most Config.MaxSessions
// (default 256) and refuses another with 503 and a JSON-RPC error that says so; a
// session closed (DELETE) or expired frees its place. The clock stands still: every
// session is younger than Config.SessionMinIdle, so none may be evicted to make room
// (TestAttackIdleSessionsEvicted: once they are idle, they may).
func TestAttackSessionsBounded(t *testing.T) {
	srv, hs, _ := serveOnClock(t, 0) // the clock stands still
	const tries = 300
	bound := DefaultMaxSessions
	var ids []string
	refused, last := 0, ""
	for range tries {
		status, id, body := initSession(t, hs.URL)
		switch status {
		case http.StatusOK:
			ids = append(ids, id)
		default:
			refused++
			last = body
			if status != http.StatusServiceUnavailable {
				t.Fatalf("refused with status %d, want 503: %s", status, body)
			}
		}
	}
	t.Logf("%d sessions opened: %d held, %d refused (%s)", tries, srv.sessions(), refused, strings.TrimSpace(last))
	if n := srv.sessions(); n > bound || len(ids) > bound {
		t.Fatalf("%d sessions held (%d opened), want at most %d", n, len(ids), bound)
	}
	if !strings.Contains(last, "sessions") {
		t.Fatalf("refusal %q does not say why", last)
	}
	// Closing one frees its place.
	req, _ := http.NewRequest(http.MethodDelete, hs.URL, nil)
	req.Header.Set("Mcp-Session-Id", ids[0])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, "the closed session's place", func() bool { return srv.sessions() == bound-1 })
	if status, _, body := initSession(t, hs.URL); status != http.StatusOK {
		t.Fatalf("a session in a freed place: status %d: %s", status, body)
	}
}

// TestIdleSessionsExpire: a session that sends nothing for Config.SessionTimeout is
// closed and its place freed.
func TestIdleSessionsExpire(t *testing.T) {
	srv, err := New(Config{GraphQL: &fakeNode{t: t}, WalletDir: t.TempDir(), MaxSessions: 2, SessionTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.HTTPHandler())
	defer hs.Close()
	for range 2 {
		if status, _, body := initSession(t, hs.URL); status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
	}
	waitFor(t, "idle sessions closed", func() bool { return srv.sessions() == 0 })
	if status, _, body := initSession(t, hs.URL); status != http.StatusOK {
		t.Fatalf("after the idle sessions expired: status %d: %s", status, body)
	}
}

// serveOnClock serves a Server with at most max sessions (0: the default) on a clock the
// test moves.
func serveOnClock(t *testing.T, max int) (*Server, *httptest.Server, *fakeClock) {
	t.Helper()
	clock := new(fakeClock)
	srv, err := New(Config{GraphQL: &fakeNode{t: t}, WalletDir: t.TempDir(), Now: clock.Now, MaxSessions: max})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.HTTPHandler())
	t.Cleanup(hs.Close)
	return srv, hs, clock
}

// fakeClock is a Config.Now the test moves.
type fakeClock struct{ elapsed atomic.Int64 }

var clockStart = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func (c *fakeClock) Now() time.Time { return clockStart.Add(time.Duration(c.elapsed.Load())) }

func (c *fakeClock) advance(d time.Duration) { c.elapsed.Add(int64(d)) }

// ping sends a ping in a session and returns the HTTP status.
func ping(t *testing.T, url, id string) int {
	t.Helper()
	status, _, _ := post(t, url, id, `{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	return status
}

// openSessions opens n sessions that must all be admitted and returns their ids.
func openSessions(t *testing.T, url string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		status, id, body := initSession(t, url)
		if status != http.StatusOK || id == "" {
			t.Fatalf("session %d: status %d: %s", i, status, body)
		}
		ids[i] = id
	}
	return ids
}

// TestAttackIdleSessionsEvicted: a runaway agent opens Config.MaxSessions (256) sessions
// and leaves them idle. Every other agent was refused (503) until they expired, 30
// minutes later. Now a new session evicts the least recently used idle one, idle for
// at least Config.SessionMinIdle: its client gets 404 (the spec's "session not
// found") and may initialize again; the other sessions keep working.
func TestAttackIdleSessionsEvicted(t *testing.T) {
	srv, hs, clock := serveOnClock(t, 0)
	ids := openSessions(t, hs.URL, DefaultMaxSessions)
	// The agent used its sessions once, in order, then left them.
	for _, id := range ids {
		clock.advance(time.Millisecond)
		if status := ping(t, hs.URL, id); status != http.StatusOK {
			t.Fatalf("ping: status %d", status)
		}
	}
	clock.advance(time.Minute)
	status, other, body := initSession(t, hs.URL)
	t.Logf("another agent after %d idle sessions: status %d", len(ids), status)
	if status != http.StatusOK {
		t.Fatalf("another agent locked out by %d idle sessions: status %d: %s", len(ids), status, body)
	}
	if status := ping(t, hs.URL, ids[0]); status != http.StatusNotFound {
		t.Fatalf("the least recently used session: ping status %d, want 404 (evicted)", status)
	}
	for _, id := range []string{ids[1], ids[len(ids)-1], other} {
		if status := ping(t, hs.URL, id); status != http.StatusOK {
			t.Fatalf("a session not evicted: ping status %d", status)
		}
	}
	if n := srv.sessions(); n > DefaultMaxSessions {
		t.Fatalf("%d sessions held, want at most %d", n, DefaultMaxSessions)
	}
	// The evicted client initializes again; the next least recently used goes.
	clock.advance(time.Minute)
	if status, _, body := initSession(t, hs.URL); status != http.StatusOK {
		t.Fatalf("the evicted client initializing again: status %d: %s", status, body)
	}
	if status := ping(t, hs.URL, ids[2]); status != http.StatusNotFound {
		t.Fatalf("the next least recently used session: ping status %d, want 404", status)
	}
}

// getStream opens a session's standalone SSE stream (GET) and returns a function that
// closes it.
func getStream(t *testing.T, url, id string) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET stream: status %d", resp.StatusCode)
	}
	return func() {
		cancel()
		resp.Body.Close()
	}
}

// TestBusySessionsNotEvicted: a session with a request in flight (here its standalone
// GET stream) is never evicted; with every session busy a new one is refused (503).
// When a stream closes, its session becomes idle and, once idle long enough, is the one
// a new session evicts.
func TestBusySessionsNotEvicted(t *testing.T) {
	_, hs, clock := serveOnClock(t, 4)
	ids := openSessions(t, hs.URL, 4)
	closers := make([]func(), len(ids))
	for i, id := range ids {
		closers[i] = getStream(t, hs.URL, id)
		defer closers[i]()
	}
	clock.advance(time.Hour)
	status, _, body := initSession(t, hs.URL)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "sessions") {
		t.Fatalf("with every session busy: status %d (%s), want 503 saying why", status, body)
	}
	closers[2]()
	// Idle once the server has seen the stream end; then it waits the minimum idle age.
	waitFor(t, "the closed stream's session idle", func() bool {
		clock.advance(time.Minute)
		status, _, _ = initSession(t, hs.URL)
		return status == http.StatusOK
	})
	if status := ping(t, hs.URL, ids[2]); status != http.StatusNotFound {
		t.Fatalf("the session whose stream closed: ping status %d, want 404", status)
	}
	for _, i := range []int{0, 1, 3} {
		if status := ping(t, hs.URL, ids[i]); status != http.StatusOK {
			t.Fatalf("busy session %d: ping status %d, want 200", i, status)
		}
	}
}

// TestRecentSessionsNotEvicted: a session used less than Config.SessionMinIdle ago is
// not evicted, so that two agents cannot evict each other at every request; when every
// idle session is that recent, a new one is refused.
func TestRecentSessionsNotEvicted(t *testing.T) {
	_, hs, clock := serveOnClock(t, 2)
	ids := openSessions(t, hs.URL, 2) // a, b
	clock.advance(time.Hour)
	if status := ping(t, hs.URL, ids[0]); status != http.StatusOK { // a used now
		t.Fatalf("ping: status %d", status)
	}
	clock.advance(time.Second)
	c := openSessions(t, hs.URL, 1)[0] // evicts b, idle for an hour
	if status := ping(t, hs.URL, ids[1]); status != http.StatusNotFound {
		t.Fatalf("the session idle for an hour: ping status %d, want 404", status)
	}
	// a was used a second ago, c has just opened: neither may go yet.
	status, _, body := initSession(t, hs.URL)
	if status != http.StatusServiceUnavailable {
		t.Fatalf("with every session used recently: status %d (%s), want 503", status, body)
	}
	t.Logf("refused: %s", strings.TrimSpace(body))
	clock.advance(time.Hour)
	if status, _, body := initSession(t, hs.URL); status != http.StatusOK {
		t.Fatalf("once they are idle long enough: status %d: %s", status, body)
	}
	if status := ping(t, hs.URL, ids[0]); status != http.StatusNotFound {
		t.Fatalf("a (least recently used): ping status %d, want 404", status)
	}
	if status := ping(t, hs.URL, c); status != http.StatusOK {
		t.Fatalf("c: ping status %d, want 200", status)
	}
}
