package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpClient is an MCP client session a test drives as an agent would.
type mcpClient struct {
	t  *testing.T
	cs *sdk.ClientSession
}

func (c *mcpClient) call(name string, args map[string]any) (string, bool) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := c.cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		c.t.Fatalf("call %s: %v", name, err)
	}
	var b strings.Builder
	for _, ct := range res.Content {
		if tc, ok := ct.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError
}

func (c *mcpClient) ok(name string, args map[string]any) string {
	c.t.Helper()
	text, isErr := c.call(name, args)
	if isErr {
		c.t.Fatalf("%s %v: tool error %s", name, args, text)
	}
	return text
}

func (c *mcpClient) refused(name string, args map[string]any, want ...string) {
	c.t.Helper()
	text, isErr := c.call(name, args)
	if !isErr {
		c.t.Fatalf("%s %v: accepted (%s), want a refusal", name, args, text)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			c.t.Fatalf("%s %v: refusal %q lacks %q", name, args, text, w)
		}
	}
	c.t.Logf("%s refused: %s", name, text)
}

// toolNames lists the tools and returns their names.
func (c *mcpClient) toolNames() map[string]bool {
	c.t.Helper()
	res, err := c.cs.ListTools(context.Background(), nil)
	if err != nil {
		c.t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tool := range res.Tools {
		names[tool.Name] = true
	}
	return names
}

// balanceOf reads a chain's balance through the balance tool.
func (c *mcpClient) balanceOf(chain string) string {
	c.t.Helper()
	var r struct {
		Data struct {
			Chain struct {
				Balance string `json:"balance"`
			} `json:"chain"`
		} `json:"data"`
	}
	text := c.ok("balance", map[string]any{"chain": chain})
	if err := json.Unmarshal([]byte(text), &r); err != nil || r.Data.Chain.Balance == "" {
		c.t.Fatalf("balance answered %s (%v)", text, err)
	}
	return r.Data.Chain.Balance
}

// TestMCPAgent drives the wallet as an AI agent would, with the MCP SDK's own client
// over both transports against a real `mica net up`: over stdio (`mica mcp` as a
// subprocess) it lists tools, reads a balance, transfers within the agent policy, is
// refused beyond it (per transfer, per day across two calls, a recipient not allowed,
// read-only set while it runs) and calls the counter's generated tools; over
// streamable HTTP (`mica service`'s /mcp) it does the same against the policy.
func TestMCPAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Wasm guest and runs a network")
	}
	dir := t.TempDir()
	example := filepath.Join(dir, "examples")
	if err := os.CopyFS(example, os.DirFS("../../examples")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "sdk"), os.DirFS("../../sdk")); err != nil {
		t.Fatal(err)
	}
	paths := strings.Fields(mustMica(t, filepath.Join(dir, "nowallet"), "project", "build", filepath.Join(example, "counter")))
	if len(paths) != 2 {
		t.Fatalf("project build printed %v", paths)
	}
	net := netUp(t, filepath.Join(dir, "net"))
	w := net.info.Wallet
	chain := walletChain(t, w)
	var other string
	for _, c := range walletChains(t, w) {
		if c != chain {
			other = c
		}
	}
	if other == "" {
		t.Fatal("the wallet has one chain; want two")
	}
	app := mustMica(t, w, "publish-and-create", paths[0], paths[1], "--json-argument", "7")
	prefix := "app_" + app[:8] + "_"
	mustMica(t, w, "wallet", "agent-policy", "set", "--per-transfer", "10", "--per-day", "15", "--allow-recipient", other, "--allow-application", app)

	// stdio: mica mcp as a desktop agent starts it.
	t.Run("stdio", func(t *testing.T) {
		cmd := exec.Command(binary, "mcp")
		cmd.Env = append(os.Environ(), "MICA_WALLET="+w)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cs, err := sdk.NewClient(&sdk.Implementation{Name: "e2e-agent", Version: "1"}, nil).Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
		if err != nil {
			t.Fatalf("connect to mica mcp: %v\n%s", err, stderr.String())
		}
		c := &mcpClient{t: t, cs: cs}
		names := c.toolNames()
		for _, n := range []string{"balance", "transfer", "open_chain", "process_inbox", "list_applications", "graphql", prefix + "value", prefix + "increment"} {
			if !names[n] {
				t.Fatalf("tool %s not listed: %v\n%s", n, names, stderr.String())
			}
		}
		before := c.balanceOf(chain)
		logLatency(t, "stdio", c, chain, prefix)
		c.ok("transfer", map[string]any{"recipient": other, "amount": "5"})
		if after := c.balanceOf(chain); after == before {
			t.Fatalf("balance unchanged after a transfer: %s", after)
		}
		c.refused("transfer", map[string]any{"recipient": other, "amount": "50"}, "exceeds the per-transfer limit 10", "mica wallet agent-policy set --per-transfer")
		c.ok("transfer", map[string]any{"recipient": other, "amount": "8"})
		c.refused("transfer", map[string]any{"recipient": other, "amount": "3"}, "per-day limit 15", "13 already spent")
		c.refused("transfer", map[string]any{"recipient": chain, "amount": "1"}, "is not allowed by the wallet's agent policy", "--allow-recipient")
		if got := c.ok(prefix+"increment", map[string]any{"value": 5}); !strings.Contains(got, `"increment":true`) {
			t.Fatalf("increment answered %s", got)
		}
		if got := c.ok(prefix+"value", nil); !strings.Contains(got, `"value":12`) {
			t.Fatalf("value answered %s", got)
		}
		// The user makes the agent read-only while it runs: the next call sees it.
		mustMica(t, w, "wallet", "agent-policy", "set", "--read-only")
		c.refused("transfer", map[string]any{"recipient": other, "amount": "1"}, "read-only")
		c.refused(prefix+"increment", map[string]any{"value": 1}, "read-only")
		c.refused("graphql", map[string]any{"application": app, "chain": chain, "query": "mutation { increment(value: 1) }"}, "read-only")
		if err := cs.Close(); err != nil {
			t.Logf("close: %v", err)
		}
		waitExit(t, cmd, &stderr)
	})

	// streamable HTTP: mica service's /mcp.
	t.Run("http", func(t *testing.T) {
		mustMica(t, w, "wallet", "agent-policy", "set", "--read-only=false", "--per-day", "none")
		svc := exec.Command(binary, "service", "--port", "0")
		svc.Env = append(os.Environ(), "MICA_WALLET="+w)
		svc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		// The service ends with the test binary even if this one dies without cleanup
		// (go test -timeout). Not startTied: waitExit waits for it; the kernel signals
		// it when the forking thread ends, and the runtime ends no thread but one
		// locked to a goroutine that exits, which the test's is not.
		dieWithParent(svc.SysProcAttr)
		stdout, err := svc.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		svc.Stderr = &stderr
		if err := svc.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = svc.Process.Signal(os.Interrupt)
			waitExit(t, svc, &stderr)
		}()
		url := waitServiceURL(t, stdout, &stderr)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cs, err := sdk.NewClient(&sdk.Implementation{Name: "e2e-agent", Version: "1"}, nil).Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url + "mcp", DisableStandaloneSSE: true}, nil)
		if err != nil {
			t.Fatalf("connect to %smcp: %v\n%s", url, err, stderr.String())
		}
		defer cs.Close()
		c := &mcpClient{t: t, cs: cs}
		if names := c.toolNames(); !names["transfer"] || !names[prefix+"increment"] {
			t.Fatalf("tools over HTTP: %v", names)
		}
		before := c.balanceOf(other)
		logLatency(t, "streamable HTTP", c, chain, prefix)
		c.ok("transfer", map[string]any{"recipient": other, "amount": "2"})
		c.refused("transfer", map[string]any{"recipient": other, "amount": "11"}, "per-transfer limit 10")
		c.ok("process_inbox", map[string]any{"chain": other})
		if after := c.balanceOf(other); after == before {
			t.Fatalf("recipient balance unchanged after transfer and process_inbox: %s", after)
		}
		if got := c.ok(prefix+"increment", map[string]any{"value": 3}); !strings.Contains(got, `"increment":true`) {
			t.Fatalf("increment over HTTP answered %s", got)
		}
		if got := c.ok(prefix+"value", nil); !strings.Contains(got, `"value":15`) {
			t.Fatalf("value over HTTP answered %s", got)
		}
		res, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "mica://chains/" + chain})
		if err != nil || len(res.Contents) != 1 || !strings.Contains(res.Contents[0].Text, chain) {
			t.Fatalf("chain resource: %v %+v", err, res)
		}
	})
}

// walletChains lists the wallet's chain ids.
func walletChains(t *testing.T, wallet string) []string {
	t.Helper()
	var w struct {
		Chains []struct {
			ChainID string `json:"chainId"`
		} `json:"chains"`
	}
	if err := json.Unmarshal([]byte(mustMica(t, wallet, "wallet", "show", "--json")), &w); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range w.Chains {
		out = append(out, c.ChainID)
	}
	return out
}

// waitServiceURL reads `mica service`'s first line and returns its base URL
// ("http://127.0.0.1:PORT/").
func waitServiceURL(t *testing.T, stdout io.Reader, stderr *bytes.Buffer) string {
	t.Helper()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		i := strings.Index(line, "http://")
		if i < 0 {
			t.Fatalf("mica service printed %q", line)
		}
		u := strings.Fields(line[i:])[0]
		return strings.TrimSuffix(u, "/") + "/"
	case <-time.After(90 * time.Second):
		t.Fatalf("mica service printed nothing in 90 s:\n%s", stderr.String())
	}
	return ""
}

// waitExit waits for a process to exit by itself.
func waitExit(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer) {
	t.Helper()
	if cmd.ProcessState != nil {
		return
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil && !strings.Contains(err.Error(), "signal: interrupt") {
			t.Errorf("%s exited with %v\n%s", cmd.Args, err, stderr.String())
		}
	case <-time.After(settleWait):
		_ = cmd.Process.Kill()
		t.Errorf("%s did not exit within %v\n%s", cmd.Args, settleWait, stderr.String())
	}
}

// logLatency logs the mean latency of read tool calls through a transport (figures for
// docs/PERFORMANCE.md; nothing is asserted on time).
func logLatency(t *testing.T, transport string, c *mcpClient, chain, prefix string) {
	t.Helper()
	const n = 50
	for _, call := range []struct {
		tool string
		args map[string]any
	}{{"balance", map[string]any{"chain": chain}}, {prefix + "value", nil}} {
		start := time.Now()
		for range n {
			c.ok(call.tool, call.args)
		}
		t.Logf("MCP %s: %s tool call %v (mean of %d)", transport, call.tool, time.Since(start)/n, n)
	}
}
