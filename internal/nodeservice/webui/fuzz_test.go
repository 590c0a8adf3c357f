package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzFileServerPath: whatever path reaches the file servers (the node
// service mounts them under a mux, but a handler must not rely on it), the
// answer is an embedded file by its exact name or a 404, and nothing panics.
func FuzzFileServerPath(f *testing.F) {
	for _, s := range []string{"/assets/" + graphiqlJS, "/assets/../webui.go", "/wallet/", "/wallet/wallet.js", "/wallet/%2e%2e/", "/assets//", "/wallet/index.html", "/assets/\x00", "/wallet", "/assets", ""} {
		f.Add(s)
	}
	assets := newFileServer("assets", "")
	wallet := newFileServer("wallet", "index.html")
	handlers := map[string]http.Handler{"/assets": Assets(), "/wallet": Wallet()}
	f.Fuzz(func(t *testing.T, p string) {
		for prefix, h := range handlers {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL.Path = p
			req.URL.RawPath = ""
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusNotFound:
			case http.StatusOK:
				name := strings.TrimPrefix(p, prefix+"/")
				fs := assets
				if prefix == "/wallet" {
					fs = wallet
					if p == "/wallet/" {
						name = "index.html"
					}
				}
				file, ok := fs.files[name]
				if !strings.HasPrefix(p, prefix+"/") || !ok || rec.Body.String() != string(file.body) {
					t.Fatalf("%s handler served %q with 200", prefix, p)
				}
			default:
				t.Fatalf("%s handler: %q: status %d", prefix, p, rec.Code)
			}
		}
	})
}
