package mcp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// initSession opens an MCP session over streamable HTTP (an initialize request) and
// returns the HTTP status, the session id and the body.
func initSession(t *testing.T, url string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"attacker","version":"1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), string(body)
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
// session closed (DELETE) or expired frees its place.
func TestAttackSessionsBounded(t *testing.T) {
	srv, err := New(Config{GraphQL: &fakeNode{t: t}, WalletDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.HTTPHandler())
	defer hs.Close()
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
