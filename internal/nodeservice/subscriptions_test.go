package nodeservice_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsClient is a GraphQL websocket client of one of the two protocols.
type wsClient struct {
	t     testing.TB
	conn  *websocket.Conn
	proto string
}

// dialWS connects to the service's websocket with a protocol ("graphql-transport-ws" or
// the legacy "graphql-ws") and completes the connection_init handshake with payload.
func dialWS(t testing.TB, s *service, proto string, payload map[string]any) (*wsClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(s.server.URL, "http") + "/"
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{proto}})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	c := &wsClient{t: t, conn: conn, proto: proto}
	t.Cleanup(func() { _ = conn.CloseNow() })
	c.send(map[string]any{"type": "connection_init", "payload": payload})
	for {
		m, err := c.read(10 * time.Second)
		if err != nil {
			return nil, err
		}
		switch m["type"] {
		case "connection_ack":
			return c, nil
		case "ka", "ping":
			continue
		default:
			b, _ := json.Marshal(m)
			return nil, &wsError{string(b)}
		}
	}
}

type wsError struct{ msg string }

func (e *wsError) Error() string { return e.msg }

func (c *wsClient) send(m map[string]any) {
	c.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) read(timeout time.Duration) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// subscribe starts a subscription with id "1".
func (c *wsClient) subscribe(query string) {
	typ := "subscribe"
	if c.proto == "graphql-ws" {
		typ = "start"
	}
	c.send(map[string]any{"id": "1", "type": typ, "payload": map[string]any{"query": query}})
}

// next returns the next notification of the subscription (skipping keep-alives).
func (c *wsClient) next() map[string]any {
	c.t.Helper()
	for {
		m, err := c.read(20 * time.Second)
		if err != nil {
			c.t.Fatalf("%s: reading a notification: %v", c.proto, err)
		}
		switch m["type"] {
		case "ka", "ping", "pong":
			continue
		case "next", "data":
			if errs := path(m, "payload", "errors"); errs != nil {
				c.t.Fatalf("%s: errors: %v", c.proto, errs)
			}
			return path(m, "payload", "data", "notifications").(map[string]any)
		default:
			c.t.Fatalf("%s: unexpected message %v", c.proto, m)
		}
	}
}

// TestSubscriptionsBothProtocols: bob's service streams, over graphql-transport-ws and
// graphql-ws, the incoming bundle of alice's transfer and then the block that receives it.
func TestSubscriptionsBothProtocols(t *testing.T) {
	n, a, b := twoUsers(t)
	var clients []*wsClient
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		c, err := dialWS(t, b, proto, nil)
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		c.subscribe(`subscription { notifications { chainId kind height hash origin } }`)
		clients = append(clients, c)
	}
	eventually(t, "both subscriptions registered", func() bool { return b.Hub().Subscribers() == 2 })
	a.gql(`mutation($to: Account!) { transfer(recipient: $to, amount: "1") { hash } }`, map[string]any{"to": n.chains[1].String()})
	for _, c := range clients {
		note := c.next()
		if note["kind"] != "NEW_INCOMING_BUNDLE" || note["origin"] != n.chains[0].String() || note["chainId"] != n.chains[1].String() {
			t.Fatalf("%s: first notification %v, want NEW_INCOMING_BUNDLE from alice", c.proto, note)
		}
	}
	d := b.gql(`mutation { processInbox { hash } }`, nil)
	hash := path(d, "processInbox", 0, "hash")
	for _, c := range clients {
		for {
			note := c.next()
			if note["kind"] == "NEW_BLOCK" {
				if note["hash"] != hash || note["height"] != float64(0) {
					t.Fatalf("%s: NEW_BLOCK %v, want hash %v at height 0", c.proto, note, hash)
				}
				break
			}
		}
	}
}

// TestSubscriptionAuth: with a token, a websocket without it is refused at
// connection_init; with it (in the payload) it is accepted; SSE without it gets 401.
func TestSubscriptionAuth(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	const token = "0123456789abcdef-token"
	s := n.service(0, serviceOpts{token: token})
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		if _, err := dialWS(t, s, proto, nil); err == nil {
			t.Errorf("%s: a subscription without the token was accepted", proto)
		}
		if _, err := dialWS(t, s, proto, map[string]any{"Authorization": "Bearer wrong-token-wrong-token"}); err == nil {
			t.Errorf("%s: a subscription with a wrong token was accepted", proto)
		}
		if _, err := dialWS(t, s, proto, map[string]any{"Authorization": "Bearer " + token}); err != nil {
			t.Errorf("%s: with the token: %v", proto, err)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, s.server.URL+"/", strings.NewReader(`{"query":"subscription { notifications { kind } }"}`))
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("SSE without the token: status %d, want 401", resp.StatusCode)
	}
}

// TestSubscriptionSSE: the notifications subscription over server-sent events.
func TestSubscriptionSSE(t *testing.T) {
	n, a, _ := twoUsers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.server.URL+"/", strings.NewReader(`{"query":"subscription { notifications { kind height } }"}`))
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SSE: status %d", resp.StatusCode)
	}
	eventually(t, "the SSE subscription", func() bool { return a.Hub().Subscribers() == 1 })
	a.gql(`mutation($to: Account!) { transfer(recipient: $to, amount: "1") { hash } }`, map[string]any{"to": n.chains[1].String()})
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(data, "NEW_BLOCK") {
			return
		}
	}
	t.Fatalf("the SSE stream ended without a NEW_BLOCK: %v", sc.Err())
}
