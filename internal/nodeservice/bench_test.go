package nodeservice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/nodeservice"
	"github.com/micachain/mica/internal/protocol"
)

// postRaw sends a body and drains the answer (for benchmarks: no decoding).
func postRaw(b *testing.B, url string, body []byte) {
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkSystemQuery: one system query over HTTP (loopback), a wallet chain's balance,
// next height and latest block hash.
func BenchmarkSystemQuery(b *testing.B) {
	n := newTestNet(b, twoKeys(), nil)
	s := n.service(0, serviceOpts{})
	body, _ := json.Marshal(map[string]any{"query": `{ chain { balance nextHeight tipHash } }`})
	b.ResetTimer()
	for b.Loop() {
		postRaw(b, s.server.URL+"/", body)
	}
}

// BenchmarkSystemQueryInProcess: the same query through Exec (no HTTP connection).
func BenchmarkSystemQueryInProcess(b *testing.B) {
	n := newTestNet(b, twoKeys(), nil)
	s := n.service(0, serviceOpts{})
	body, _ := json.Marshal(map[string]any{"query": `{ chain { balance nextHeight tipHash } }`})
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, status := s.Exec(ctx, "/", body); status != http.StatusOK {
			b.Fatalf("status %d", status)
		}
	}
}

// BenchmarkApplicationQuery: `{ value }` to the counter's endpoint over HTTP: a sync
// round trip to the (in-process) validators, then the service Wasm on the local replica.
func BenchmarkApplicationQuery(b *testing.B) {
	if testing.Short() {
		b.Skip("builds Wasm guests")
	}
	_, s, link := counterNet(b)
	body := []byte(`{"query": "{ value }"}`)
	postRaw(b, s.server.URL+link, body) // warm the service instance
	b.ResetTimer()
	for b.Loop() {
		postRaw(b, s.server.URL+link, body)
	}
}

// subscribed is alice's service with one graphql-transport-ws subscriber.
func subscribed(b *testing.B) (*testNet, *service, *wsClient) {
	n := newTestNet(b, twoKeys(), nil)
	s := n.service(0, serviceOpts{})
	ws, err := dialWS(b, s, "graphql-transport-ws", nil)
	if err != nil {
		b.Fatal(err)
	}
	ws.subscribe(`subscription { notifications { kind height } }`)
	eventually(b, "the subscription", func() bool { return s.Hub().Subscribers() == 1 })
	return n, s, ws
}

// BenchmarkSubscriptionDelivery: from the local replica's notification of a new block
// (Hub.Publish, what the local worker calls once it has stored the block) to the
// NEW_BLOCK message read by a graphql-transport-ws subscriber over loopback.
func BenchmarkSubscriptionDelivery(b *testing.B) {
	n, s, ws := subscribed(b)
	h := base.BlockHeight(1000)
	b.ResetTimer()
	for b.Loop() {
		h++
		s.Hub().Publish(protocol.Notification{ChainID: n.chains[0], Kind: protocol.ReasonNewBlock, Height: h})
		if note := ws.next(); note["height"] != float64(h) {
			b.Fatalf("got %v", note)
		}
	}
}

// BenchmarkBlockToNotification: a transfer committed by the client (4 in-process
// validators) until the subscriber reads its NEW_BLOCK: commit latency plus delivery.
func BenchmarkBlockToNotification(b *testing.B) {
	n, s, ws := subscribed(b)
	cc, err := nodeservice.ChainClient(s.w, s.c, n.chains[0])
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		cert, err := cc.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.AmountFromAttos(1))
		if err != nil {
			b.Fatal(err)
		}
		for {
			note := ws.next()
			if note["kind"] == "NEW_BLOCK" && note["height"] == float64(cert.Height()) {
				break
			}
		}
	}
}
