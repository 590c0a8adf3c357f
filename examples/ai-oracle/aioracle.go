// Package aioracle is an application that asks an outside endpoint (an AI model
// behind an HTTP API, say) a question from a contract, so that the answer becomes part
// of the chain. It shows Mica's HTTP oracle and service-as-oracle:
//
//   - The instantiation argument, {"endpoint": "https://ai.example.com/ask"}, names the
//     endpoint. (Its host must be on the committee's HTTP allow-list: `mica net up
//     --http-allow ai.example.com`.)
//   - The operation {"ask": {"prompt": "..."}} makes every validator POST
//     {"prompt": "..."} to the endpoint when it executes the block; the endpoint
//     answers {"answer": "..."}; the answer is recorded in the block and stored. The
//     block commits only if a quorum of validators received the same answer: the
//     endpoint must answer deterministically (a model at temperature 0, a cache), or
//     validators disagree and the block fails with an error saying so.
//   - With {"ask": {"prompt": "...", "viaService": true}} the contract asks its own
//     service instead (service as oracle), which makes the request and normalizes the
//     answer (trimmed, lower case), so validators agree on answers that differ only
//     in form.
//   - The service answers `{ answer prompt endpoint }`, and the mutation
//     `ask(prompt: "...")` schedules the operation.
//
// The contract and service binaries are in the contract and service directories.
package aioracle

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/micachain/mica/sdk"
)

// Bounds of what the application stores.
const (
	MaxPromptBytes   = 4 << 10
	MaxAnswerBytes   = 4 << 10
	MaxEndpointBytes = 2 << 10
)

var (
	endpoint = sdk.NewRegister[string]("endpoint")
	prompt   = sdk.NewRegister[string]("prompt")
	answer   = sdk.NewRegister[string]("answer")
)

// Parameters is the instantiation argument.
type Parameters struct {
	Endpoint string `json:"endpoint"`
}

// Ask asks the endpoint a question.
type Ask struct {
	Prompt string `json:"prompt"`
	// ViaService asks the application's own service (service as oracle), which makes
	// the request and normalizes the answer.
	ViaService bool `json:"viaService,omitempty"`
}

// Operation is the contract's operation: {"ask": {...}}.
type Operation struct {
	Ask *Ask `json:"ask"`
}

// Request is the body POSTed to the endpoint.
type Request struct {
	Prompt string `json:"prompt"`
}

// Response is the endpoint's answer.
type Response struct {
	Answer string `json:"answer"`
}

// Validate requires "ask".
func (o Operation) Validate() error {
	if o.Ask == nil {
		return errors.New(`ai-oracle: operation must be {"ask": {"prompt": "..."}}`)
	}
	return nil
}

// Contract is the application's contract.
type Contract struct{}

// NewContract returns the contract for sdk.Contract and sdktest.
func NewContract() sdk.ContractApp {
	return sdk.ContractOf[Operation, sdk.NoMessage, Parameters](Contract{})
}

// Instantiate stores the endpoint.
func (Contract) Instantiate(rt *sdk.Runtime, p Parameters) error {
	if len(p.Endpoint) > MaxEndpointBytes || !(strings.HasPrefix(p.Endpoint, "http://") || strings.HasPrefix(p.Endpoint, "https://")) {
		return fmt.Errorf("ai-oracle: endpoint must be an http or https URL of at most %d bytes", MaxEndpointBytes)
	}
	return endpoint.Set(rt, p.Endpoint)
}

// ExecuteOperation asks the question and stores the answer; it returns the answer as a
// JSON string.
func (Contract) ExecuteOperation(rt *sdk.Runtime, o Operation) (any, error) {
	if err := checkPrompt(o.Ask.Prompt); err != nil {
		return nil, err
	}
	var a string
	var err error
	if o.Ask.ViaService {
		a, err = askService(rt, o.Ask.Prompt)
	} else {
		a, err = askEndpoint(rt, o.Ask.Prompt)
	}
	if err != nil {
		return nil, err
	}
	if err := prompt.Set(rt, o.Ask.Prompt); err != nil {
		return nil, err
	}
	if err := answer.Set(rt, a); err != nil {
		return nil, err
	}
	return a, nil
}

func checkPrompt(p string) error {
	if p == "" || len(p) > MaxPromptBytes || !utf8.ValidString(p) {
		return fmt.Errorf("ai-oracle: the prompt must be UTF-8 text of 1 to %d bytes", MaxPromptBytes)
	}
	return nil
}

// askEndpoint POSTs the prompt to the endpoint and returns the answer.
func askEndpoint(rt *sdk.Runtime, p string) (string, error) {
	url, ok, err := endpoint.Get(rt)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errors.New("ai-oracle: not instantiated")
	}
	body, err := json.Marshal(Request{Prompt: p})
	if err != nil {
		return "", err
	}
	resp, err := rt.HTTPRequest(sdk.HTTPRequest{
		Method:  "POST",
		URL:     url,
		Headers: []sdk.HTTPHeader{{Name: "Content-Type", Value: "application/json"}},
		Body:    body,
	})
	if err != nil {
		return "", fmt.Errorf("ai-oracle: %w", err)
	}
	if resp.Status != 200 {
		return "", fmt.Errorf("ai-oracle: the endpoint answered HTTP %d", resp.Status)
	}
	var r Response
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return "", fmt.Errorf(`ai-oracle: the endpoint's answer is not {"answer": "..."}: %w`, err)
	}
	if len(r.Answer) > MaxAnswerBytes || !utf8.ValidString(r.Answer) {
		return "", fmt.Errorf("ai-oracle: the answer must be UTF-8 text of at most %d bytes", MaxAnswerBytes)
	}
	return r.Answer, nil
}

// askService asks the application's own service `{ fetch(prompt: $p) }`.
func askService(rt *sdk.Runtime, p string) (string, error) {
	q, err := json.Marshal(sdk.GraphQLRequest{Query: "query($p: String!) { fetch(prompt: $p) }", Variables: map[string]any{"p": p}})
	if err != nil {
		return "", err
	}
	out, err := rt.QueryService(rt.ApplicationID(), q)
	if err != nil {
		return "", fmt.Errorf("ai-oracle: %w", err)
	}
	var r struct {
		Data struct {
			Fetch string `json:"fetch"`
		} `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return "", fmt.Errorf("ai-oracle: the service's answer: %w", err)
	}
	if len(r.Errors) > 0 {
		return "", fmt.Errorf("ai-oracle: the service: %s", r.Errors[0].Message)
	}
	return r.Data.Fetch, nil
}

// ExecuteMessage is never called: decoding sdk.NoMessage fails.
func (Contract) ExecuteMessage(*sdk.Runtime, sdk.NoMessage) error {
	return errors.New("ai-oracle: no messages")
}

// Query resolves the service's queries; the schema follows from Query and Mutation
// (sdk.GraphQLServiceOf).
type Query struct{ rt *sdk.Runtime }

// Mutation resolves the service's mutations.
type Mutation struct{ rt *sdk.Runtime }

// NewService returns the service for sdk.Service and sdktest.
func NewService() sdk.ServiceApp {
	return sdk.MustGraphQLServiceOf(func(rt *sdk.Runtime) *Query { return &Query{rt} }, func(rt *sdk.Runtime) *Mutation { return &Mutation{rt} })
}

func get(rt *sdk.Runtime, r sdk.Register[string]) (*string, error) {
	v, ok, err := r.Get(rt)
	if !ok || err != nil {
		return nil, err
	}
	return &v, nil
}

func (*Query) GraphQLDescriptions() map[string]string {
	return map[string]string{
		"answer":   "The last answer recorded on chain (null before the first).",
		"prompt":   "The prompt of the last answer.",
		"endpoint": "The endpoint given at instantiation.",
		"fetch":    "Asks the endpoint now (not recorded) and returns the normalized answer; the contract uses it as an oracle.",
	}
}

func (q *Query) Answer() (*string, error)   { return get(q.rt, answer) }
func (q *Query) Prompt() (*string, error)   { return get(q.rt, prompt) }
func (q *Query) Endpoint() (*string, error) { return get(q.rt, endpoint) }

func (q *Query) Fetch(args struct{ Prompt string }) (string, error) {
	if err := checkPrompt(args.Prompt); err != nil {
		return "", err
	}
	a, err := askEndpoint(q.rt, args.Prompt)
	if err != nil {
		return "", err
	}
	return strings.ToLower(strings.TrimSpace(a)), nil
}

func (*Mutation) GraphQLDescriptions() map[string]string {
	return map[string]string{"ask": `Schedules the operation {"ask": {"prompt": prompt, "viaService": viaService}}.`}
}

func (m *Mutation) Ask(args struct {
	Prompt     string
	ViaService bool `default:"false"`
}) (bool, error) {
	if err := checkPrompt(args.Prompt); err != nil {
		return false, err
	}
	return true, sdk.Schedule(m.rt, Operation{Ask: &Ask{Prompt: args.Prompt, ViaService: args.ViaService}})
}
