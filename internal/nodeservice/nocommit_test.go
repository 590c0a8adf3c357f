package nodeservice_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/nodeservice"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestAttackNoCommitContext: under WithoutCommit (what the MCP server uses for an
// agent's application queries) a request whose service schedules operations commits
// nothing and says so; the same request without it commits.
func TestAttackNoCommitContext(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Wasm guests")
	}
	_, a, link := counterNet(t)
	exec := func(ctx context.Context, q string) map[string]any {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"query": q})
		out, status := a.Exec(ctx, link, body)
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil || status != 200 {
			t.Fatalf("%s: %d %s", q, status, out)
		}
		return m
	}
	ctx := nodeservice.WithoutCommit(context.Background())
	out := exec(ctx, "mutation { increment(value: 5) }")
	if msg := firstError(out); !strings.Contains(msg, "nothing was committed") || path(out, "extensions", "block") != nil {
		t.Fatalf("a scheduling request under WithoutCommit answered %v", out)
	}
	if v := path(exec(ctx, "{ value }"), "data", "value"); v != float64(0) {
		t.Fatalf("value after a refused commit: %v", v)
	}
	if out := exec(context.Background(), "mutation { increment(value: 5) }"); path(out, "extensions", "block", "hash") == nil {
		t.Fatalf("the same request without WithoutCommit: %v", out)
	}
	if v := path(exec(ctx, "{ value }"), "data", "value"); v != float64(5) {
		t.Fatalf("value after the commit: %v", v)
	}
}

// TestExecUnderLoopbackHosts: in-process requests (Exec, what the MCP server sends) are
// served when the service refuses non-loopback Host headers, as mica service and mica
// mcp run it on loopback.
func TestExecUnderLoopbackHosts(t *testing.T) {
	n := newTestNet(t, []*crypto.PrivateKey{prototest.Key("alice")}, nil)
	s := n.service(0, serviceOpts{loopbackHosts: true})
	out, status := s.Exec(context.Background(), "/", []byte(`{"query": "{ wallet { defaultChain } }"}`))
	if status != 200 || !strings.Contains(string(out), n.chains[0].String()) {
		t.Fatalf("Exec under LoopbackHosts: %d %s", status, out)
	}
}
