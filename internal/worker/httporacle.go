package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
)

// HTTPPerformer performs applications' HTTP requests with net/http: contracts' requests
// (recorded as oracle responses) and services' (not recorded). Every request carries the
// header
//
//	Mica-Validator: <hex of the validator's public key>
//
// ("client" on a client's local node), so that a server can log which validator asked;
// the network tests use it to answer validators differently. The request is checked by
// execution.CheckHTTPRequest (method, URL, host on the committee's allow-list, headers,
// body); redirects are followed only to allowed hosts (at most 3); the response body is
// read through an io.LimitReader and refused if it is over the limit; the whole exchange
// is bounded by the policy's HTTPRequestTimeoutMs. Safe for concurrent use.
type HTTPPerformer struct {
	identity string
	client   *http.Client
}

var _ execution.HTTPPerformer = (*HTTPPerformer)(nil)

// NewHTTPPerformer returns a performer that identifies itself as identity (the hex of a
// validator's public key, or execution.ClientValidatorValue). transport may be nil (a
// dedicated transport without proxies from the environment).
func NewHTTPPerformer(identity string, transport http.RoundTripper) *HTTPPerformer {
	if transport == nil {
		transport = &http.Transport{
			Proxy:                 nil,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       30 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
		}
	}
	return &HTTPPerformer{identity: identity, client: &http.Client{Transport: transport}}
}

// errRedirect refuses redirects to hosts off the allow-list.
var errRedirect = errors.New("redirect refused")

// PerformHTTP implements execution.HTTPPerformer.
func (p *HTTPPerformer) PerformHTTP(ctx context.Context, policy *protocol.ResourcePolicy, req *execution.HTTPRequest) (*execution.HTTPResponse, error) {
	u, err := execution.CheckHTTPRequest(policy, req)
	if err != nil {
		return nil, err
	}
	timeout := time.Duration(policy.HTTPRequestTimeoutMs) * time.Millisecond
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: the committee's HTTP timeout is zero", execution.ErrHTTPRequest)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if len(req.Body) > 0 {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", execution.ErrHTTPRequest, err)
	}
	for _, h := range req.Headers {
		hr.Header.Add(h.Name, h.Value)
	}
	hr.Header.Set(execution.ValidatorHeader, p.identity)
	client := *p.client
	client.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return fmt.Errorf("%w: too many redirects", errRedirect)
		}
		if (r.URL.Scheme != "http" && r.URL.Scheme != "https") || !policy.AllowsHost(r.URL.Hostname()) {
			return fmt.Errorf("%w: to host %q, not on the allow-list", errRedirect, r.URL.Hostname())
		}
		r.Header.Set(execution.ValidatorHeader, p.identity)
		return nil
	}
	resp, err := client.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %s %s: no response within %d ms", execution.ErrHTTPRequest, req.Method, u.Redacted(), policy.HTTPRequestTimeoutMs)
		}
		return nil, fmt.Errorf("%w: %v", execution.ErrHTTPRequest, err)
	}
	defer resp.Body.Close()
	limit := int64(execution.MaxHTTPBody(policy, true))
	if ml := int64(policy.MaxHTTPResponseBytes); ml > limit {
		limit = ml // services may receive up to MaxHTTPResponseBytes; execution checks the oracle limit
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %s %s: response not read within %d ms", execution.ErrHTTPRequest, req.Method, u.Redacted(), policy.HTTPRequestTimeoutMs)
		}
		return nil, fmt.Errorf("%w: read response: %v", execution.ErrHTTPRequest, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: response body is over the limit of %d bytes", execution.ErrHTTPRequest, limit)
	}
	if resp.StatusCode < 0 || resp.StatusCode > 999 {
		return nil, fmt.Errorf("%w: status code %d", execution.ErrHTTPRequest, resp.StatusCode)
	}
	return &execution.HTTPResponse{Status: uint16(resp.StatusCode), Body: data}, nil
}
