package webui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// serve mounts the handlers the way the node service does.
func serve(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/assets/", Assets())
	mux.Handle("/wallet/", Wallet())
	mux.Handle("GET /chains/{chain}/applications/{app}", GraphiQL("/chains/c1/applications/a1", ""))
	mux.Handle("GET /{$}", GraphiQL("/", ""))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	// Send the path as written, without Go's client cleaning it.
	req.URL.Opaque = path
	// Do not follow redirects: the test looks at what the server answers.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestAssetsContentTypesAndCaching(t *testing.T) {
	srv := serve(t)
	cases := []struct {
		path, ctype string
		immutable   bool
	}{
		{"/assets/" + graphiqlJS, "text/javascript; charset=utf-8", true},
		{"/assets/" + graphiqlCSS, "text/css; charset=utf-8", true},
		{"/assets/" + reactJS, "text/javascript; charset=utf-8", true},
		{"/assets/" + reactDOMJS, "text/javascript; charset=utf-8", true},
		{"/assets/graphiql-init.js", "text/javascript; charset=utf-8", false},
		{"/assets/graphiql-page.css", "text/css; charset=utf-8", false},
		{"/assets/LICENSE-graphiql.txt", "text/plain; charset=utf-8", false},
		{"/wallet/", "text/html; charset=utf-8", false},
		{"/wallet/wallet.js", "text/javascript; charset=utf-8", false},
		{"/wallet/style.css", "text/css; charset=utf-8", false},
	}
	for _, c := range cases {
		resp, body := get(t, srv, c.path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", c.path, resp.StatusCode)
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", c.path, got)
		}
		cc := resp.Header.Get("Cache-Control")
		if c.immutable != strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q (immutable=%v)", c.path, cc, c.immutable)
		}
		if len(body) == 0 {
			t.Errorf("%s: empty body", c.path)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("%s: no ETag", c.path)
			continue
		}
		again, rest := get(t, srv, c.path, map[string]string{"If-None-Match": etag})
		if again.StatusCode != http.StatusNotModified || rest != "" {
			t.Errorf("%s with its ETag: status %d, %d bytes", c.path, again.StatusCode, len(rest))
		}
	}
}

// TestAttackPathsRefused: the file servers answer only their exact embedded
// names. Traversal, encoded traversal, directory names, the embed root and
// unknown files are 404; other methods are 405; nothing lists a directory.
func TestAttackPathsRefused(t *testing.T) {
	srv := serve(t)
	for _, p := range []string{
		"/assets/",
		"/assets",
		"/assets/../webui.go",
		"/assets/..%2fwebui.go",
		"/assets/%2e%2e/webui.go",
		"/assets/../../../../etc/passwd",
		"/assets/..%2f..%2f..%2fetc%2fpasswd",
		"/assets/assets/" + graphiqlJS,
		"/assets//" + graphiqlJS,
		"/assets/./" + graphiqlJS,
		"/assets/" + graphiqlJS + "/",
		"/assets/nope.js",
		"/assets/GRAPHIQL-4.1.2.MIN.JS",
		"/wallet/../assets/" + graphiqlJS,
		"/wallet/..%2fwebui.go",
		"/wallet/index.html/",
		"/wallet/wallet",
		"/wallet/%00",
		"/wallet/" + strings.Repeat("a", 5000),
	} {
		resp, body := get(t, srv, p, nil)
		if resp.StatusCode == http.StatusOK && (strings.Contains(body, "package webui") || strings.Contains(body, "root:x:0:0")) {
			t.Errorf("%s: served a file outside the embedded set", p)
		}
		redirect := resp.StatusCode == http.StatusMovedPermanently || resp.StatusCode == http.StatusTemporaryRedirect
		if resp.StatusCode != http.StatusNotFound && !redirect && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
		if redirect {
			// Only the mux's own path cleaning may redirect, and never off the
			// handler's prefix to a file outside the embedded set.
			loc := resp.Header.Get("Location")
			if strings.Contains(loc, "..") {
				t.Errorf("%s: redirect to %q", p, loc)
			}
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		for _, p := range []string{"/assets/" + graphiqlJS, "/wallet/"} {
			req, err := http.NewRequest(m, srv.URL+p, strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: status %d, want 405", m, p, resp.StatusCode)
			}
		}
	}
}

// Directly, without a mux cleaning the path first: the handler itself must
// refuse what a different mount could pass through.
func TestFileServerRefusesUncleanPaths(t *testing.T) {
	h := Assets()
	for _, p := range []string{"/assets/../webui.go", "/assets/a/../" + graphiqlJS, "/assets/" + graphiqlJS + "%00", "/assets/\\..\\webui.go", "/other/" + graphiqlJS} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = p
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%q: status %d, want 404", p, rec.Code)
		}
	}
}

func TestGraphiQLPage(t *testing.T) {
	srv := serve(t)
	for _, c := range []struct{ path, endpoint string }{
		{"/", `data-endpoint="/"`},
		{"/chains/c1/applications/a1", `data-endpoint="/chains/c1/applications/a1"`},
	} {
		resp, body := get(t, srv, c.path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", c.path, resp.StatusCode)
		}
		if got := resp.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", c.path, got)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", c.path, csp)
		}
		if !strings.Contains(body, c.endpoint) {
			t.Errorf("%s: page lacks %s", c.path, c.endpoint)
		}
		// Every script and stylesheet is local, and each one it names exists.
		for _, ref := range []string{graphiqlJS, graphiqlCSS, reactJS, reactDOMJS, "graphiql-init.js", "graphiql-page.css"} {
			if !strings.Contains(body, `"/assets/`+ref+`"`) {
				t.Errorf("%s: page does not load /assets/%s", c.path, ref)
			}
			if r, _ := get(t, srv, "/assets/"+ref, nil); r.StatusCode != http.StatusOK {
				t.Errorf("/assets/%s: status %d", ref, r.StatusCode)
			}
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "//cdn") || strings.Contains(body, "<script>") {
			t.Errorf("%s: page refers to another origin or has an inline script:\n%s", c.path, body)
		}
	}
}

// TestAttackGraphiQLEndpointEscaped: an endpoint carrying markup (a chain or
// application id is validated by the caller, but the page must not rely on it)
// stays an attribute value.
func TestAttackGraphiQLEndpointEscaped(t *testing.T) {
	h := GraphiQL(`/x"><script>alert(1)</script>`, `ws://h/"onload="x`)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body := rec.Body.String()
	if strings.Contains(body, "<script>alert") || strings.Contains(body, `"onload="`) {
		t.Fatalf("endpoint not escaped:\n%s", body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}")))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", rec.Code)
	}
}

func TestWalletPageUsesOnlyLocalFiles(t *testing.T) {
	srv := serve(t)
	resp, body := get(t, srv, "/wallet/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("no Content-Security-Policy on the wallet page")
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "<script>") {
		t.Errorf("wallet page refers to another origin or has an inline script")
	}
}

func TestAssetsGzip(t *testing.T) {
	h := Assets()
	for _, c := range []struct {
		accept string
		gz     bool
	}{
		{"gzip", true},
		{"deflate, gzip;q=0.8", true},
		{"br, GZIP", true},
		{"gzip;q=0", false},
		{"identity", false},
		{"", false},
	} {
		req := httptest.NewRequest(http.MethodGet, "/assets/"+graphiqlJS, nil)
		if c.accept != "" {
			req.Header.Set("Accept-Encoding", c.accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%q: status %d", c.accept, rec.Code)
		}
		if got := rec.Header().Get("Vary"); got != "Accept-Encoding" {
			t.Errorf("%q: Vary %q", c.accept, got)
		}
		want, err := files.ReadFile("assets/" + graphiqlJS)
		if err != nil {
			t.Fatal(err)
		}
		body := rec.Body.Bytes()
		if gz := rec.Header().Get("Content-Encoding") == "gzip"; gz != c.gz {
			t.Fatalf("%q: gzip %v, want %v", c.accept, gz, c.gz)
		}
		if c.gz {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d bytes, %d gzipped", graphiqlJS, len(want), rec.Body.Len())
		}
		if !bytes.Equal(body, want) {
			t.Errorf("%q: body differs from the embedded file", c.accept)
		}
	}
}

// BenchmarkAssetsGraphiQLBundle serves the largest asset, gzipped as a
// browser asks for it.
func BenchmarkAssetsGraphiQLBundle(b *testing.B) {
	h := Assets()
	req := httptest.NewRequest(http.MethodGet, "/assets/"+graphiqlJS, nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
