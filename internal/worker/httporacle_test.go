package worker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
)

// TestHTTPPerformerAttacks: what an application can make a validator do with an HTTP
// request is bounded. Hosts off the allow-list, other schemes, malformed URLs, redirects
// to other hosts, oversize responses and slow endpoints are refused with
// execution.ErrHTTPRequest; the validator identifies itself with the Mica-Validator
// header, which the application cannot set.
func TestHTTPPerformerAttacks(t *testing.T) {
	var gotHeader, gotBody, gotCustom string
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotHeader, gotBody, gotCustom = r.Header.Get("Mica-Validator"), string(b), r.Header.Get("X-Custom")
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("short and stout"))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 64<<10+1)))
	})
	mux.HandleFunc("/exact", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 64<<10)))
	})
	release := make(chan struct{})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/redirect-out", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.invalid/x", http.StatusFound)
	})
	mux.HandleFunc("/redirect-in", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)

	policy := protocol.NoFeesPolicy()
	policy.HTTPAllowList = []string{"127.0.0.1"}
	policy.HTTPRequestTimeoutMs = 300
	p := NewHTTPPerformer("abcd", nil)
	ctx := context.Background()
	do := func(req execution.HTTPRequest) (*execution.HTTPResponse, error) {
		return execution.QueryHTTP(ctx, p, &policy, &req)
	}

	resp, err := do(execution.HTTPRequest{Method: "POST", URL: srv.URL + "/ok", Body: []byte("hi"), Headers: []execution.HTTPHeader{{Name: "X-Custom", Value: "v"}}})
	if err != nil || resp.Status != http.StatusTeapot || string(resp.Body) != "short and stout" {
		t.Fatalf("allowed request: %+v %v", resp, err)
	}
	if gotHeader != "abcd" || gotBody != "hi" || gotCustom != "v" {
		t.Fatalf("server saw Mica-Validator %q, body %q, X-Custom %q", gotHeader, gotBody, gotCustom)
	}
	if resp, err := do(execution.HTTPRequest{Method: "GET", URL: srv.URL + "/exact"}); err != nil || len(resp.Body) != 64<<10 {
		t.Fatalf("a response of exactly the limit: %v", err)
	}
	if resp, err := do(execution.HTTPRequest{Method: "GET", URL: srv.URL + "/redirect-in"}); err != nil || resp.Status != http.StatusTeapot {
		t.Fatalf("redirect to an allowed host: %+v %v", resp, err)
	}

	for _, c := range []struct {
		name string
		req  execution.HTTPRequest
		want string
	}{
		{"host off the allow-list", execution.HTTPRequest{Method: "GET", URL: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/ok"}, "allow-list"},
		{"scheme", execution.HTTPRequest{Method: "GET", URL: "file:///etc/passwd"}, "scheme"},
		{"malformed URL", execution.HTTPRequest{Method: "GET", URL: "http://[::1/ok"}, "malformed URL"},
		{"user info", execution.HTTPRequest{Method: "GET", URL: "http://a:b@127.0.0.1/ok"}, "malformed URL"},
		{"method", execution.HTTPRequest{Method: "CONNECT", URL: srv.URL + "/ok"}, "method"},
		{"header injection", execution.HTTPRequest{Method: "GET", URL: srv.URL + "/ok", Headers: []execution.HTTPHeader{{Name: "X", Value: "a\r\nHost: evil"}}}, "invalid header"},
		{"spoofed validator header", execution.HTTPRequest{Method: "GET", URL: srv.URL + "/ok", Headers: []execution.HTTPHeader{{Name: "mica-validator", Value: "other"}}}, "set by the node"},
		{"too many headers", execution.HTTPRequest{Method: "GET", URL: srv.URL + "/ok", Headers: make([]execution.HTTPHeader, execution.MaxHTTPHeaders+1)}, "headers"},
		{"body", execution.HTTPRequest{Method: "POST", URL: srv.URL + "/ok", Body: make([]byte, execution.MaxHTTPRequestBody+1)}, "request body"},
		{"long URL", execution.HTTPRequest{Method: "GET", URL: srv.URL + "/" + strings.Repeat("a", execution.MaxHTTPURLLen)}, "URL of"},
		{"oversize response", execution.HTTPRequest{Method: "GET", URL: srv.URL + "/big"}, "over the limit"},
		{"slow endpoint", execution.HTTPRequest{Method: "GET", URL: srv.URL + "/slow"}, "no response within 300 ms"},
		{"redirect off the allow-list", execution.HTTPRequest{Method: "GET", URL: srv.URL + "/redirect-out"}, "not on the allow-list"},
	} {
		start := time.Now()
		_, err := do(c.req)
		if !errors.Is(err, execution.ErrHTTPRequest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrHTTPRequest with %q", c.name, err, c.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %v", c.name, d)
		}
	}
	// An empty allow-list refuses everything, and so does a node without a performer.
	empty := protocol.NoFeesPolicy()
	if _, err := execution.QueryHTTP(ctx, p, &empty, &execution.HTTPRequest{Method: "GET", URL: srv.URL + "/ok"}); !errors.Is(err, execution.ErrHTTPRequest) {
		t.Errorf("empty allow-list: %v", err)
	}
	if _, err := execution.QueryHTTP(ctx, nil, &policy, &execution.HTTPRequest{Method: "GET", URL: srv.URL + "/ok"}); !errors.Is(err, execution.ErrHTTPRequest) {
		t.Errorf("no performer: %v", err)
	}
}
