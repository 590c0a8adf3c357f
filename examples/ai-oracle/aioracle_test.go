package aioracle_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	aioracle "github.com/micachain/mica/examples/ai-oracle"
	"github.com/micachain/mica/sdk/sdktest"
)

// fakeAI answers {"answer": "<prompt> = 4"} to POSTs of {"prompt": ...} on /ask.
func fakeAI(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/ask" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var req aioracle.Request
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(aioracle.Response{Answer: "  " + strings.ToUpper(req.Prompt) + " = 4 "})
	})
}

func newChain(t *testing.T) *sdktest.Chain {
	t.Helper()
	c := sdktest.NewChain()
	c.HTTP = fakeAI(t)
	c.QueryService = sdktest.ServiceQuery(c, aioracle.NewService())
	if err := c.Instantiate(aioracle.NewContract(), []byte(`{"endpoint":"http://ai.test/ask"}`)); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAsk(t *testing.T) {
	c := newChain(t)
	out, err := c.ExecuteOperation(aioracle.NewContract(), []byte(`{"ask":{"prompt":"two plus two"}}`))
	if err != nil || string(out) != `"  TWO PLUS TWO = 4 "` {
		t.Fatalf("ask: %s %v", out, err)
	}
	if len(c.HTTPRequests) != 1 || c.HTTPRequests[0].Method != "POST" || string(c.HTTPRequests[0].Body) != `{"prompt":"two plus two"}` {
		t.Fatalf("requests %+v", c.HTTPRequests)
	}
	got, err := c.Query(aioracle.NewService(), []byte(`{ answer prompt endpoint }`))
	if err != nil || string(got) != `{"data":{"answer":"  TWO PLUS TWO = 4 ","prompt":"two plus two","endpoint":"http://ai.test/ask"}}` {
		t.Fatalf("query: %s %v", got, err)
	}
}

func TestAskViaService(t *testing.T) {
	c := newChain(t)
	out, err := c.ExecuteOperation(aioracle.NewContract(), []byte(`{"ask":{"prompt":"Two","viaService":true}}`))
	if err != nil || string(out) != `"two = 4"` {
		t.Fatalf("ask via service: %s %v", out, err)
	}
	got, err := c.Query(aioracle.NewService(), []byte(`{ answer }`))
	if err != nil || string(got) != `{"data":{"answer":"two = 4"}}` {
		t.Fatalf("query: %s %v", got, err)
	}
}

func TestMutation(t *testing.T) {
	c := newChain(t)
	out, err := c.Query(aioracle.NewService(), []byte(`mutation { ask(prompt: "hi", viaService: true) }`))
	if err != nil || string(out) != `{"data":{"ask":true}}` {
		t.Fatalf("mutation: %s %v", out, err)
	}
	if len(c.Scheduled) != 1 || string(c.Scheduled[0]) != `{"ask":{"prompt":"hi","viaService":true}}` {
		t.Fatalf("scheduled %q", c.Scheduled)
	}
}

func TestGraphQL(t *testing.T) {
	c := newChain(t)
	svc := aioracle.NewService()
	out, err := c.GraphQL(svc, `query F($p: String!) { a: fetch(prompt: $p) ...E }  fragment E on Query { endpoint answer }`, map[string]any{"p": "Two"})
	if err != nil || string(out) != `{"data":{"a":"two = 4","endpoint":"http://ai.test/ask","answer":null}}` {
		t.Errorf("variables, fragment, alias: %s %v", out, err)
	}
	out, err = c.Query(svc, []byte(`{ __schema { queryType { name } } }`))
	if err != nil || string(out) != `{"data":{"__schema":{"queryType":{"name":"Query"}}}}` {
		t.Errorf("introspection: %s %v", out, err)
	}
	for _, q := range []string{`{ fetch(prompt: "") }`, `{ fetch }`, `mutation { ask(prompt: 3) }`, `mutation { ask(prompt: "") }`} {
		out, err := c.Query(svc, []byte(q))
		if err != nil || !strings.HasPrefix(string(out), `{"errors":[{"message":`) {
			t.Errorf("%s: %s %v", q, out, err)
		}
	}
	if len(c.Scheduled) != 0 {
		t.Errorf("refused mutations scheduled %q", c.Scheduled)
	}
	// A service error reaches the contract as an error.
	c.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	if _, err := c.ExecuteOperation(aioracle.NewContract(), []byte(`{"ask":{"prompt":"x","viaService":true}}`)); err == nil || !strings.Contains(err.Error(), "the service") {
		t.Errorf("service failure: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	c := newChain(t)
	for _, op := range []string{`{}`, `{"ask":{}}`, `{"ask":{"prompt":""}}`, `{"ask":{"prompt":"` + strings.Repeat("x", aioracle.MaxPromptBytes+1) + `"}}`, `{"tell":1}`} {
		if _, err := c.ExecuteOperation(aioracle.NewContract(), []byte(op)); err == nil {
			t.Errorf("operation %.40s succeeded", op)
		}
	}
	for _, arg := range []string{`{}`, `{"endpoint":"ftp://x"}`, `"http://x"`} {
		if err := sdktest.NewChain().Instantiate(aioracle.NewContract(), []byte(arg)); err == nil {
			t.Errorf("instantiated with %s", arg)
		}
	}
	// The endpoint failing or answering nonsense fails the operation; nothing is stored.
	c.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	if _, err := c.ExecuteOperation(aioracle.NewContract(), []byte(`{"ask":{"prompt":"x"}}`)); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("503: %v", err)
	}
	c.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("not json")) })
	if _, err := c.ExecuteOperation(aioracle.NewContract(), []byte(`{"ask":{"prompt":"x"}}`)); err == nil {
		t.Error("non-JSON answer accepted")
	}
	c.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(aioracle.Response{Answer: strings.Repeat("a", aioracle.MaxAnswerBytes+1)})
	})
	if _, err := c.ExecuteOperation(aioracle.NewContract(), []byte(`{"ask":{"prompt":"x"}}`)); err == nil {
		t.Error("oversize answer accepted")
	}
	c.HTTP = nil
	if _, err := c.ExecuteOperation(aioracle.NewContract(), []byte(`{"ask":{"prompt":"x"}}`)); err == nil {
		t.Error("no HTTP handler: succeeded")
	}
	if _, ok := c.Get([]byte("answer")); ok {
		t.Error("a failed ask stored an answer")
	}
}
