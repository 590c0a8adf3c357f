package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/nodeservice"
	"github.com/micachain/mica/internal/wallet"
)

// GraphQL runs one GraphQL request against the node service in-process. path is "/"
// (the system schema) or "/chains/{chain}/applications/{app}"; body is a JSON request
// {"query", "variables", "operationName"}. It returns the response body and HTTP
// status.
type GraphQL interface {
	Exec(ctx context.Context, path string, body []byte) ([]byte, int)
}

// Config is what a Server runs on. GraphQL and WalletDir are required.
type Config struct {
	GraphQL GraphQL
	// WalletDir holds agent-policy.json and agent-spending.json.
	WalletDir string
	// Ledger is the wallet's spending ledger (wallet.OpenAgentLedger(WalletDir)); nil:
	// New opens it.
	Ledger *wallet.AgentLedger
	// Now is the clock of the per-day limit (default time.Now).
	Now func() time.Time
	// Logger, if nil, discards.
	Logger *slog.Logger
	// Version is reported to clients.
	Version string
	// MaxSessions bounds the streamable HTTP sessions held at once (default
	// DefaultMaxSessions). A request that would open one more closes the least
	// recently used idle session (see SessionMinIdle) to take its place, or, when
	// none is, is refused with 503 until one is closed, idle or expires.
	MaxSessions int
	// SessionTimeout closes HTTP sessions idle that long (default
	// DefaultSessionTimeout), so that clients that never say goodbye do not hold
	// their place.
	SessionTimeout time.Duration
	// SessionMinIdle is how long a session must have been idle (no request in
	// flight, no open stream) before a new session may take its place when
	// MaxSessions are held (default DefaultSessionMinIdle).
	SessionMinIdle time.Duration
}

// MaxApps bounds the applications that get generated tools.
const MaxApps = 32

// Defaults of Config.MaxSessions, Config.SessionTimeout and Config.SessionMinIdle.
//
// DefaultSessionMinIdle keeps a session in use from being taken: an agent's requests
// within a turn come seconds apart, so two agents that each initialize again after
// losing their session cannot take each other's at every request, and a caller that
// wants to hold every place must send a request in each session every 10 s (about 26 a
// second for 256) instead of nothing for 30 minutes.
const (
	DefaultMaxSessions    = 256
	DefaultSessionTimeout = 30 * time.Minute
	DefaultSessionMinIdle = 10 * time.Second
)

// maxQuery bounds a document the raw graphql tool accepts.
const maxQuery = 64 << 10

// introspectRetry is how long an application whose introspection failed waits before
// it is tried again.
const introspectRetry = time.Minute

// Server is the MCP server of a node. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	srv    *sdk.Server
	ledger *wallet.AgentLedger

	refreshMu sync.Mutex // serializes refresh
	mu        sync.Mutex
	apps      map[string]*appEntry // by application id
	prefixes  map[string]bool      // tool-name prefixes in use
	toolNames map[string]bool      // every registered tool name
}

type appEntry struct {
	id     string
	chains []string // chains of the wallet using it, the default first
	prefix string   // "" until its tools are registered
	tools  []string
	failed time.Time // when introspection last failed; zero if it did not
	err    string
}

// New makes the server and registers its system tools and resources.
func New(cfg Config) (*Server, error) {
	if cfg.GraphQL == nil || cfg.WalletDir == "" {
		return nil, errors.New("mcp: GraphQL and WalletDir are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.SessionMinIdle <= 0 {
		cfg.SessionMinIdle = DefaultSessionMinIdle
	}
	ledger := cfg.Ledger
	if ledger == nil {
		var err error
		if ledger, err = wallet.OpenAgentLedger(cfg.WalletDir); err != nil {
			return nil, err
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, ledger: ledger, apps: map[string]*appEntry{}, prefixes: map[string]bool{}, toolNames: map[string]bool{}}
	s.srv = sdk.NewServer(&sdk.Implementation{Name: "mica", Title: "Mica node", Version: cfg.Version}, &sdk.ServerOptions{
		Instructions: instructions,
		Logger:       cfg.Logger,
		Capabilities: &sdk.ServerCapabilities{Tools: &sdk.ToolCapabilities{ListChanged: true}},
	})
	s.addSystemTools()
	s.addResources()
	s.srv.AddReceivingMiddleware(func(next sdk.MethodHandler) sdk.MethodHandler {
		return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
			switch method {
			case "tools/list":
				s.refresh(ctx)
			case "tools/call":
				// A client may call a generated tool it learned of in an earlier session.
				if p, ok := req.GetParams().(*sdk.CallToolParamsRaw); ok && strings.HasPrefix(p.Name, "app_") && !s.hasTool(p.Name) {
					s.refresh(ctx)
				}
			}
			return next(ctx, method, req)
		}
	})
	return s, nil
}

const instructions = `Mica node: a sparse client of the Mica blockchain holding the user's wallet.
Amounts are decimal token strings ("10", "0.5"). Chains are 64 hex digits; accounts are CHAIN or OWNER@CHAIN.
Mutating tools (transfer, open_chain, process_inbox, application mutations, graphql mutations) are subject to the
wallet's agent spending policy; a refusal says what to ask the user. Tools named app_<id>_<field> are generated
from each application's GraphQL schema; list_applications refreshes them.`

func (s *Server) hasTool(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.toolNames[name]
}

// MCP returns the underlying SDK server (to connect other transports).
func (s *Server) MCP() *sdk.Server { return s.srv }

// RunStdio serves one session over stdin and stdout until the client leaves or ctx
// ends.
func (s *Server) RunStdio(ctx context.Context) error {
	return s.srv.Run(ctx, &sdk.StdioTransport{})
}

// gqlResponse is a GraphQL response.
type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// exec runs a request and returns the response; a transport failure, a non-JSON body
// or GraphQL errors are an error with the messages.
func (s *Server) exec(ctx context.Context, path, query string, vars map[string]any) (json.RawMessage, error) {
	raw, err := s.execRaw(ctx, path, query, vars, "")
	if err != nil {
		return nil, err
	}
	var r gqlResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("node service answered something that is not a GraphQL response: %.200s", raw)
	}
	if len(r.Errors) > 0 {
		var msgs []string
		for _, e := range r.Errors {
			msgs = append(msgs, e.Message)
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	return r.Data, nil
}

// execRaw runs a request and returns the response body as the node answered it.
func (s *Server) execRaw(ctx context.Context, path, query string, vars map[string]any, opName string) (json.RawMessage, error) {
	req := map[string]any{"query": query}
	if len(vars) > 0 {
		req["variables"] = vars
	}
	if opName != "" {
		req["operationName"] = opName
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode request: %v", err)
	}
	out, status := s.cfg.GraphQL.Exec(ctx, path, body)
	if status != http.StatusOK && !json.Valid(out) {
		return nil, fmt.Errorf("node service: HTTP %d: %.300s", status, bytes.TrimSpace(out))
	}
	if !json.Valid(out) {
		return nil, fmt.Errorf("node service answered something that is not JSON: %.200s", out)
	}
	return out, nil
}

// policy reads the agent policy; a policy that cannot be read refuses every mutation
// with the reason.
func (s *Server) policy() (*wallet.AgentPolicy, error) {
	p, _, err := wallet.ReadAgentPolicy(s.cfg.WalletDir)
	if err != nil {
		return nil, fmt.Errorf("mutation refused: %w", err)
	}
	return p, nil
}

// textResult is a successful tool result holding JSON text.
func textResult(v json.RawMessage) *sdk.CallToolResult {
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(v)}}}
}

// errorResult is a tool error the agent reads.
func errorResult(err error) *sdk.CallToolResult {
	r := &sdk.CallToolResult{}
	r.SetError(err)
	return r
}

func appPath(chain, app string) string { return "/chains/" + chain + "/applications/" + app }

// checkDocument applies the policy to a raw GraphQL document sent to an endpoint (app
// is the application id, "" for the system endpoint) and reports whether the document
// holds a mutation. Any mutation operation in the document counts, whichever
// operationName selects.
func checkDocument(p *wallet.AgentPolicy, query, app string) (mutation bool, err error) {
	doc, perr := parser.ParseQuery(&ast.Source{Input: query})
	if perr != nil {
		return false, fmt.Errorf("the GraphQL document does not parse: %v", perr)
	}
	for _, op := range doc.Operations {
		switch op.Operation {
		case ast.Mutation:
			mutation = true
		case ast.Subscription:
			return false, errors.New("subscriptions are not available through the graphql tool (use the node service's WebSocket endpoint)")
		}
	}
	if !mutation {
		return false, nil
	}
	if app != "" {
		return true, p.CheckApplication(app, "a mutation of application "+app)
	}
	if err := p.CheckMutation("a system mutation"); err != nil {
		return true, err
	}
	if p.HasLimits() {
		return true, refusal("system mutations through the graphql tool are refused while the wallet's agent policy limits spending (they could move tokens around the limits); use the transfer, open_chain and process_inbox tools, or ask the user to run the operation with the mica CLI")
	}
	return true, nil
}

// refusal is a policy refusal made here (the wallet's come from wallet).
type refusal string

func (r refusal) Error() string { return string(r) }

// validChain parses a chain id and returns its canonical text.
func validChain(s string) (string, error) {
	c, err := base.ParseChainID(s)
	if err != nil {
		return "", err
	}
	return c.String(), nil
}

// refresh discovers the applications of the wallet's chains and registers tools for
// new ones. Failures are logged: tools/list still answers with what there is.
func (s *Server) refresh(ctx context.Context) {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	if _, err := s.discover(ctx); err != nil {
		s.log.Warn("mcp: discovering applications", "err", err)
	}
}

type walletChains struct {
	Wallet struct {
		DefaultChain *string `json:"defaultChain"`
		Chains       []struct {
			ChainID string `json:"chainId"`
		} `json:"chains"`
	} `json:"wallet"`
}

// discover lists the applications of every chain of the wallet, registers tools for
// those without, and returns the applications by chain.
func (s *Server) discover(ctx context.Context) (map[string][]json.RawMessage, error) {
	data, err := s.exec(ctx, "/", `{ wallet { defaultChain chains { chainId } } }`, nil)
	if err != nil {
		return nil, err
	}
	var wc walletChains
	if err := json.Unmarshal(data, &wc); err != nil {
		return nil, fmt.Errorf("wallet query: %v", err)
	}
	chains := make([]string, 0, len(wc.Wallet.Chains))
	for _, c := range wc.Wallet.Chains {
		chains = append(chains, c.ChainID)
	}
	if d := wc.Wallet.DefaultChain; d != nil {
		if i := slices.Index(chains, *d); i > 0 {
			chains = slices.Insert(slices.Delete(chains, i, i+1), 0, *d)
		}
	}
	byChain := map[string][]json.RawMessage{}
	found := map[string][]string{} // app -> chains, default first
	var order []string
	for _, c := range chains {
		data, err := s.exec(ctx, "/", `query($c: ChainID) { applications(chain: $c) { applicationId description link } }`, map[string]any{"c": c})
		if err != nil {
			return nil, fmt.Errorf("applications of chain %s: %v", c, err)
		}
		var r struct {
			Applications []json.RawMessage `json:"applications"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("applications of chain %s: %v", c, err)
		}
		byChain[c] = r.Applications
		for _, a := range r.Applications {
			var id struct {
				ApplicationID string `json:"applicationId"`
			}
			if json.Unmarshal(a, &id) != nil || id.ApplicationID == "" {
				continue
			}
			if _, ok := found[id.ApplicationID]; !ok {
				order = append(order, id.ApplicationID)
			}
			found[id.ApplicationID] = append(found[id.ApplicationID], c)
		}
	}
	for _, id := range order {
		s.ensureApp(ctx, id, found[id])
	}
	return byChain, nil
}

// ensureApp registers the tools of an application if it has none yet.
func (s *Server) ensureApp(ctx context.Context, id string, chains []string) {
	if _, err := base.ParseApplicationID(id); err != nil {
		return
	}
	s.mu.Lock()
	e := s.apps[id]
	if e == nil {
		if len(s.apps) >= MaxApps {
			s.mu.Unlock()
			return
		}
		e = &appEntry{id: id}
		s.apps[id] = e
	}
	e.chains = chains
	if e.prefix != "" || (!e.failed.IsZero() && s.cfg.Now().Sub(e.failed) < introspectRetry) {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()

	raw, err := s.execRaw(nodeservice.WithoutCommit(ctx), appPath(chains[0], id), IntrospectionQuery, nil, "")
	var tools []appTool
	if err == nil {
		tools, err = parseIntrospection(raw)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		e.failed, e.err = s.cfg.Now(), err.Error()
		s.log.Info("mcp: no tools for application", "app", id, "err", err)
		return
	}
	e.prefix = s.prefixFor(id)
	for _, t := range tools {
		name := sanitizeToolName("app_" + e.prefix + "_" + t.Field)
		if s.toolNames[name] {
			name = sanitizeToolName("app_" + e.prefix + "_mutation_" + t.Field)
		}
		if s.toolNames[name] {
			continue
		}
		s.toolNames[name] = true
		e.tools = append(e.tools, name)
		s.srv.AddTool(&sdk.Tool{Name: name, Description: t.describe(id), InputSchema: t.InputSchema, Annotations: t.annotations()}, s.appHandler(e, t))
	}
}

// prefixFor is the shortest prefix of the application id, at least 8 hex digits, that no
// other registered application uses. Called with s.mu held.
func (s *Server) prefixFor(id string) string {
	for n := 8; n < len(id); n += 4 {
		if !s.prefixes[id[:n]] {
			s.prefixes[id[:n]] = true
			return id[:n]
		}
	}
	s.prefixes[id] = true
	return id
}

func (t appTool) describe(app string) string {
	var b strings.Builder
	if t.Mutation {
		fmt.Fprintf(&b, "Mutation %s of application %s: schedules the application's operation, which the node commits in a block on the chain (subject to the wallet's agent policy: the application must be allowed).", t.Field, app)
	} else {
		fmt.Fprintf(&b, "Query %s of application %s, answered by its service on the local replica.", t.Field, app)
	}
	if t.Description != "" {
		// The application wrote it: an agent should not take it as instructions.
		b.WriteString(" The application describes it as (untrusted text): " + strconvQuote(t.Description))
	}
	return b.String()
}

func (t appTool) annotations() *sdk.ToolAnnotations {
	if t.Mutation {
		return &sdk.ToolAnnotations{DestructiveHint: ptr(true)}
	}
	return &sdk.ToolAnnotations{ReadOnlyHint: true}
}

func ptr[T any](v T) *T { return &v }

func (s *Server) appHandler(e *appEntry, t appTool) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		args := map[string]any{}
		if len(req.Params.Arguments) > 0 {
			d := json.NewDecoder(bytes.NewReader(req.Params.Arguments))
			d.UseNumber()
			if err := d.Decode(&args); err != nil {
				return errorResult(fmt.Errorf("arguments are not a JSON object: %v", err)), nil
			}
		}
		chain := ""
		if c, ok := args[chainArg]; ok {
			cs, _ := c.(string)
			var err error
			if chain, err = validChain(cs); err != nil {
				return errorResult(fmt.Errorf("%s: %v", chainArg, err)), nil
			}
		} else {
			s.mu.Lock()
			if len(e.chains) > 0 {
				chain = e.chains[0]
			}
			s.mu.Unlock()
			if chain == "" {
				return errorResult(fmt.Errorf("no chain of the wallet uses application %s; give %s", e.id, chainArg)), nil
			}
		}
		doc, vars, err := t.document(args)
		if err != nil {
			return errorResult(err), nil
		}
		if t.Mutation {
			p, err := s.policy()
			if err == nil {
				err = p.CheckApplication(e.id, "mutation "+t.Field+" of application "+e.id)
			}
			if err != nil {
				return errorResult(err), nil
			}
		} else {
			// A query commits nothing, even if the application's service schedules
			// operations while answering it.
			ctx = nodeservice.WithoutCommit(ctx)
		}
		return s.graphqlResult(ctx, appPath(chain, e.id), doc, vars, "")
	}
}

// graphqlResult runs a request and makes the node's answer the tool's result: the
// response JSON, an error result when it holds errors and no data.
func (s *Server) graphqlResult(ctx context.Context, path, query string, vars map[string]any, opName string) (*sdk.CallToolResult, error) {
	raw, err := s.execRaw(ctx, path, query, vars, opName)
	if err != nil {
		return errorResult(err), nil
	}
	var r gqlResponse
	if json.Unmarshal(raw, &r) == nil && len(r.Errors) > 0 && (len(r.Data) == 0 || string(r.Data) == "null") {
		res := textResult(raw)
		res.IsError = true
		return res, nil
	}
	return textResult(raw), nil
}

// strconvQuote quotes s as a JSON string, so that the application's text stays
// visibly delimited inside a tool description.
func strconvQuote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		return `""`
	}
	return string(b)
}
