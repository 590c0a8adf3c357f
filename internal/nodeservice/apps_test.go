package nodeservice_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/protocol/prototest"
)

var (
	counterOnce                     sync.Once
	counterContract, counterService []byte
	counterErr                      error
)

// buildCounter compiles the counter example (once per test binary).
func buildCounter(tb testing.TB) (contract, service []byte) {
	tb.Helper()
	counterOnce.Do(func() {
		dir, err := os.MkdirTemp("", "counter")
		if err != nil {
			counterErr = err
			return
		}
		defer os.RemoveAll(dir)
		var out [2][]byte
		for i, part := range []string{"contract", "service"} {
			p := filepath.Join(dir, part+".wasm")
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", p, "./counter/"+part)
			cmd.Dir = "../../examples"
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
			if b, err := cmd.CombinedOutput(); err != nil {
				counterErr = err
				tb.Logf("%s", b)
				return
			}
			if out[i], err = os.ReadFile(p); err != nil {
				counterErr = err
				return
			}
		}
		counterContract, counterService = out[0], out[1]
	})
	if counterErr != nil {
		tb.Fatalf("build the counter: %v", counterErr)
	}
	return counterContract, counterService
}

// counterNet is a network with a Wasm VM, alice's service, and a counter application
// created on her chain through the publishModule and createApplication mutations.
func counterNet(t testing.TB) (*testNet, *service, string) {
	contract, svc := buildCounter(t)
	engine, err := wasm.NewEngine(context.Background(), wasm.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close(context.Background()) })
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newTestNet(t, []*crypto.PrivateKey{alice, bob}, wasm.NewLoader(engine, 0))
	a := n.service(0, serviceOpts{})
	d := a.gql(`mutation($c: String!, $s: String!) { publishModule(contractBase64: $c, serviceBase64: $s) { moduleId block { height } } }`,
		map[string]any{"c": base64.StdEncoding.EncodeToString(contract), "s": base64.StdEncoding.EncodeToString(svc)})
	module := path(d, "publishModule", "moduleId").(string)
	d = a.gql(`mutation($m: String!) { createApplication(moduleId: $m, argument: 0) { applicationId block { height } } }`, map[string]any{"m": module})
	app := path(d, "createApplication", "applicationId").(string)
	return n, a, "/chains/" + n.chains[0].String() + "/applications/" + app
}

// TestFirstApplicationRunGetsExtraTime: validators that take longer than the client's
// per-call deadline to run a freshly published application's operation (compiling and
// starting its contract and service for the first time) still answer the node
// service's mutation in time: the client gives a block of an application's operations
// the time its bytecode takes, as it does for a block that publishes it, so the
// mutation succeeds on its first try (without it, the calls time out and the fast
// round stays taken by the proposal until it times out).
func TestFirstApplicationRunGetsExtraTime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Wasm guests")
	}
	n, _, link := counterNet(t)
	// Another wallet of alice's chain, whose client has a per-call deadline shorter than
	// the validators take. The publication and the creation above ran under the
	// generous one: compiling the module (13 MB of Wasm) under the race detector on a
	// loaded machine has taken minutes, and that is not what this test is about.
	const timeout = 3 * time.Second
	n.requestTimeout = timeout
	a := n.service(0, serviceOpts{})
	for _, node := range n.nodes {
		node.appDelay.Store(int64(timeout + time.Second))
	}
	status, out := a.post(link, "", `{"query": "mutation { increment(value: 2) }"}`)
	if status != http.StatusOK || path(out, "data", "increment") != true {
		t.Fatalf("increment with validators slower than the call deadline: %d %v", status, out)
	}
}

// TestApplicationEndpoint: the counter's endpoint answers a query, commits a mutation's
// scheduled operation in a block (whose hash the answer carries), and shows the new value;
// GET ?query= works too; the chain lists the application.
func TestApplicationEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Wasm guests")
	}
	n, a, link := counterNet(t)
	status, out := a.post(link, "", `{"query": "{ value }"}`)
	if status != http.StatusOK || path(out, "data", "value") != float64(0) {
		t.Fatalf("{ value }: %d %v", status, out)
	}
	status, out = a.post(link, "", `{"query": "mutation { increment(value: 5) }"}`)
	if status != http.StatusOK || path(out, "data", "increment") != true {
		t.Fatalf("increment: %d %v", status, out)
	}
	if h, _ := path(out, "extensions", "block", "hash").(string); len(h) != 64 || path(out, "extensions", "block", "chainId") != n.chains[0].String() {
		t.Fatalf("the mutation's answer lacks the block: %v", out)
	}
	resp, err := http.Get(a.server.URL + link + "?query=" + url.QueryEscape("{ value }"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"value":5`) {
		t.Fatalf("GET after increment: %s", body)
	}
	// Variables, a fragment and introspection go through to the application's engine.
	status, out = a.post(link, "", map[string]any{"query": "mutation Inc($n: U64!) { increment(value: $n) }", "variables": map[string]any{"n": 3}, "operationName": "Inc"})
	if status != http.StatusOK || path(out, "data", "increment") != true || path(out, "extensions", "block", "height") == nil {
		t.Fatalf("mutation with variables: %d %v", status, out)
	}
	status, out = a.post(link, "", `{"query": "query { ...V } fragment V on Query { current: value }"}`)
	if status != http.StatusOK || path(out, "data", "current") != float64(8) {
		t.Fatalf("query with a fragment: %d %v", status, out)
	}
	status, out = a.post(link, "", `{"query": "{ __schema { queryType { name } } }"}`)
	if status != http.StatusOK || path(out, "data", "__schema", "queryType", "name") != "Query" {
		t.Fatalf("introspection: %d %v", status, out)
	}
	// Attack: another site's page cannot make the owner's browser commit a mutation, by a
	// form POST (no JSON content type) or by a GET (a link or an image).
	req, _ := http.NewRequest(http.MethodPost, a.server.URL+link, strings.NewReader(`{"query": "mutation { increment(value: 100) }", "x": "="}`))
	req.Header.Set("Content-Type", "text/plain")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("a text/plain POST: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	resp, err = http.Get(a.server.URL + link + "?query=" + url.QueryEscape("mutation { increment(value: 100) }"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(body), "send it by POST") {
		t.Fatalf("a mutation by GET: %d %s", resp.StatusCode, body)
	}
	if _, out := a.post(link, "", `{"query": "{ value }"}`); path(out, "data", "value") != float64(8) {
		t.Fatalf("after the refused mutations: %v", out)
	}
	d := a.gql(`{ applications { applicationId link description } }`, nil)
	if got := path(d, "applications", 0, "link"); got != link {
		t.Fatalf("applications: %v", d)
	}
	// Errors: the guest's own, an unknown application, an unknown chain, a bad body.
	for _, c := range []struct {
		path, body string
		status     int
		want       string
	}{
		{link, `{"query": "{ nope }"}`, http.StatusOK, "Cannot query field"},
		{link, `{"query": ""}`, http.StatusBadRequest, "no query"},
		{link, `not json`, http.StatusBadRequest, "JSON GraphQL request"},
		{"/chains/" + n.chains[0].String() + "/applications/" + strings.Repeat("00", 32), `{"query": "{ value }"}`, http.StatusNotFound, "unknown application"},
		{"/chains/" + strings.Repeat("00", 32) + "/applications/" + strings.Repeat("00", 32), `{"query": "{ value }"}`, http.StatusNotFound, "unknown chain"},
		{"/chains/xyz/applications/abc", `{"query": "{ value }"}`, http.StatusNotFound, "unknown chain"},
	} {
		status, out := a.post(c.path, "", c.body)
		if msg := firstError(out); status != c.status || !strings.Contains(msg, c.want) {
			t.Errorf("%s %s: status %d, error %q; want %d and %q", c.path, c.body, status, msg, c.status, c.want)
		}
	}
}
