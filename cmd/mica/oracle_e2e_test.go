package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// oracleServer is the endpoint of the ai-oracle tests. It answers POST /PATH with
// {"answer": ...} according to the Mica-Validator header of the request: on /same every
// validator gets the same answer; on /one (/two) the first one (two) distinct
// validators to ask get a different answer; the client's local node ("client") always
// gets the majority's answer. /big answers more than the 64 KiB limit.
type oracleServer struct {
	mu      sync.Mutex
	seen    map[string]map[string]bool // path -> validators that asked
	dissent map[string]map[string]bool // path -> validators answered differently
}

func (s *oracleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Prompt string `json:"prompt"`
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if r.Method != "POST" || json.Unmarshal(b, &req) != nil {
		http.Error(w, "want POST {prompt}", http.StatusBadRequest)
		return
	}
	who := r.Header.Get("Mica-Validator")
	path := r.URL.Path
	if path == "/big" {
		_, _ = w.Write([]byte(`{"answer":"` + strings.Repeat("x", 70<<10) + `"}`))
		return
	}
	n := map[string]int{"/same": 0, "/one": 1, "/two": 2}[path]
	s.mu.Lock()
	if s.seen[path] == nil {
		s.seen[path], s.dissent[path] = map[string]bool{}, map[string]bool{}
	}
	s.seen[path][who] = true
	if who != "client" && who != "" && !s.dissent[path][who] && len(s.dissent[path]) < n {
		s.dissent[path][who] = true
	}
	different := s.dissent[path][who]
	s.mu.Unlock()
	answer := "the answer to " + req.Prompt + " is 42"
	if different {
		answer = "the answer to " + req.Prompt + " is 41"
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"answer": answer})
}

// validators returns the validator headers seen on path, sorted.
func (s *oracleServer) validators(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for v := range s.seen[path] {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// TestHTTPOracleNetwork runs the ai-oracle example on 4 validator processes started by
// `mica net up --http-allow 127.0.0.1`, against a local endpoint that answers each
// validator as the case requires: the same answer commits; one dissenting validator
// of four still commits (3 of 4); two make the block fail with an error naming the
// disagreement, after which the chain's next block and another chain's block commit.
// Refused requests (host off the allow-list, malformed URL, oversize response) fail
// the operation with a clear error and change nothing.
func TestHTTPOracleNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Wasm guests and runs validator processes")
	}
	dir := t.TempDir()
	example := filepath.Join(dir, "examples")
	if err := os.CopyFS(example, os.DirFS("../../examples")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "sdk"), os.DirFS("../../sdk")); err != nil {
		t.Fatal(err)
	}
	built := strings.Fields(mustMica(t, filepath.Join(dir, "nowallet"), "project", "build", filepath.Join(example, "ai-oracle")))
	counter := strings.Fields(mustMica(t, filepath.Join(dir, "nowallet"), "project", "build", filepath.Join(example, "counter")))
	if len(built) != 2 || len(counter) != 2 {
		t.Fatalf("project build printed %q %q", built, counter)
	}

	srv := &oracleServer{seen: map[string]map[string]bool{}, dissent: map[string]map[string]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	base := "http://" + ln.Addr().String()

	nw := netUp(t, filepath.Join(dir, "net"), "--initial-chains", "2", "--http-allow", "127.0.0.1")
	w := nw.info.Wallet
	chain := walletChain(t, w)
	// Publish the module once (on this shared 2-core machine, uploading and checking
	// 7 MB of bytecode is the slow part), then create one application per endpoint.
	module := retryMica(t, w, "publish-module", built[0], built[1])
	createAt := func(endpoint string) string {
		t.Helper()
		app := retryMica(t, w, "create-application", module, "--json-argument", fmt.Sprintf(`{"endpoint":%q}`, endpoint))
		if len(app) != 64 {
			t.Fatalf("create-application printed %q", app)
		}
		return app
	}
	create := func(path string) string { return createAt(base + path) }
	ask := func(app, prompt string) (string, string, error) {
		return mica(t, w, "execute-operation", "--application-id", app, "--json-operation", fmt.Sprintf(`{"ask":{"prompt":%q}}`, prompt))
	}
	answer := func(app string) string {
		return mustMica(t, w, "query-application", "--application-id", app, "{ answer }")
	}

	// Every validator sees the same answer.
	same := create("/same")
	if out, errOut, err := ask(same, "life"); err != nil || out != `"the answer to life is 42"` {
		t.Fatalf("ask (same answers): %q %v\n%s", out, err, errOut)
	}
	if got := answer(same); got != `{"data":{"answer":"the answer to life is 42"}}` {
		t.Fatalf("service answers %s", got)
	}
	// The client collects votes until a quorum answered: at least 3 validators asked,
	// each with its public key (64 hex digits), and the client's own node.
	vs := srv.validators("/same")
	if len(vs) < 4 || !slices.Contains(vs, "client") {
		t.Errorf("Mica-Validator headers seen: %q, want 3 or 4 validator keys and client", vs)
	}
	for _, v := range vs {
		if v != "client" && !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(v) {
			t.Errorf("Mica-Validator header %q is not a hex public key", v)
		}
	}
	height := blockHeightOf(t, w, chain)
	show := mustMica(t, w, "show-block", chain, fmt.Sprint(height))
	if !strings.Contains(show, "oracle: HTTP 200") {
		t.Errorf("show-block does not show the HTTP oracle response:\n%s", show)
	}

	// Service as oracle: the contract asks its own service, which makes the request.
	if out, errOut, err := mica(t, w, "execute-operation", "--application-id", same, "--json-operation", `{"ask":{"prompt":"Service","viaService":true}}`); err != nil || out != `"the answer to service is 42"` {
		t.Fatalf("ask via the service: %q %v\n%s", out, err, errOut)
	}
	// A service makes HTTP requests directly too (not recorded: a query).
	if got := mustMica(t, w, "query-application", "--application-id", same, `{ fetch(prompt: "Q") }`); got != `{"data":{"fetch":"the answer to q is 42"}}` {
		t.Fatalf("service HTTP request: %s", got)
	}

	// One validator of four sees another answer: 3 of 4 still commit.
	one := create("/one")
	if out, errOut, err := ask(one, "life"); err != nil || out != `"the answer to life is 42"` {
		t.Fatalf("ask (one dissenting): %q %v\n%s", out, err, errOut)
	}

	// Two of four see another answer: no quorum; the error names the disagreement.
	two := create("/two")
	_, errOut, err := ask(two, "life")
	if err == nil || !strings.Contains(errOut, "validators disagree on the block's outcome") {
		t.Fatalf("ask (two dissenting): err=%v\n%s", err, errOut)
	}
	t.Logf("two dissenting validators: %s", errOut)
	if got := answer(two); got != `{"data":{"answer":null}}` {
		t.Errorf("failed ask changed the state: %s", got)
	}
	// The chain's next block commits, and so does another chain's.
	if out, errOut, err := ask(same, "everything"); err != nil || out != `"the answer to everything is 42"` {
		t.Fatalf("next block on the chain: %q %v\n%s", out, err, errOut)
	}
	other := otherChain(t, w, chain)
	mustMica(t, w, "transfer", "1", "--from", other, "--to", chain)

	// Refused requests: a clear error, no state change.
	for _, c := range []struct{ endpoint, want string }{
		{"http://example.invalid/ask", "not on the committee's HTTP allow-list"},
		{"http://[::1/ask", "malformed URL"},
		{base + "/big", "over the limit"},
	} {
		app := createAt(c.endpoint)
		_, errOut, err := ask(app, "x")
		if err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("endpoint %s: err=%v, want %q in\n%s", c.endpoint, err, c.want, errOut)
		}
		if got := answer(app); got != `{"data":{"answer":null}}` {
			t.Errorf("endpoint %s: state changed: %s", c.endpoint, got)
		}
	}

	// Figures: an HTTP-oracle block against a plain counter block. "Wall" is the time of
	// the execute-operation command (process start, wallet, sync, propose, certify);
	// "block" is from the block's timestamp (set by the client when it builds the
	// block, before staging and proposing it) to the command's exit, about the
	// client-side proposal-to-certificate time.
	capp := retryMica(t, w, "publish-and-create", counter[0], counter[1], "--json-argument", "0")
	const n = 7
	measure := func(app, op string) (wall, block time.Duration) {
		t.Helper()
		start := time.Now()
		out := mustMica(t, w, "--json", "execute-operation", "--application-id", app, "--json-operation", op)
		end := time.Now()
		var res struct {
			Block struct {
				Height uint64 `json:"height"`
			} `json:"block"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("execute-operation --json: %v\n%s", err, out)
		}
		var sb struct {
			Timestamp int64 `json:"timestamp"` // microseconds since the Unix epoch
		}
		if err := json.Unmarshal([]byte(mustMica(t, w, "--json", "show-block", chain, fmt.Sprint(res.Block.Height))), &sb); err != nil {
			t.Fatal(err)
		}
		return end.Sub(start), end.Sub(time.UnixMicro(sb.Timestamp))
	}
	var hw, hb, cw, cb []time.Duration
	for i := 0; i < n; i++ {
		wall, block := measure(same, fmt.Sprintf(`{"ask":{"prompt":"q%d"}}`, i))
		hw, hb = append(hw, wall), append(hb, block)
		wall, block = measure(capp, `{"increment":1}`)
		cw, cb = append(cw, wall), append(cb, block)
	}
	t.Logf("FIGURES 4 validator processes, median of %d: HTTP-oracle ask: block %v, wall %v; counter increment: block %v, wall %v",
		n, medianDuration(hb), medianDuration(hw), medianDuration(cb), medianDuration(cw))
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// blockHeightOf returns the height of the chain's last block.
func blockHeightOf(t *testing.T, wallet, chain string) uint64 {
	t.Helper()
	out := mustMica(t, wallet, "wallet", "show", "--json")
	var w struct {
		Chains []struct {
			ChainID    string `json:"chainId"`
			NextHeight uint64 `json:"nextHeight"`
		} `json:"chains"`
	}
	if err := json.Unmarshal([]byte(out), &w); err != nil {
		t.Fatal(err)
	}
	for _, c := range w.Chains {
		if c.ChainID == chain && c.NextHeight > 0 {
			return c.NextHeight - 1
		}
	}
	t.Fatalf("chain %s has no block in the wallet:\n%s", chain, out)
	return 0
}

// otherChain returns a wallet chain other than chain.
func otherChain(t *testing.T, wallet, chain string) string {
	t.Helper()
	out := mustMica(t, wallet, "wallet", "show", "--json")
	for _, m := range regexp.MustCompile(`"chainId": "([0-9a-f]{64})"`).FindAllStringSubmatch(out, -1) {
		if m[1] != chain {
			return m[1]
		}
	}
	t.Fatalf("no other chain in the wallet:\n%s", out)
	return ""
}

// retryMica is mustMica for commands that upload or compile modules, which can exceed
// the client's per-request deadline on a loaded machine: it tries up to 3 times.
func retryMica(t *testing.T, wallet string, args ...string) string {
	t.Helper()
	var errOut string
	var err error
	for i := 0; i < 3; i++ {
		var out string
		if out, errOut, err = mica(t, wallet, args...); err == nil {
			return out
		}
		t.Logf("mica %s (attempt %d): %v\n%s", args[0], i+1, err, errOut)
	}
	t.Fatalf("mica %s: %v\n%s", strings.Join(args, " "), err, errOut)
	return ""
}
