package nodeservice_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/nodeservice"
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
