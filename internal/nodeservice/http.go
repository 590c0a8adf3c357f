package nodeservice

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/micachain/mica/internal/nodeservice/gql"
	"github.com/micachain/mica/internal/nodeservice/webui"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// authKey marks, in a request's context, that it carried the valid bearer token (or that
// none is configured).
type authKey struct{}

func authorized(ctx context.Context) bool {
	ok, _ := ctx.Value(authKey{}).(bool)
	return ok
}

// errUnauthorized is the message of a request that needs the token and lacks it.
const errUnauthorized = "this request needs the service's bearer token (Authorization: Bearer TOKEN; `mica service --token-file`)"

// buildHandler assembles the routes and the middleware around them.
func (s *Service) buildHandler() (http.Handler, error) {
	mux := http.NewServeMux()
	sys := s.systemServer()
	mux.Handle("/", s.systemHandler(sys))
	mux.HandleFunc("/chains/{chain}/applications/{app}", s.serveApplication)
	// The browser side, from assets embedded in the binary: GraphiQL's bundles and the
	// web wallet and explorer (package webui).
	mux.Handle("/assets/", webui.Assets())
	mux.Handle("/wallet/", webui.Wallet())
	s.mux = mux
	for path, h := range s.cfg.Extra {
		s.Mount(path, h)
	}
	guarded, err := s.protectCrossOrigin(s.authenticate(s.onDemandPolicy(mux)))
	if err != nil {
		return nil, err
	}
	return s.recoverer(s.checkHost(s.cors(guarded))), nil
}

// protectCrossOrigin refuses the POSTs (and other unsafe methods) a browser sends from
// another origin (net/http.CrossOriginProtection: Sec-Fetch-Site, or else Origin
// against Host), but from the origins AllowOrigins names (any, with "*"). CORS already
// keeps other pages from sending a JSON POST (their preflight is refused); this also
// refuses, before any handler, what browsers send without a preflight (a form, a
// text/plain body), on every route (Extra handlers included). Clients that are not
// browsers send neither header and pass.
func (s *Service) protectCrossOrigin(next http.Handler) (http.Handler, error) {
	if slices.Contains(s.cfg.AllowOrigins, "*") {
		return next, nil
	}
	p := http.NewCrossOriginProtection()
	for _, o := range s.cfg.AllowOrigins {
		if err := p.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("nodeservice: allowed origin %q: %w (an origin is scheme://host[:port], or *)", o, err)
		}
	}
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeGraphQLError(w, http.StatusForbidden, fmt.Sprintf("%s from another origin (%s) refused: only the service's own pages and the origins of mica service --allow-origin may send it", r.Method, r.Header.Get("Origin")))
	}))
	return p.Handler(next), nil
}

// checkHost refuses, when Config.LoopbackHosts is set, requests whose Host is not a
// loopback name: a web page whose domain an attacker re-points at 127.0.0.1 (DNS
// rebinding) is same-origin for the browser, but it names its own host.
func (s *Service) checkHost(next http.Handler) http.Handler {
	if !s.cfg.LoopbackHosts {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if ip := net.ParseIP(host); !(host == "localhost" || ip != nil && ip.IsLoopback()) {
			writeGraphQLError(w, http.StatusMisdirectedRequest, fmt.Sprintf("host %q refused: this service answers only loopback names (localhost, 127.0.0.1, [::1])", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Mount adds a handler at path (the exact path and everything under path + "/"), behind
// the service's token check, limits and recovery. It may be called while serving (the
// MCP server, built over the service, mounts itself at /mcp). A path already mounted
// panics, as http.ServeMux does.
func (s *Service) Mount(path string, h http.Handler) {
	path = "/" + strings.Trim(path, "/")
	guarded := s.requireToken(h)
	s.mux.Handle(path, guarded)
	s.mux.Handle(path+"/", guarded)
}

// systemServer is the gqlgen server of the system schema with its transports and limits.
func (s *Service) systemServer() *handler.Server {
	cfg := gql.Config{Resolvers: &resolver{s: s}}
	// A list of blocks costs its length times its elements; applications and owner
	// balances scan storage.
	listCost := func(child int, limit *int) int {
		n := 10
		if limit != nil && *limit > 0 {
			n = min(*limit, maxBlocks)
		}
		return 1 + n*child
	}
	cfg.Complexity.Query.Blocks = func(child int, _ *string, _ *int64, limit *int) int { return listCost(child, limit) }
	cfg.Complexity.Chain.Blocks = func(child int, _ *int64, limit *int) int { return listCost(child, limit) }
	cfg.Complexity.Query.Applications = func(child int, _ *string) int { return 50 + 10*child }
	cfg.Complexity.Chain.Applications = func(child int) int { return 50 + 10*child }
	cfg.Complexity.Chain.OwnerBalances = func(child int) int { return 50 + 10*child }
	cfg.Complexity.Chain.Inbox = func(child int) int { return 50 + child }
	srv := handler.New(gql.NewExecutableSchema(cfg))
	ws := transport.Websocket{
		KeepAlivePingInterval: 10 * time.Second,
		Implementation:        transport.CoderWebsocketImplementation{AcceptOptions: websocket.AcceptOptions{OriginPatterns: s.originPatterns()}},
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			// The connection's context: its subscriptions count against its share.
			ctx = withConnShare(ctx)
			if authorized(ctx) {
				return ctx, nil, nil
			}
			tok := p.Authorization()
			if tok == "" {
				tok, _ = p["authToken"].(string)
			}
			if s.tokenOK(strings.TrimPrefix(tok, "Bearer ")) {
				return context.WithValue(ctx, authKey{}, true), nil, nil
			}
			return ctx, nil, errors.New(errUnauthorized)
		},
	}
	srv.AddTransport(ws)
	srv.AddTransport(transport.SSE{})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](256))
	srv.Use(extension.Introspection{})
	// First: the complexity and depth walks below visit every path through the
	// fragments, which grow exponentially with the document.
	srv.Use(expansionLimit{max: maxExpandedSelections(s.limits.MaxComplexity)})
	srv.Use(extension.FixedComplexityLimit(s.limits.MaxComplexity))
	srv.Use(depthLimit{max: s.limits.MaxDepth})
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		op := graphql.GetOperationContext(ctx)
		if op.Operation != nil && op.Operation.Operation != ast.Query && !authorized(ctx) {
			return graphql.OneShot(graphql.ErrorResponse(ctx, "%s", errUnauthorized))
		}
		return next(withPendingMemo(withReadBudget(withOnDemandBudget(ctx), s.limits.MaxReadBytes)))
	})
	srv.SetRecoverFunc(func(ctx context.Context, err any) error {
		s.log.Error("panic in a GraphQL resolver", "panic", fmt.Sprint(err), "stack", string(debug.Stack()))
		return gqlerror.Errorf("internal error")
	})
	return srv
}

// expansionLimit refuses operations whose selections, with every fragment spread
// replaced by its fragment, number more than max. gqlgen's complexity walk and
// selectionDepth visit each of those: a document of n fragments each spreading the next
// twice has 2^n of them in n lines (TestAttackFragmentFanOut), which held a core for
// ever. expandedSelections counts them in time linear in the document.
type expansionLimit struct{ max int }

func (expansionLimit) ExtensionName() string                   { return "ExpansionLimit" }
func (expansionLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (e expansionLimit) MutateOperationContext(_ context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil {
		return nil
	}
	if n := expandedSelections(op.Operation.SelectionSet, op.Doc, e.max, map[string]int{}); n > e.max {
		return gqlerror.Errorf("the query expands to more than %d selections (fragments spread in place)", e.max)
	}
	return nil
}

// maxExpandedSelections is the expansionLimit for a complexity limit: each selected
// field costs at least 1 in complexity (but introspection's), so a query within the
// complexity limit expands to a few times its number of fields at most.
func maxExpandedSelections(maxComplexity int) int { return max(4*maxComplexity, 10_000) }

// expandedSelections returns the number of selections of set with fragment spreads
// replaced by their fragments (each spread, field and inline fragment counts one),
// saturating at limit+1. sizes memoizes each fragment's expanded size (-1 while it is
// being counted: a cycle, which validation refuses before, counts as over the limit).
func expandedSelections(set ast.SelectionSet, doc *ast.QueryDocument, limit int, sizes map[string]int) int {
	n := 0
	for _, sel := range set {
		n++
		switch v := sel.(type) {
		case *ast.Field:
			n += expandedSelections(v.SelectionSet, doc, limit, sizes)
		case *ast.InlineFragment:
			n += expandedSelections(v.SelectionSet, doc, limit, sizes)
		case *ast.FragmentSpread:
			size, seen := sizes[v.Name]
			switch {
			case seen && size < 0:
				size = limit + 1
			case !seen:
				if f := doc.Fragments.ForName(v.Name); f != nil {
					sizes[v.Name] = -1
					size = expandedSelections(f.SelectionSet, doc, limit, sizes)
				}
				sizes[v.Name] = size
			}
			n += size
		}
		if n > limit {
			return limit + 1
		}
	}
	return n
}

// depthLimit refuses operations whose selections nest deeper than max (fragments
// included).
type depthLimit struct{ max int }

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(_ context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil {
		return nil
	}
	if depth := selectionDepth(op.Operation.SelectionSet, op.Doc, d.max+1); depth > d.max {
		return gqlerror.Errorf("the query nests deeper than %d levels", d.max)
	}
	return nil
}

// selectionDepth returns the nesting depth of a selection set, cut at limit.
func selectionDepth(set ast.SelectionSet, doc *ast.QueryDocument, limit int) int {
	if limit <= 0 || len(set) == 0 {
		return 0
	}
	depth := 0
	for _, sel := range set {
		var d int
		switch v := sel.(type) {
		case *ast.Field:
			d = 1 + selectionDepth(v.SelectionSet, doc, limit-1)
		case *ast.InlineFragment:
			d = selectionDepth(v.SelectionSet, doc, limit)
		case *ast.FragmentSpread:
			if f := doc.Fragments.ForName(v.Name); f != nil {
				d = selectionDepth(f.SelectionSet, doc, limit)
			}
		}
		depth = max(depth, d)
		if depth >= limit {
			return depth
		}
	}
	return depth
}

// isHTMLGet reports a browser's page load (GET asking for HTML, no query).
func isHTMLGet(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Query().Get("query") == "" && r.Header.Get("Upgrade") == "" &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}

// systemHandler serves GraphiQL to browsers and the system schema otherwise, with the
// body limit and the per-request timeout.
func (s *Service) systemHandler(srv *handler.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.Error(w, "not found: the system GraphQL endpoint is /, applications are at /chains/CHAIN/applications/APP", http.StatusNotFound)
			return
		}
		if isHTMLGet(r) {
			s.graphiQL("/", "/").ServeHTTP(w, r)
			return
		}
		if isStream(r) {
			if !authorized(r.Context()) && r.Header.Get("Upgrade") == "" {
				// SSE subscriptions need the token in the header (websockets may send it
				// in connection_init).
				writeGraphQLError(w, http.StatusUnauthorized, errUnauthorized)
				return
			}
			srv.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodPost {
			body, ok := s.readBody(w, r, true)
			if !ok {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.limits.Timeout)
		defer cancel()
		srv.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isStream reports a subscription transport (websocket upgrade or SSE).
func isStream(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// readBody reads a request body within the limits: MaxBody, or MaxPublishBody for an
// authorised request that publishes bytecode or a data blob (when publish is true).
func (s *Service) readBody(w http.ResponseWriter, r *http.Request, publish bool) ([]byte, bool) {
	limit := s.limits.MaxBody
	if publish && authorized(r.Context()) {
		limit = max(limit, s.limits.MaxPublishBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeGraphQLError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body exceeds %d bytes", limit))
		} else {
			writeGraphQLError(w, http.StatusBadRequest, "reading the request body: "+err.Error())
		}
		return nil, false
	}
	if int64(len(body)) > s.limits.MaxBody && !bytes.Contains(body, []byte("publishModule")) && !bytes.Contains(body, []byte("publishDataBlob")) {
		writeGraphQLError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body exceeds %d bytes (only publishModule and publishDataBlob may send up to %d)", s.limits.MaxBody, limit))
		return nil, false
	}
	return body, true
}

// writeGraphQLError answers {"errors":[{"message":msg}]} with an HTTP status.
func writeGraphQLError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"message": msg}}})
}

// tokenOK compares a presented token with the configured one in constant time.
func (s *Service) tokenOK(tok string) bool {
	if s.cfg.Token == "" {
		return true
	}
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) == 1
}

// authenticate marks requests carrying the valid token as authorised; a wrong token is
// refused at once (401), as is any request without one when queries need it too.
func (s *Service) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := s.cfg.Token == ""
		if h := r.Header.Get("Authorization"); h != "" {
			tok, found := strings.CutPrefix(h, "Bearer ")
			if !found || !s.tokenOK(tok) {
				writeGraphQLError(w, http.StatusUnauthorized, "wrong bearer token")
				return
			}
			ok = true
		}
		if !ok && s.cfg.TokenForQueries && r.Method != http.MethodOptions && !isHTMLGet(r) && r.Header.Get("Upgrade") == "" && !strings.HasPrefix(r.URL.Path, "/assets/") && !strings.HasPrefix(r.URL.Path, "/wallet/") {
			writeGraphQLError(w, http.StatusUnauthorized, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authKey{}, ok)))
	})
}

// requireToken refuses unauthorised requests.
func (s *Service) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r.Context()) {
			writeGraphQLError(w, http.StatusUnauthorized, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// originPatterns are the websocket origin patterns of the allowed CORS origins (hosts).
func (s *Service) originPatterns() []string {
	var out []string
	for _, o := range s.cfg.AllowOrigins {
		if o == "*" {
			return []string{"*"}
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		} else {
			out = append(out, o)
		}
	}
	return out
}

// allowedOrigin reports whether AllowOrigins names origin, or holds "*" when wildcard
// is true.
func (s *Service) allowedOrigin(origin string, wildcard bool) bool {
	if origin == "" {
		return false
	}
	for _, o := range s.cfg.AllowOrigins {
		if wildcard && o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// cors answers preflights and sets the CORS headers for the allowed origins; without
// AllowOrigins a browser page of another origin cannot read any answer.
func (s *Service) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := s.allowedOrigin(origin, true)
		if allowed {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept")
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Max-Age", "600")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				http.Error(w, "origin not allowed (mica service --allow-origin)", http.StatusForbidden)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a panic in a handler into a logged 500.
func (s *Service) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving a request", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeGraphQLError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// graphiQL returns the GraphiQL page for an endpoint (Config.GraphiQL, or webui's page
// loading GraphiQL from /assets/).
func (s *Service) graphiQL(endpoint, subscriptions string) http.Handler {
	if s.cfg.GraphiQL != nil {
		return s.cfg.GraphiQL(endpoint, subscriptions)
	}
	return webui.GraphiQL(endpoint, subscriptions)
}
