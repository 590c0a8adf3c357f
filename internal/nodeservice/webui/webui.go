// Package webui holds the browser side of the node service: the GraphiQL page
// served on every GraphQL endpoint, the vendored GraphiQL bundles it loads, and
// the web wallet and explorer.
//
// Everything is embedded in the binary, so a page never loads anything from
// outside the node: GraphiQL 4.1.2 and React 18.2.0 are vendored as UMD bundles
// under assets/ (fetch-assets.sh fetches them from the npm registry with pinned
// sha256 hashes; `go generate` runs it), and the wallet is plain HTML, CSS and
// JavaScript modules under wallet/ with no build step.
//
// The package only serves files; it knows nothing about chains. The wallet talks
// to the node service's system GraphQL endpoint at "/" (queries and mutations by
// POST, the notifications subscription over graphql-transport-ws), exactly as a
// script would.
//
// Every handler is safe for concurrent use. Pages are sent with a
// Content-Security-Policy that allows scripts, styles and connections only from
// the node's own origin.
package webui

//go:generate sh fetch-assets.sh

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed assets wallet
var files embed.FS

// Vendored bundle names, as fetch-assets.sh writes them. The version is part of
// the name, so their URLs can be cached for a year.
const (
	graphiqlJS  = "graphiql-4.1.2.min.js"
	graphiqlCSS = "graphiql-4.1.2.min.css"
	reactJS     = "react-18.2.0.production.min.js"
	reactDOMJS  = "react-dom-18.2.0.production.min.js"
)

// contentSecurityPolicy is sent with every HTML page. GraphiQL and CodeMirror
// set inline styles and embed fonts and images as data: URIs; nothing else is
// allowed from anywhere but the node itself ('self' covers ws:// to the same
// host in CSP level 3).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// file is one embedded file ready to serve.
type file struct {
	body        []byte
	contentType string
	etag        string
	immutable   bool // the name carries a version: cache for a year
	// gzipped returns the body compressed with gzip, computed on first use
	// (once per server); nil for files not worth compressing.
	gzipped func() []byte
}

// minGzip is the smallest file worth compressing.
const minGzip = 1024

func gzipOnce(body []byte) func() []byte {
	return sync.OnceValue(func() []byte {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
		if err != nil {
			return nil
		}
		if _, err := zw.Write(body); err != nil {
			return nil
		}
		if err := zw.Close(); err != nil {
			return nil
		}
		return buf.Bytes()
	})
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, field := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(field, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// fileServer serves a fixed set of embedded files by exact name. It never
// touches the file system, lists directories or redirects, so a path that is
// not one of its names (including any "..") is a 404.
type fileServer struct {
	files map[string]file
	index string // served for "/" when non-empty
}

func newFileServer(dir string, index string) *fileServer {
	s := &fileServer{files: map[string]file{}, index: index}
	err := fs.WalkDir(files, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, dir+"/")
		sum := sha256.Sum256(body)
		f := file{
			body:        body,
			contentType: contentType(name),
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
			immutable:   isVendored(name),
		}
		if len(body) >= minGzip && !strings.HasPrefix(f.contentType, "image/png") {
			f.gzipped = gzipOnce(body)
		}
		s.files[name] = f
		return nil
	})
	if err != nil {
		// The files are embedded at build time: failing to read them is a
		// broken binary, not bad input.
		panic("webui: read embedded " + dir + ": " + err.Error())
	}
	return s
}

func isVendored(name string) bool {
	switch name {
	case graphiqlJS, graphiqlCSS, reactJS, reactDOMJS:
		return true
	}
	return false
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".json":
		return "application/json"
	default:
		return "text/plain; charset=utf-8"
	}
}

func (s *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/")
	if !ok {
		// "" (the prefix itself, without its slash) or a relative path: the
		// page's relative links would not resolve, so it is not served.
		http.NotFound(w, r)
		return
	}
	if name == "" {
		name = s.index
	}
	f, ok := s.files[name]
	if !ok || name == "" {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	body, etag := f.body, f.etag
	if f.gzipped != nil {
		h.Set("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			if gz := f.gzipped(); gz != nil {
				body, etag = gz, strings.TrimSuffix(f.etag, `"`)+`-gzip"`
				h.Set("Content-Encoding", "gzip")
			}
		}
	}
	h.Set("ETag", etag)
	if f.immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// Our own files change with the binary: revalidate (cheap, by ETag).
		h.Set("Cache-Control", "no-cache")
	}
	if f.contentType == "text/html; charset=utf-8" {
		setPageHeaders(h)
	}
	// ServeContent answers If-None-Match with 304 by the ETag set above, and
	// handles HEAD and Range.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

// Assets serves the embedded GraphiQL bundles and the GraphiQL page's own
// script. It is mounted at "/assets/" and strips that prefix itself. Versioned
// bundles are sent with a one-year immutable Cache-Control; the rest revalidate
// by ETag. Any name that is not an embedded file is a 404.
func Assets() http.Handler {
	return http.StripPrefix("/assets", newFileServer("assets", ""))
}

// Wallet serves the web wallet and explorer. It is mounted at "/wallet/" and
// strips that prefix itself; "/wallet/" is the page, the rest are its scripts
// and styles. The page talks to the system GraphQL endpoint at "/".
func Wallet() http.Handler {
	return http.StripPrefix("/wallet", newFileServer("wallet", "index.html"))
}

var graphiqlPage = template.Must(template.New("graphiql").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>GraphiQL · Mica</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/{{.CSS}}">
<link rel="stylesheet" href="/assets/graphiql-page.css">
</head>
<body>
<div id="graphiql" data-endpoint="{{.Endpoint}}" data-subscription-endpoint="{{.Subscription}}">Loading GraphiQL…</div>
<script src="/assets/{{.React}}"></script>
<script src="/assets/{{.ReactDOM}}"></script>
<script src="/assets/{{.GraphiQL}}"></script>
<script src="/assets/graphiql-init.js"></script>
</body>
</html>
`))

// GraphiQL returns the GraphiQL page for one GraphQL endpoint: endpoint is the
// path queries are POSTed to ("/" for the system schema,
// "/chains/{chain}/applications/{app}" for an application), and
// subscriptionEndpoint is where subscriptions go over graphql-transport-ws:
// either a path on the same host (turned into ws:// or wss:// by the page), a
// full ws:// or wss:// URL, or "" for the endpoint's own path. The page loads
// its scripts and styles only from /assets/ (see Assets). A bearer token given
// once as ?token= (or already kept by the wallet in sessionStorage) is sent as
// an Authorization header.
//
// The handler answers GET and HEAD only; mounting it beside the GraphQL
// handler on the same path (by method or Accept header) is the caller's choice.
func GraphiQL(endpoint, subscriptionEndpoint string) http.Handler {
	if subscriptionEndpoint == "" {
		subscriptionEndpoint = endpoint
	}
	var buf bytes.Buffer
	err := graphiqlPage.Execute(&buf, map[string]string{
		"Endpoint":     endpoint,
		"Subscription": subscriptionEndpoint,
		"CSS":          graphiqlCSS,
		"React":        reactJS,
		"ReactDOM":     reactDOMJS,
		"GraphiQL":     graphiqlJS,
	})
	if err != nil {
		panic("webui: graphiql template: " + err.Error()) // a constant template with string data
	}
	body := buf.Bytes()
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		setPageHeaders(h)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}
