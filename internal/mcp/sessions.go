package mcp

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// HTTPHandler serves streamable HTTP (mount it at /mcp behind the node service's
// authentication), with at most Config.MaxSessions sessions at once, each closed after
// Config.SessionTimeout idle. When they are all held, a new session takes the place of
// the least recently used one idle for Config.SessionMinIdle or more, which is closed
// (its client's next request gets 404, "session not found", and it may initialize
// again); only when none is idle that long is the new one refused (503).
func (s *Server) HTTPHandler() http.Handler {
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s.srv }, &sdk.StreamableHTTPOptions{Logger: s.log, SessionTimeout: s.cfg.SessionTimeout})
	return &sessionBound{next: h, srv: s.srv, log: s.log, max: s.cfg.MaxSessions, timeout: s.cfg.SessionTimeout,
		minIdle: s.cfg.SessionMinIdle, now: s.cfg.Now, uses: map[string]*sessionUse{}}
}

// sessionBound bounds the sessions of a streamable HTTP handler. It sees every request
// of the sessions opened through it, so it knows which are idle: the SDK's handler
// keeps that to itself (it counts POSTs in flight, not the standalone GET stream, to
// pause the idle timeout).
type sessionBound struct {
	next    http.Handler
	srv     *sdk.Server
	log     *slog.Logger
	max     int
	timeout time.Duration // of idle sessions, for the refusal's message
	minIdle time.Duration
	now     func() time.Time

	mu      sync.Mutex
	opening int                    // requests that may open a session, in flight
	uses    map[string]*sessionUse // by session id: the sessions opened here, while they live
}

// sessionUse is what sessionBound knows of a session.
type sessionUse struct {
	busy    int       // requests in flight, open GET streams included
	last    time.Time // when the last request ended, or the session opened
	evicted bool      // being closed to make room: its requests get 404
}

func (b *sessionBound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if id := r.Header.Get("Mcp-Session-Id"); id != "" {
		u, ok := b.begin(id)
		if !ok {
			http.Error(w, "session not found", http.StatusNotFound)
			return
		}
		if u != nil {
			defer b.end(u)
		}
		b.next.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodPost {
		b.next.ServeHTTP(w, r)
		return
	}
	victim, retry, ok := b.admit()
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(retry.Seconds()))))
		w.WriteHeader(http.StatusServiceUnavailable)
		msg := fmt.Sprintf("too many MCP sessions: the server holds at most %d at once and each is in use or was used in the last %v (idle ones close after %v); close one (DELETE with its Mcp-Session-Id) or retry later", b.max, b.minIdle, b.timeout)
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": -32000, "message": msg}})
		return
	}
	if victim != nil {
		b.log.Info("mcp: closing the least recently used idle session to open another", "session", victim.ID(), "max", b.max)
		_ = victim.Close()
	}
	defer b.opened(w)
	b.next.ServeHTTP(w, r)
}

// begin counts a request of session id in flight. It returns nil for a session opened
// elsewhere (or unknown: the SDK answers it), and false for one being evicted.
func (b *sessionBound) begin(id string) (*sessionUse, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.uses[id]
	if u == nil {
		return nil, true
	}
	if u.evicted {
		return nil, false
	}
	u.busy++
	return u, true
}

// end ends a request counted by begin.
func (b *sessionBound) end(u *sessionUse) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u.busy--
	u.last = b.now()
}

// admit reports whether a request may open a session and, if so, counts it in flight.
// When the server holds max sessions (counting such requests in flight), it picks the
// least recently used session idle for minIdle or more, marks it evicted and returns
// it for the caller to close; with none, it refuses and says when one may be.
func (b *sessionBound) admit() (victim *sdk.ServerSession, retry time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	live := map[string]*sdk.ServerSession{}
	n := b.opening
	for ss := range b.srv.Sessions() {
		live[ss.ID()] = ss
		n++
	}
	var lru string
	for id, u := range b.uses {
		switch {
		case live[id] == nil:
			delete(b.uses, id) // closed or expired
		case u.evicted:
			n-- // its place is being freed
		case u.busy == 0 && (lru == "" || u.last.Before(b.uses[lru].last) || u.last.Equal(b.uses[lru].last) && id < lru):
			lru = id
		}
	}
	if n < b.max {
		b.opening++
		return nil, 0, true
	}
	if lru == "" {
		return nil, time.Minute, false
	}
	if idle := b.now().Sub(b.uses[lru].last); idle < b.minIdle {
		return nil, max(b.minIdle-idle, time.Second), false
	}
	b.uses[lru].evicted = true
	b.opening++
	return live[lru], 0, true
}

// opened ends a request counted by admit and records the session it opened, if any
// (its id is in the response's header).
func (b *sessionBound) opened(w http.ResponseWriter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opening--
	if id := w.Header().Get("Mcp-Session-Id"); id != "" {
		b.uses[id] = &sessionUse{last: b.now()}
	}
}
