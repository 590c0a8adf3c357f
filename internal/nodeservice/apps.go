package nodeservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/nodeservice/view"
	"github.com/micachain/mica/internal/protocol"
)

// maxScheduledOps bounds the operations one application request may schedule.
const maxScheduledOps = 100

// gqlRequest is a GraphQL request over HTTP.
type gqlRequest struct {
	Query         string          `json:"query"`
	Variables     json.RawMessage `json:"variables,omitempty"`
	OperationName string          `json:"operationName,omitempty"`
	Extensions    json.RawMessage `json:"extensions,omitempty"`
}

// serveApplication forwards a GraphQL request to an application's service on the local
// replica of a chain. A mutation's scheduled operations are committed in a block of that
// chain, and the answer gains "extensions": {"block": {"chainId", "height", "hash"}}.
func (s *Service) serveApplication(w http.ResponseWriter, r *http.Request) {
	chainID, err := base.ParseChainID(r.PathValue("chain"))
	if err != nil {
		writeGraphQLError(w, http.StatusNotFound, fmt.Sprintf("unknown chain %q: %v", r.PathValue("chain"), err))
		return
	}
	app, err := base.ParseApplicationID(r.PathValue("app"))
	if err != nil {
		writeGraphQLError(w, http.StatusNotFound, fmt.Sprintf("unknown application %q: %v", r.PathValue("app"), err))
		return
	}
	if isHTMLGet(r) {
		s.graphiQL(r.URL.Path, "/").ServeHTTP(w, r)
		return
	}
	var req gqlRequest
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		req.Query, req.OperationName = q.Get("query"), q.Get("operationName")
		if v := q.Get("variables"); v != "" {
			req.Variables = json.RawMessage(v)
		}
	case http.MethodPost:
		// A JSON content type cannot come from another site's form or a "simple"
		// cross-origin request without a CORS preflight (which cors refuses), so a
		// web page cannot make the browser of the wallet's owner send a mutation.
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" && mt != "application/graphql-response+json" {
			writeGraphQLError(w, http.StatusUnsupportedMediaType, "POST a JSON GraphQL request with Content-Type: application/json")
			return
		}
		body, ok := s.readBody(w, r, false)
		if !ok {
			return
		}
		if err := json.Unmarshal(body, &req); err != nil {
			writeGraphQLError(w, http.StatusBadRequest, "the body must be a JSON GraphQL request {\"query\", \"variables\", \"operationName\"}: "+err.Error())
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		writeGraphQLError(w, http.StatusMethodNotAllowed, "use POST (or GET ?query=)")
		return
	}
	if req.Query == "" {
		writeGraphQLError(w, http.StatusBadRequest, "the request has no query")
		return
	}
	if len(req.Variables) > 0 && !json.Valid(req.Variables) {
		writeGraphQLError(w, http.StatusBadRequest, "variables: not valid JSON")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.limits.Timeout)
	defer cancel()
	// A GET (a link, an image, a redirect: anything a page can make a browser fetch)
	// never commits: operations a GET schedules are refused.
	status, answer := s.queryApplication(ctx, chainID, app, &req, authorized(r.Context()), r.Method == http.MethodPost)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

// errorAnswer is a GraphQL error response.
func errorAnswer(msg string) []byte {
	b, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"message": msg}}})
	return b
}

// queryApplication runs one application request and returns the HTTP status and body.
func (s *Service) queryApplication(ctx context.Context, chainID base.ChainID, app base.ApplicationID, req *gqlRequest, mayMutate, viaPost bool) (int, []byte) {
	var err error
	if _, inWallet := s.w.Chain(chainID); inWallet {
		_, err = s.c.SyncChain(ctx, chainID)
	} else {
		err = s.syncOnDemand(ctx, chainID)
	}
	if err != nil {
		if ctx.Err() != nil {
			return http.StatusGatewayTimeout, errorAnswer("timed out syncing the chain")
		}
		if _, terr := s.c.LocalTip(ctx, chainID); terr != nil {
			if base.IsInvalid(err) {
				return http.StatusNotFound, errorAnswer(err.Error())
			}
			return http.StatusNotFound, errorAnswer(fmt.Sprintf("unknown chain %s: %v", chainID, err))
		}
		// Validators unreachable: answer from the local replica.
		s.log.Debug("sync before an application query failed", "chain", chainID.Short(), "err", err)
	}
	if _, err := s.c.Local().Storage().Blob(ctx, base.BlobID{Type: base.BlobApplicationDescription, Hash: base.Hash(app)}); err != nil {
		return http.StatusNotFound, errorAnswer(fmt.Sprintf("unknown application %s on chain %s: the local replica holds no such application (create it, or use it on this chain first)", app, chainID))
	}
	query, err := json.Marshal(req)
	if err != nil {
		return http.StatusBadRequest, errorAnswer(err.Error())
	}
	answer, ops, err := s.c.Local().QueryApplicationScheduling(ctx, chainID, app, query)
	if err != nil {
		if ctx.Err() != nil {
			return http.StatusGatewayTimeout, errorAnswer(fmt.Sprintf("the application's service did not answer within %v", s.limits.Timeout))
		}
		return http.StatusOK, errorAnswer(fmt.Sprintf("application %s on chain %s: %v", app, chainID, err))
	}
	if !json.Valid(answer) {
		return http.StatusOK, errorAnswer(fmt.Sprintf("application %s answered something that is not JSON (%d bytes)", app, len(answer)))
	}
	if len(ops) == 0 {
		return http.StatusOK, answer
	}
	if CommitForbidden(ctx) {
		return http.StatusOK, errorAnswer(errNoCommit)
	}
	if !viaPost {
		return http.StatusMethodNotAllowed, errorAnswer("the request schedules operations (a mutation): send it by POST")
	}
	if !mayMutate {
		return http.StatusUnauthorized, errorAnswer("the request schedules operations (a mutation): " + errUnauthorized)
	}
	if len(ops) > maxScheduledOps {
		return http.StatusOK, errorAnswer(fmt.Sprintf("the request schedules %d operations; at most %d per request", len(ops), maxScheduledOps))
	}
	if _, ok := s.w.Chain(chainID); !ok {
		return http.StatusOK, errorAnswer(fmt.Sprintf("the request schedules operations, but the wallet does not own chain %s", chainID))
	}
	cert, err := s.commitOnID(ctx, chainID, func(ctx context.Context, cc *client.ChainClient) (*protocol.Certificate, error) {
		return cc.ExecuteOperations(ctx, ops, nil)
	})
	if err == nil && cert == nil {
		err = errors.New("nothing was committed")
	}
	if err != nil {
		return http.StatusOK, errorAnswer(fmt.Sprintf("committing the %d scheduled operation(s) on chain %s: %v", len(ops), chainID, err))
	}
	return http.StatusOK, withBlock(answer, cert)
}

// withBlock adds "extensions": {"block": {...}} to a JSON object answer.
func withBlock(answer []byte, cert *protocol.Certificate) []byte {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(answer, &obj); err != nil || obj == nil {
		obj = map[string]json.RawMessage{"data": answer}
	}
	ext := map[string]json.RawMessage{}
	if raw, ok := obj["extensions"]; ok {
		_ = json.Unmarshal(raw, &ext)
	}
	ext["block"] = json.RawMessage(view.MustJSON(view.BlockResult(cert)))
	obj["extensions"] = json.RawMessage(view.MustJSON(ext))
	out, err := json.Marshal(obj)
	if err != nil {
		return answer
	}
	return out
}

// Exec runs one HTTP GraphQL request in process (POST body to path: "/" for the system
// schema or "/chains/CHAIN/applications/APP"), as an authorised caller (it carries the
// service's token), and returns the response body and HTTP status. For helpers such as
// the MCP server that sit in the same process.
func (s *Service) Exec(ctx context.Context, path string, body []byte) ([]byte, int) {
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
	// In process: no host was named (httptest's default, example.com, would be refused
	// by the LoopbackHosts check).
	req.Host = "localhost"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if s.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec.Body.Bytes(), rec.Code
}
