package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/micachain/mica/internal/timerslack"
)

// serviceProc is a running `mica service`.
type serviceProc struct {
	t   *testing.T
	cmd *exec.Cmd
	url string
	err *bytes.Buffer
	// exited is closed when the service has exited (waitErr then holds Wait's error).
	exited  chan struct{}
	waitErr error
}

var serviceURL = regexp.MustCompile(`GraphiQL\) at (http://\S+)/`)

// startService runs `mica service --port 0` on a wallet and waits for its URL.
func startService(t *testing.T, wallet string, args ...string) *serviceProc {
	t.Helper()
	p := &serviceProc{t: t, err: &bytes.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"service", "--port", "0"}, args...)...)
	p.cmd.Env = append(os.Environ(), "MICA_WALLET="+wallet)
	p.cmd.Stderr = p.err
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Tied: the service ends with the test binary even if this one dies without cleanup.
	err = startTied(p.cmd, func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	})
	if err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := serviceURL.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case p.url = <-found:
	case <-time.After(settleWait):
		_ = p.cmd.Process.Kill()
		t.Fatalf("mica service printed no URL within %v:\n%s", settleWait, p.err)
	}
	t.Cleanup(p.stop)
	checkTimerSlack(t, "mica service", p.cmd.Process.Pid)
	return p
}

// checkTimerSlack checks that a long-running command, started plainly, runs with
// timerslack.Default: it executed itself again with it (timerslack.Reexec), keeping its
// pid. Linux only.
func checkTimerSlack(t *testing.T, what string, pid int) {
	t.Helper()
	if runtime.GOOS != "linux" || os.Getenv(timerslack.DisableEnv) == "off" {
		return
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timerslack_ns", pid))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.FormatInt(timerslack.Default.Nanoseconds(), 10) {
		t.Fatalf("%s (pid %d) runs with timer slack %s ns, want %d", what, pid, got, timerslack.Default.Nanoseconds())
	}
}

// stop sends SIGINT and expects a clean exit.
func (p *serviceProc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
		if p.waitErr != nil {
			p.t.Errorf("mica service did not exit cleanly: %v\n%s", p.waitErr, p.err)
		}
	case <-time.After(settleWait):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		p.t.Errorf("mica service did not stop within %v", settleWait)
	}
}

// post sends a GraphQL request and decodes the answer.
func (p *serviceProc) post(path string, req any) map[string]any {
	p.t.Helper()
	b, _ := json.Marshal(req)
	resp, err := http.Post(p.url+path, "application/json", bytes.NewReader(b))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		p.t.Fatalf("%s: status %d, not JSON: %s", path, resp.StatusCode, raw)
	}
	return out
}

// data runs a system query and fails on errors.
func (p *serviceProc) data(query string, vars map[string]any) map[string]any {
	p.t.Helper()
	out := p.post("/", map[string]any{"query": query, "variables": vars})
	if out["errors"] != nil {
		p.t.Fatalf("%s: %v", query, out["errors"])
	}
	d, _ := out["data"].(map[string]any)
	return d
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// TestServiceEndToEnd: against a real network, `mica service` answers system queries;
// a transfer mutation moves tokens and a second service (another wallet) sees the
// incoming bundle through a subscription; the counter's endpoint answers a query and a
// mutation; both services stop cleanly on SIGINT.
func TestServiceEndToEnd(t *testing.T) {
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
		t.Fatalf("project build printed %q", paths)
	}
	net := netUp(t, filepath.Join(dir, "net"), "--initial-chains", "1", "--with-faucet", "--faucet-port", portArg(40))
	wa := net.info.Wallet
	alice := walletChain(t, wa)
	app := mustMica(t, wa, "publish-and-create", paths[0], paths[1], "--json-argument", "7")
	wb := filepath.Join(dir, "bob")
	mustMica(t, wb, "wallet", "init", "--genesis", net.info.Genesis)
	bob := strings.Fields(mustMica(t, wb, "wallet", "request-chain", "--faucet", net.info.FaucetURL))[0]

	a := startService(t, wa)
	b := startService(t, wb)

	// System queries.
	d := a.data(`{ wallet { defaultChain chains { chainId balance } } chain { balance nextHeight ownership { superOwners } applications { applicationId link } } }`, nil)
	if dig(d, "wallet", "defaultChain") != alice {
		t.Fatalf("wallet: %v", d)
	}
	link := "/chains/" + alice + "/applications/" + app
	apps, _ := dig(d, "chain", "applications").([]any)
	if len(apps) != 1 || dig(apps[0], "link") != link {
		t.Fatalf("applications: %v", dig(d, "chain", "applications"))
	}

	// Bob's service streams his chain's notifications over graphql-transport-ws.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.url, "http")+"/", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	send := func(m map[string]any) {
		bs, _ := json.Marshal(m)
		if err := conn.Write(ctx, websocket.MessageText, bs); err != nil {
			t.Fatal(err)
		}
	}
	read := func() map[string]any {
		_, bs, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("subscription: %v", err)
		}
		var m map[string]any
		_ = json.Unmarshal(bs, &m)
		return m
	}
	send(map[string]any{"type": "connection_init"})
	if m := read(); m["type"] != "connection_ack" {
		t.Fatalf("connection_init answered %v", m)
	}
	send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `subscription($c: ChainID) { notifications(chain: $c) { kind origin height } }`, "variables": map[string]any{"c": bob}}})
	// The subscription is registered when the server has read the message; a query
	// after it on another connection is ordered after it only loosely, so give it a
	// moment (not a timing assertion: a late registration only delays the test).
	time.Sleep(300 * time.Millisecond)

	d = a.data(`mutation($to: Account!) { transfer(recipient: $to, amount: "2.5") { chainId height hash } }`, map[string]any{"to": bob})
	if h, _ := dig(d, "transfer", "hash").(string); len(h) != 64 {
		t.Fatalf("transfer: %v", d)
	}
	transfer := dig(d, "transfer").(map[string]any)
	// While the service holds the wallet, a command on it refuses at once, naming it.
	if _, errOut, err := mica(t, wa, "query-balance"); err == nil || !strings.Contains(errOut, "`mica service`") || !strings.Contains(errOut, a.url) {
		t.Fatalf("query-balance while the service runs: err=%v %s", err, errOut)
	}
	// The block as the service shows it, to compare with the CLI's --json below.
	const blockFields = `chainId height hash previousHash timestamp epoch authenticatedOwner round
		operations { index kind applicationId summary json }
		incomingBundles { origin height action messages { destination kind applicationId summary json } }
		outgoingMessages { destination kind applicationId summary json }
		events { streamApplication streamName index valueBase64 }
		certificate { hash kind round signatures base64 }`
	serviceBlock := dig(a.data(`query($c: ChainID, $h: Int64) { block(chain: $c, height: $h) { `+blockFields+` } }`,
		map[string]any{"c": alice, "h": transfer["height"]}), "block").(map[string]any)
	for {
		m := read()
		if m["type"] == "ping" {
			send(map[string]any{"type": "pong"})
			continue
		}
		note := dig(m, "payload", "data", "notifications")
		if m["type"] != "next" || note == nil {
			t.Fatalf("subscription sent %v", m)
		}
		if dig(note, "kind") == "NEW_INCOMING_BUNDLE" {
			if dig(note, "origin") != alice {
				t.Fatalf("incoming bundle from %v, want %s", dig(note, "origin"), alice)
			}
			break
		}
	}
	d = b.data(`mutation { processInbox { height } }`, nil)
	if blocks, _ := dig(d, "processInbox").([]any); len(blocks) != 1 {
		t.Fatalf("processInbox: %v", d)
	}
	if d = b.data(`{ chain { balance } }`, nil); dig(d, "chain", "balance") == "" {
		t.Fatalf("bob's chain: %v", d)
	}

	// The counter's endpoint.
	if out := a.post(link, map[string]any{"query": "{ value }"}); dig(out, "data", "value") != float64(7) {
		t.Fatalf("{ value }: %v", out)
	}
	out := a.post(link, map[string]any{"query": "mutation { increment(value: 5) }"})
	if dig(out, "data", "increment") != true || dig(out, "extensions", "block", "hash") == nil {
		t.Fatalf("increment: %v", out)
	}
	if out := a.post(link, map[string]any{"query": "{ value }"}); dig(out, "data", "value") != float64(12) {
		t.Fatalf("{ value } after the mutation: %v", out)
	}
	// Variables, a fragment and introspection reach the application's GraphQL engine.
	out = a.post(link, map[string]any{"query": "mutation Inc($n: U64!) { increment(value: $n) }", "variables": map[string]any{"n": 3}, "operationName": "Inc"})
	if dig(out, "data", "increment") != true {
		t.Fatalf("mutation with variables: %v", out)
	}
	if out := a.post(link, map[string]any{"query": "query { ...V } fragment V on Query { v: value }"}); dig(out, "data", "v") != float64(15) {
		t.Fatalf("query with a fragment: %v", out)
	}
	if out := a.post(link, map[string]any{"query": "{ __type(name: \"Mutation\") { fields { name } } }"}); dig(out, "data", "__type") == nil {
		t.Fatalf("introspection: %v", out)
	}
	a.stop()
	b.stop()
	// The service released the wallet: the CLI works on it again.
	mustMica(t, wa, "query-balance")

	// The CLI's --json speaks the service's schema: show-block is the service's Block
	// (plus fees and oracle responses), transfer its BlockResult (plus the round).
	var cliBlock map[string]any
	show := mustMica(t, wa, "show-block", alice, fmt.Sprint(transfer["height"]), "--json")
	if err := json.Unmarshal([]byte(show), &cliBlock); err != nil {
		t.Fatal(err)
	}
	for k, v := range serviceBlock {
		if !reflect.DeepEqual(cliBlock[k], v) {
			t.Errorf("show-block --json %q = %v; the service says %v", k, cliBlock[k], v)
		}
	}
	var cliTransfer map[string]any
	if err := json.Unmarshal([]byte(mustMica(t, wa, "transfer", "1", "--to", bob, "--json")), &cliTransfer); err != nil {
		t.Fatal(err)
	}
	for k := range transfer {
		if _, ok := cliTransfer[k]; !ok {
			t.Errorf("transfer --json has no %q: %v (the service's transfer: %v)", k, cliTransfer, transfer)
		}
	}
}
