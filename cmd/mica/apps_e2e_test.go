package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micachain/mica/internal/client"
)

// TestApplicationCommands publishes the counter application, creates it with 7,
// increments it by 5 and queries it from the owner's wallet and from a second wallet
// that follows the chain, all through the CLI against validator processes.
func TestApplicationCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Wasm guest")
	}
	dir := t.TempDir()
	// The SDK example, built as a user would: mica project build examples/counter.
	example := filepath.Join(dir, "examples")
	if err := os.CopyFS(example, os.DirFS("../../examples")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "sdk"), os.DirFS("../../sdk")); err != nil {
		t.Fatal(err)
	}
	built := mustMica(t, filepath.Join(dir, "nowallet"), "project", "build", filepath.Join(example, "counter"))
	paths := strings.Fields(built)
	if len(paths) != 2 {
		t.Fatalf("project build printed %q", built)
	}
	contract, service := paths[0], paths[1]
	// Caches of its own: the module must be new to the validators, and the wallets
	// must compile it themselves.
	walletWasmCache := filepath.Join(dir, "wallet-wasm-cache")
	t.Setenv("MICA_WASM_CACHE", walletWasmCache)
	net := netUp(t, filepath.Join(dir, "net"), "--initial-chains", "1", "--wasm-cache", filepath.Join(dir, "wasm-cache"))
	w := net.info.Wallet
	chain := walletChain(t, w)
	// A module never compiled before, on a cold network: the validators compile it
	// before they vote, and the client's deadlines make room for that, so the block is
	// confirmed in its first round (no round timeout, no second proposal) unless the
	// validators take longer than that room (a loaded machine: four validators compile
	// on two cores). Then the first round must have lasted at least the room.
	app, errOut, err := publishAndCreateCold(t, w, contract, service)
	if err != nil {
		t.Fatalf("publish-and-create: %v\n%s", err, errOut)
	}
	if len(app) != 64 {
		t.Fatalf("publish-and-create printed %q, want an application id", app)
	}
	if got := mustMica(t, w, "execute-operation", "--application-id", app, "--json-operation", `{"increment":5}`); got != "12" {
		t.Fatalf("execute-operation printed %q, want 12", got)
	}
	want := `{"data":{"value":12}}`
	if got := mustMica(t, w, "query-application", "--application-id", app, "{ value }"); got != want {
		t.Fatalf("query from the owner's wallet: %q", got)
	}
	// A GraphQL mutation: the service schedules an increment, the client commits it.
	if got := mustMica(t, w, "query-application", "--application-id", app, "mutation { increment(value: 2) }"); got != `{"data":{"increment":true}}` {
		t.Fatalf("mutation answered %q", got)
	}
	want = `{"data":{"value":14}}`
	if got := mustMica(t, w, "query-application", "--application-id", app, "{ value }"); got != want {
		t.Fatalf("after the mutation: %q", got)
	}
	w2 := filepath.Join(dir, "w2")
	mustMica(t, w2, "wallet", "init", "--genesis", net.info.Genesis)
	mustMica(t, w2, "wallet", "follow-chain", chain)
	if got := mustMica(t, w2, "query-application", "--application-id", app, "--chain", chain, "{ value }"); got != want {
		t.Fatalf("query from a following wallet: %q", got)
	}
	// The wallets compiled the module into the user's cache, which they share, not
	// into caches of their own.
	for _, wd := range []string{w, w2} {
		if _, err := os.Stat(filepath.Join(wd, "wasm-cache")); !os.IsNotExist(err) {
			t.Errorf("wallet %s has a compilation cache of its own (%v)", wd, err)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(walletWasmCache, "wazero-*", "*")); len(files) == 0 {
		t.Errorf("no compiled module in the wallets' cache %s", walletWasmCache)
	}
	// The JSON request clients POST: variables, a fragment, an alias; introspection.
	req := `{"query":"mutation M($n: U64!) { done: increment(value: $n) }","variables":{"n":1}}`
	if got := mustMica(t, w, "query-application", "--application-id", app, req); got != `{"data":{"done":true}}` {
		t.Fatalf("mutation with a variable: %q", got)
	}
	if got := mustMica(t, w, "query-application", "--application-id", app, "query { v: value ...F } fragment F on Query { value }"); got != `{"data":{"v":15,"value":15}}` {
		t.Fatalf("fragment and alias: %q", got)
	}
	if got := mustMica(t, w, "query-application", "--application-id", app, "{ __schema { queryType { name } } }"); got != `{"data":{"__schema":{"queryType":{"name":"Query"}}}}` {
		t.Fatalf("introspection: %q", got)
	}
	// A GraphQL error response prints the response and fails with its message.
	if out, errOut, err := mica(t, w, "query-application", "--application-id", app, "{ nope }"); err == nil ||
		!strings.HasPrefix(out, `{"errors":[{"message":`) || !strings.Contains(errOut, `Cannot query field \"nope\"`) && !strings.Contains(errOut, `Cannot query field "nope"`) {
		t.Fatalf("error response: err=%v stdout=%q stderr=%q", err, out, errOut)
	}
	// Under --json, the result is an object like other commands' (the response's
	// data, and the block of a mutation's operations); a GraphQL error response is a
	// JSON error on stderr with a non-zero exit, and nothing on stdout.
	var q struct {
		ApplicationID       string          `json:"applicationId"`
		ChainID             string          `json:"chainId"`
		Data                json.RawMessage `json:"data"`
		ScheduledOperations int             `json:"scheduledOperations"`
		Block               *struct {
			Height int64 `json:"height"`
		} `json:"block"`
	}
	mustJSON := func(args ...string) {
		t.Helper()
		q.Block = nil
		got := mustMica(t, w, append(args, "--json")...)
		if err := json.Unmarshal([]byte(got), &q); err != nil || q.ApplicationID != app || q.ChainID != chain {
			t.Fatalf("%v --json: %q (%v)", args, got, err)
		}
		var data bytes.Buffer // the result is indented, data included
		if err := json.Compact(&data, q.Data); err != nil {
			t.Fatalf("%v --json: data %q: %v", args, q.Data, err)
		}
		q.Data = data.Bytes()
	}
	mustJSON("query-application", "--application-id", app, "{ value }")
	if string(q.Data) != `{"value":15}` || q.ScheduledOperations != 0 || q.Block != nil {
		t.Fatalf("query --json: %+v", q)
	}
	mustJSON("query-application", "--application-id", app, "mutation { increment(value: 1) }")
	if string(q.Data) != `{"increment":true}` || q.ScheduledOperations != 1 || q.Block == nil || q.Block.Height == 0 {
		t.Fatalf("mutation --json: %+v", q)
	}
	out, errOut, err := mica(t, w, "query-application", "--application-id", app, "{ nope }", "--json")
	var e struct {
		Error struct{ Message, Kind string } `json:"error"`
	}
	if err == nil || out != "" || json.Unmarshal([]byte(errOut), &e) != nil || e.Error.Kind != "invalid" || !strings.Contains(e.Error.Message, "nope") {
		t.Fatalf("error response --json: err=%v stdout=%q stderr=%q", err, out, errOut)
	}
	// A malformed module is refused at publication with a clear error.
	bad := filepath.Join(dir, "bad.wasm")
	if err := os.WriteFile(bad, []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := mica(t, w, "publish-module", bad, service); err == nil || !strings.Contains(errOut, "published module") {
		t.Fatalf("malformed module: err=%v stderr=%q", err, errOut)
	} else {
		t.Logf("malformed module refused: %s", errOut)
	}
}

// publishAndCreateCold runs publish-and-create of a module no validator has compiled
// yet, and checks how its first round ended: confirmed, or timed out no sooner than
// the extra time the client gives validators to compile the bytecode
// (client.DefaultTimeoutPerMiB per MiB). It returns stdout, stderr and the error.
func publishAndCreateCold(t *testing.T, wallet, contract, service string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(binary, "publish-and-create", contract, service, "--json-argument", "7")
	cmd.Env = append(os.Environ(), "MICA_WALLET="+wallet)
	var stdout bytes.Buffer
	stderr := &timedLines{start: time.Now()}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err := cmd.Run()
	errOut := strings.TrimSpace(stderr.buf.String())
	t.Logf("publish-and-create on a cold network: %v", time.Since(stderr.start).Round(time.Millisecond))
	if err != nil {
		return "", errOut, err
	}
	size := regexp.MustCompile(`publishing \d+ blob\(s\), ([0-9.]+) MiB`).FindStringSubmatch(errOut)
	if size == nil {
		t.Fatalf("publish-and-create did not say what it published:\n%s", errOut)
	}
	mib, perr := strconv.ParseFloat(size[1], 64)
	if perr != nil {
		t.Fatal(perr)
	}
	// The size is printed to 0.1 MiB; the budget counts the same bytes.
	room := time.Duration(float64(client.DefaultTimeoutPerMiB) * (mib - 0.05))
	if at, ok := stderr.first("to time out"); ok {
		if at < room {
			t.Errorf("publish-and-create gave up its first round after %v, before the %v the client gives validators to compile %.1f MiB:\n%s", at, room, mib, errOut)
		} else {
			t.Logf("the validators took longer than the %v the client gives them to compile %.1f MiB (a loaded machine): a second round after %v", room, mib, at)
		}
	}
	return strings.TrimSpace(stdout.String()), errOut, nil
}

// timedLines collects what is written to it, noting when each line began.
type timedLines struct {
	start time.Time
	mu    sync.Mutex
	buf   bytes.Buffer
	at    []time.Duration // at[i]: when line i began
	open  bool            // the last line is not ended yet
}

func (w *timedLines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Since(w.start)
	for _, c := range p {
		if !w.open {
			w.at = append(w.at, now)
			w.open = true
		}
		if c == '\n' {
			w.open = false
		}
	}
	return w.buf.Write(p)
}

// first returns when the first line holding s began.
func (w *timedLines) first(s string) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, line := range strings.SplitAfter(w.buf.String(), "\n") {
		if strings.Contains(line, s) && i < len(w.at) {
			return w.at[i], true
		}
	}
	return 0, false
}
