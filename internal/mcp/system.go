package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/nodeservice"
	"github.com/micachain/mica/internal/wallet"
)

// The system tools: each is one request to the system schema at "/"
// (/work/briefs/system-schema.graphql is the contract).

type chainIn struct {
	Chain string `json:"chain,omitempty" jsonschema:"chain id (64 hex digits); default: the wallet's default chain"`
}

type balanceIn struct {
	Chain string `json:"chain,omitempty" jsonschema:"chain id (64 hex digits); default: the wallet's default chain"`
	Owner string `json:"owner,omitempty" jsonschema:"an owner whose balance on the chain to read; default: every owner balance"`
}

type blockIn struct {
	Chain  string `json:"chain,omitempty" jsonschema:"chain id (64 hex digits); default: the wallet's default chain"`
	Height *int64 `json:"height,omitempty" jsonschema:"block height; default: the latest block"`
	Hash   string `json:"hash,omitempty" jsonschema:"block hash, instead of a height"`
}

type transferIn struct {
	Chain     string `json:"chain,omitempty" jsonschema:"the chain to send from; default: the wallet's default chain"`
	Owner     string `json:"owner,omitempty" jsonschema:"the owner account on the chain to send from; default: the chain's own balance"`
	Recipient string `json:"recipient" jsonschema:"CHAIN (the chain's balance) or OWNER@CHAIN"`
	Amount    string `json:"amount" jsonschema:"decimal tokens, e.g. \"10\" or \"0.5\""`
}

type openChainIn struct {
	Chain   string `json:"chain,omitempty" jsonschema:"the parent chain that opens the new one; default: the wallet's default chain"`
	Owner   string `json:"owner,omitempty" jsonschema:"owner of the new chain; default: a new key kept in the wallet"`
	Balance string `json:"balance,omitempty" jsonschema:"tokens moved from the parent chain to the new chain; default 0"`
}

type graphqlIn struct {
	Chain         string         `json:"chain,omitempty" jsonschema:"with application: the chain whose application endpoint to query"`
	Application   string         `json:"application,omitempty" jsonschema:"application id: query the application's endpoint; default: the system schema"`
	Query         string         `json:"query" jsonschema:"the GraphQL document"`
	Variables     map[string]any `json:"variables,omitempty" jsonschema:"the document's variables"`
	OperationName string         `json:"operationName,omitempty" jsonschema:"the operation to run when the document has several"`
}

// optional returns nil for "" (GraphQL null) and s otherwise.
func optional(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) addSystemTools() {
	ro := &sdk.ToolAnnotations{ReadOnlyHint: true}
	rw := &sdk.ToolAnnotations{DestructiveHint: ptr(true)}

	sdk.AddTool(s.srv, &sdk.Tool{Name: "list_chains", Annotations: ro,
		Description: "The wallet's chains (id, signing owner, default, next height, balance) and the owners whose keys it holds."},
		func(ctx context.Context, _ *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, any, error) {
			r, err := s.graphqlResult(ctx, "/", `{ wallet { defaultChain owners chains { chainId owner isDefault nextHeight balance } } }`, nil, "")
			return r, nil, err
		})

	sdk.AddTool(s.srv, &sdk.Tool{Name: "balance", Annotations: ro,
		Description: "Balances on a chain as the local replica holds them: the chain's own balance and one owner's, or every owner's."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in balanceIn) (*sdk.CallToolResult, any, error) {
			vars := map[string]any{"c": optional(in.Chain)}
			q := `query($c: ChainID) { chain(chain: $c) { chainId balance ownerBalances { owner balance } } }`
			if in.Owner != "" {
				vars["o"] = in.Owner
				q = `query($c: ChainID, $o: Owner!) { chain(chain: $c) { chainId balance ownerBalance(owner: $o) } }`
			}
			r, err := s.graphqlResult(ctx, "/", q, vars, "")
			return r, nil, err
		})

	sdk.AddTool(s.srv, &sdk.Tool{Name: "get_block", Annotations: ro,
		Description: "A block of a chain (the latest one, or by height or hash) with its operations, incoming bundles, outgoing messages and events decoded."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in blockIn) (*sdk.CallToolResult, any, error) {
			vars := map[string]any{"c": optional(in.Chain), "h": in.Height, "x": optional(in.Hash)}
			r, err := s.graphqlResult(ctx, "/", `query($c: ChainID, $h: Int64, $x: Hash) { block(chain: $c, height: $h, hash: $x) {
  chainId height hash previousHash timestamp epoch authenticatedOwner round
  operations { index kind applicationId summary json }
  incomingBundles { origin height action messages { destination kind applicationId summary } }
  outgoingMessages { destination kind applicationId summary }
  events { streamApplication streamName index }
  certificate { hash kind round signatures } } }`, vars, "")
			return r, nil, err
		})

	sdk.AddTool(s.srv, &sdk.Tool{Name: "list_applications", Annotations: ro,
		Description: "The applications each chain of the wallet uses (or one chain's), with the names of the tools generated for them; refreshes the generated tools."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in chainIn) (*sdk.CallToolResult, any, error) {
			return s.listApplications(ctx, in.Chain)
		})

	sdk.AddTool(s.srv, &sdk.Tool{Name: "transfer", Annotations: rw,
		Description: "Transfer tokens from a chain of the wallet (its balance, or an owner's account on it) to an account; the node signs and commits the block. Subject to the wallet's agent policy (per-transfer and per-day limits, allowed recipients)."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in transferIn) (*sdk.CallToolResult, any, error) {
			return s.transfer(ctx, in), nil, nil
		})

	sdk.AddTool(s.srv, &sdk.Tool{Name: "open_chain", Annotations: rw,
		Description: "Open a new chain from a chain of the wallet, optionally funded from it (a funded chain counts against the agent policy's limits like a transfer)."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in openChainIn) (*sdk.CallToolResult, any, error) {
			return s.openChain(ctx, in), nil, nil
		})

	sdk.AddTool(s.srv, &sdk.Tool{Name: "process_inbox", Annotations: &sdk.ToolAnnotations{DestructiveHint: ptr(false)},
		Description: "Receive the incoming bundles (transfers, messages) waiting in a chain's inbox, committing blocks on it. Refused when the agent policy is read-only."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in chainIn) (*sdk.CallToolResult, any, error) {
			p, err := s.policy()
			if err == nil {
				err = p.CheckMutation("process_inbox")
			}
			if err != nil {
				return errorResult(err), nil, nil
			}
			r, err := s.graphqlResult(ctx, "/", `mutation($c: ChainID) { processInbox(chain: $c) { chainId height hash } }`, map[string]any{"c": optional(in.Chain)}, "")
			return r, nil, err
		})

	sdk.AddTool(s.srv, &sdk.Tool{Name: "graphql", Annotations: rw,
		Description: "Run any GraphQL document on the node: the system schema (default) or an application's endpoint (application, and chain). Mutations are subject to the wallet's agent policy: refused when read-only; on the system schema refused whenever the policy limits spending (use transfer/open_chain/process_inbox); on an application, allowed only for the policy's allowed applications."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in graphqlIn) (*sdk.CallToolResult, any, error) {
			return s.rawGraphQL(ctx, in), nil, nil
		})
}

// transfer checks the policy, reserves the amount in the day's ledger and submits.
func (s *Server) transfer(ctx context.Context, in transferIn) *sdk.CallToolResult {
	amount, err := base.ParseAmount(in.Amount)
	if err != nil {
		return errorResult(fmt.Errorf("amount: %v", err))
	}
	if amount.IsZero() {
		return errorResult(errors.New("amount: must be more than 0"))
	}
	recipient, err := base.ParseAccount(in.Recipient)
	if err != nil {
		return errorResult(fmt.Errorf("recipient: %v", err))
	}
	p, err := s.policy()
	if err == nil {
		err = p.CheckTransfer(amount, recipient.String())
	}
	if err == nil {
		err = s.ledger.Reserve(s.cfg.Now(), amount, p.PerDay)
	}
	if err != nil {
		return errorResult(err)
	}
	vars := map[string]any{"c": optional(in.Chain), "o": optional(in.Owner), "r": recipient.String(), "a": amount.String()}
	r, _ := s.graphqlResult(ctx, "/", `mutation($c: ChainID, $o: Owner, $r: Account!, $a: Amount!) { transfer(chain: $c, owner: $o, recipient: $r, amount: $a) { chainId height hash } }`, vars, "")
	return r
}

// openChain checks the policy for the new chain's balance (a transfer to a chain that
// the wallet owns, unless another owner is given) and submits.
func (s *Server) openChain(ctx context.Context, in openChainIn) *sdk.CallToolResult {
	p, err := s.policy()
	if err != nil {
		return errorResult(err)
	}
	var balance base.Amount
	if in.Balance != "" {
		if balance, err = base.ParseAmount(in.Balance); err != nil {
			return errorResult(fmt.Errorf("balance: %v", err))
		}
	}
	if in.Owner != "" {
		o, err := base.ParseOwner(in.Owner)
		if err != nil {
			return errorResult(fmt.Errorf("owner: %v", err))
		}
		in.Owner = o.String()
	}
	if balance.IsZero() {
		if err := p.CheckMutation("open_chain"); err != nil {
			return errorResult(err)
		}
	} else {
		if err := p.CheckTransfer(balance, ""); err != nil {
			return errorResult(fmt.Errorf("open_chain with a balance: %w", err))
		}
		if in.Owner != "" && p.RestrictsRecipients() {
			// A chain funded for someone else's key is a transfer to a recipient the
			// policy cannot name in advance.
			owned, err := s.walletOwners(ctx)
			if err != nil {
				return errorResult(err)
			}
			if !slices.Contains(owned, in.Owner) {
				return errorResult(refusal(fmt.Sprintf("open_chain with a balance for owner %s refused: the wallet holds no key for it and the wallet's agent policy only allows transfers to listed recipients; open it without owner (a new key kept in the wallet) or without balance", in.Owner)))
			}
		}
		if err := s.ledger.Reserve(s.cfg.Now(), balance, p.PerDay); err != nil {
			return errorResult(err)
		}
	}
	vars := map[string]any{"c": optional(in.Chain), "o": optional(in.Owner)}
	if !balance.IsZero() {
		vars["b"] = balance.String()
	}
	r, _ := s.graphqlResult(ctx, "/", `mutation($c: ChainID, $o: Owner, $b: Amount) { openChain(chain: $c, owner: $o, balance: $b) { chainId block { chainId height hash } } }`, vars, "")
	return r
}

func (s *Server) walletOwners(ctx context.Context) ([]string, error) {
	data, err := s.exec(ctx, "/", `{ wallet { owners } }`, nil)
	if err != nil {
		return nil, err
	}
	var r struct {
		Wallet struct {
			Owners []string `json:"owners"`
		} `json:"wallet"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("wallet owners: %v", err)
	}
	return r.Wallet.Owners, nil
}

func (s *Server) rawGraphQL(ctx context.Context, in graphqlIn) *sdk.CallToolResult {
	if len(in.Query) > maxQuery {
		return errorResult(fmt.Errorf("query: longer than %d bytes", maxQuery))
	}
	path, app := "/", ""
	if in.Application != "" {
		a, err := base.ParseApplicationID(in.Application)
		if err != nil {
			return errorResult(fmt.Errorf("application: %v", err))
		}
		app = a.String()
		chain := in.Chain
		if chain == "" {
			s.mu.Lock()
			if e := s.apps[app]; e != nil && len(e.chains) > 0 {
				chain = e.chains[0]
			}
			s.mu.Unlock()
			if chain == "" {
				return errorResult(errors.New("chain: required with application (the chain whose application endpoint to query)"))
			}
		}
		c, err := validChain(chain)
		if err != nil {
			return errorResult(fmt.Errorf("chain: %v", err))
		}
		path = appPath(c, app)
	} else if in.Chain != "" {
		return errorResult(errors.New("chain: only with application (system queries take the chain as a GraphQL argument)"))
	}
	var mutation bool
	p, err := s.policy()
	if err == nil {
		mutation, err = checkDocument(p, in.Query, app)
	} else if _, rerr := checkDocument(&readOnlyPolicy, in.Query, app); rerr == nil {
		// An unreadable policy refuses mutations only.
		err = nil
	}
	if err != nil {
		return errorResult(err)
	}
	if !mutation {
		// A query commits nothing, even if the application's service schedules
		// operations while answering it.
		ctx = nodeservice.WithoutCommit(ctx)
	}
	r, _ := s.graphqlResult(ctx, path, in.Query, in.Variables, in.OperationName)
	return r
}

type appInfo struct {
	ApplicationID string          `json:"applicationId"`
	Description   json.RawMessage `json:"description,omitempty"`
	Link          string          `json:"link"`
	Tools         []string        `json:"tools"`
	ToolsError    string          `json:"toolsError,omitempty"`
}

func (s *Server) listApplications(ctx context.Context, chain string) (*sdk.CallToolResult, any, error) {
	s.refreshMu.Lock()
	byChain, err := s.discover(ctx)
	s.refreshMu.Unlock()
	if err != nil {
		return errorResult(err), nil, nil
	}
	if chain != "" {
		c, err := validChain(chain)
		if err != nil {
			return errorResult(fmt.Errorf("chain: %v", err)), nil, nil
		}
		if _, ok := byChain[c]; !ok {
			return errorResult(fmt.Errorf("chain %s is not in the wallet", c)), nil, nil
		}
		byChain = map[string][]json.RawMessage{c: byChain[c]}
	}
	out := map[string][]appInfo{}
	s.mu.Lock()
	for c, apps := range byChain {
		list := []appInfo{}
		for _, raw := range apps {
			var a appInfo
			if json.Unmarshal(raw, &a) != nil {
				continue
			}
			a.Tools = []string{}
			if e := s.apps[a.ApplicationID]; e != nil {
				a.Tools = append(a.Tools, e.tools...)
				a.ToolsError = e.err
				if e.prefix != "" {
					a.ToolsError = ""
				}
			} else {
				a.ToolsError = fmt.Sprintf("no tools: more than %d applications", MaxApps)
			}
			list = append(list, a)
		}
		out[c] = list
	}
	s.mu.Unlock()
	b, err := json.Marshal(map[string]any{"chains": out})
	if err != nil {
		return nil, nil, err
	}
	return textResult(b), nil, nil
}

// readOnlyPolicy is what checkDocument uses when the policy cannot be read: queries
// pass, mutations do not.
var readOnlyPolicy = *wallet.NoAgentPolicy()

func (s *Server) addResources() {
	s.srv.AddResource(&sdk.Resource{URI: "mica://wallet", Name: "wallet", MIMEType: "application/json",
		Description: "The wallet's chains, default chain and owners."},
		func(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
			data, err := s.exec(ctx, "/", `{ wallet { defaultChain owners chains { chainId owner isDefault nextHeight balance } } }`, nil)
			if err != nil {
				return nil, err
			}
			return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: req.Params.URI, MIMEType: "application/json", Text: string(data)}}}, nil
		})
	s.srv.AddResourceTemplate(&sdk.ResourceTemplate{URITemplate: "mica://chains/{chain}", Name: "chain", MIMEType: "application/json",
		Description: "A chain's state on the local replica: balances, ownership, epoch, next height, tip, inbox and outbox, applications."},
		func(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
			c, ok := strings.CutPrefix(req.Params.URI, "mica://chains/")
			if !ok {
				return nil, sdk.ResourceNotFoundError(req.Params.URI)
			}
			id, err := validChain(c)
			if err != nil {
				return nil, sdk.ResourceNotFoundError(req.Params.URI)
			}
			data, err := s.exec(ctx, "/", `query($c: ChainID) { chain(chain: $c) {
  chainId balance ownerBalances { owner balance }
  ownership { superOwners owners { owner weight } multiLeaderRounds open }
  epoch nextHeight tipHash timestamp closed
  inbox { pendingBundles } outbox { targets pendingHeights }
  applications { applicationId link } } }`, map[string]any{"c": id})
			if err != nil {
				return nil, fmt.Errorf("chain %s: %v", id, err)
			}
			return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: req.Params.URI, MIMEType: "application/json", Text: string(data)}}}, nil
		})
}
