package faucet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// maxResponseBody bounds what the client reads from a faucet.
const maxResponseBody = 1 << 20

// Client calls a faucet over HTTP. It is safe for concurrent use.
type Client struct {
	url string
	hc  *http.Client
}

// NewClient returns a client for the faucet at url ("http://host:port"). hc is the HTTP
// client to use (the CLI sets its timeout); nil means http.DefaultClient.
func NewClient(url string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{url: strings.TrimRight(url, "/"), hc: hc}
}

// ServerError is a faucet's refusal: the HTTP status and the faucet's message.
type ServerError struct {
	StatusCode int
	Message    string
	// RetryAfter is the faucet's Retry-After (zero if it sent none).
	RetryAfter time.Duration
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("faucet answered %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Is makes a 4xx other than 429 match base.ErrInvalid, and a 503 or a 429 (a limit,
// lifted after RetryAfter) match base.ErrRetryable.
func (e *ServerError) Is(target error) bool {
	switch {
	case target == base.ErrInvalid:
		return e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != http.StatusTooManyRequests
	case target == base.ErrRetryable:
		return e.StatusCode == http.StatusServiceUnavailable || e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// Genesis fetches the network's genesis config. It checks that the config hashes to the
// hash the faucet announces, which catches corruption in transit; whether the network is
// the intended one is for the user to judge (the faucet is trusted to name it).
func (c *Client) Genesis(ctx context.Context) (*protocol.GenesisConfig, error) {
	var resp GenesisResponse
	if err := c.do(ctx, http.MethodGet, "/genesis", nil, &resp); err != nil {
		return nil, err
	}
	var g protocol.GenesisConfig
	if err := codec.Unmarshal(resp.GenesisConfig, &g); err != nil {
		return nil, fmt.Errorf("faucet %s sent a genesis config that does not decode: %w", c.url, err)
	}
	if h := g.Hash().String(); h != resp.GenesisHash {
		return nil, base.Invalidf("faucet %s sent a genesis config hashing to %s, not to the announced %s", c.url, h, resp.GenesisHash)
	}
	if g.NetworkName != resp.NetworkName {
		return nil, base.Invalidf("faucet %s names the network %q but its genesis config says %q", c.url, resp.NetworkName, g.NetworkName)
	}
	return &g, nil
}

// Claim asks the faucet for a chain owned by owner. Claiming twice returns the same chain.
func (c *Client) Claim(ctx context.Context, owner base.Owner) (Opened, error) {
	body, err := json.Marshal(ClaimRequest{Owner: owner.String()})
	if err != nil {
		return Opened{}, err
	}
	var resp ClaimResponse
	if err := c.do(ctx, http.MethodPost, "/claim", body, &resp); err != nil {
		return Opened{}, err
	}
	id, err := base.ParseChainID(resp.ChainID)
	if err != nil {
		return Opened{}, fmt.Errorf("faucet %s: bad chain_id: %w", c.url, err)
	}
	h, err := base.ParseHash(resp.CertificateHash)
	if err != nil {
		return Opened{}, fmt.Errorf("faucet %s: bad certificate_hash: %w", c.url, err)
	}
	o, err := base.ParseOwner(resp.Owner)
	if err != nil || o != owner {
		return Opened{}, base.Invalidf("faucet %s opened a chain for %q, not for %s", c.url, resp.Owner, owner)
	}
	return Opened{Owner: o, ChainID: id, CertificateHash: h}, nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, rd)
	if err != nil {
		return fmt.Errorf("faucet request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: faucet %s: %v", base.ErrRetryable, c.url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return fmt.Errorf("%w: faucet %s: read response: %v", base.ErrRetryable, c.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e ErrorResponse
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		se := &ServerError{StatusCode: resp.StatusCode, Message: e.Error}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 && secs < 1<<20 {
			se.RetryAfter = time.Duration(secs) * time.Second
		}
		return se
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("faucet %s%s: bad response: %w", c.url, path, err)
	}
	return nil
}
