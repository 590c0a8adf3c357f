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
	"bytes"
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

func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// Contract is the application's contract.
type Contract struct{}

// Instantiate stores the endpoint.
func (Contract) Instantiate(rt *sdk.Runtime, arg []byte) error {
	var p Parameters
	if err := decodeStrict(arg, &p); err != nil {
		return fmt.Errorf(`ai-oracle: instantiation argument must be {"endpoint": "http(s)://..."}: %w`, err)
	}
	if len(p.Endpoint) > MaxEndpointBytes || !(strings.HasPrefix(p.Endpoint, "http://") || strings.HasPrefix(p.Endpoint, "https://")) {
		return fmt.Errorf("ai-oracle: endpoint must be an http or https URL of at most %d bytes", MaxEndpointBytes)
	}
	return endpoint.Set(rt, p.Endpoint)
}

// ExecuteOperation asks the question and stores the answer; it returns the answer as a
// JSON string.
func (Contract) ExecuteOperation(rt *sdk.Runtime, op []byte) ([]byte, error) {
	var o Operation
	if err := decodeStrict(op, &o); err != nil || o.Ask == nil {
		return nil, errors.New(`ai-oracle: operation must be {"ask": {"prompt": "..."}}`)
	}
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
	return json.Marshal(a)
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

// askService asks the application's own service `{ fetch(prompt: "...") }`.
func askService(rt *sdk.Runtime, p string) (string, error) {
	q, err := json.Marshal(map[string]string{"query": fmt.Sprintf("{ fetch(prompt: %s) }", graphQLString(p))})
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
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return "", fmt.Errorf("ai-oracle: the service's answer: %w", err)
	}
	return r.Data.Fetch, nil
}

// graphQLString quotes s as a GraphQL string (JSON escaping is valid GraphQL).
func graphQLString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ExecuteMessage refuses messages: the application sends none.
func (Contract) ExecuteMessage(rt *sdk.Runtime, msg []byte) error {
	return errors.New("ai-oracle: no messages")
}

// Service is the application's service.
type Service struct{}

// HandleQuery answers `{ answer prompt endpoint }` (any subset), `{ fetch(prompt:
// "...") }` (asks the endpoint now, not recorded, and returns the normalized answer;
// the contract uses it as an oracle) and the mutation `ask(prompt: "...")`, which
// schedules {"ask": {"prompt": "..."}}.
func (Service) HandleQuery(rt *sdk.Runtime, q []byte) ([]byte, error) {
	op, err := sdk.ParseGraphQL(q)
	if err != nil {
		return nil, fmt.Errorf("ai-oracle: %w", err)
	}
	if op.Kind == "mutation" {
		return mutate(rt, op.Fields)
	}
	data := map[string]any{}
	for _, f := range op.Fields {
		if f.Selection != nil {
			return nil, fmt.Errorf("ai-oracle: field %q takes no selection", f.Name)
		}
		switch f.Name {
		case "answer", "prompt", "endpoint":
			if f.Args != nil {
				return nil, fmt.Errorf("ai-oracle: field %q takes no arguments", f.Name)
			}
			r := map[string]sdk.Register[string]{"answer": answer, "prompt": prompt, "endpoint": endpoint}[f.Name]
			v, ok, err := r.Get(rt)
			if err != nil {
				return nil, err
			}
			if ok {
				data[f.Key()] = v
			} else {
				data[f.Key()] = nil
			}
		case "fetch":
			p, ok := f.Args["prompt"].(string)
			if !ok || len(f.Args) != 1 {
				return nil, errors.New(`ai-oracle: fetch takes one argument, prompt: "..."`)
			}
			if err := checkPrompt(p); err != nil {
				return nil, err
			}
			a, err := askEndpoint(rt, p)
			if err != nil {
				return nil, err
			}
			data[f.Key()] = strings.ToLower(strings.TrimSpace(a))
		default:
			return nil, fmt.Errorf("ai-oracle: unknown field %q", f.Name)
		}
	}
	return sdk.GraphQLData(data), nil
}

// mutate handles `mutation { ask(prompt: "...") }`.
func mutate(rt *sdk.Runtime, fields []sdk.Field) ([]byte, error) {
	if len(fields) != 1 || fields[0].Name != "ask" || fields[0].Selection != nil {
		return nil, errors.New(`ai-oracle: the only mutation is ask(prompt: "...", viaService: false)`)
	}
	f := fields[0]
	p, ok := f.Args["prompt"].(string)
	if !ok {
		return nil, errors.New(`ai-oracle: ask needs prompt: "..."`)
	}
	if err := checkPrompt(p); err != nil {
		return nil, err
	}
	a := Ask{Prompt: p}
	if v, ok := f.Args["viaService"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return nil, errors.New("ai-oracle: viaService must be a boolean")
		}
		a.ViaService = b
	}
	op, err := json.Marshal(Operation{Ask: &a})
	if err != nil {
		return nil, err
	}
	rt.ScheduleOperation(op)
	return sdk.GraphQLData(map[string]bool{f.Key(): true}), nil
}
