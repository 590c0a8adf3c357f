package sdk

import (
	"encoding/binary"
	"fmt"

	"github.com/micachain/mica/sdk/internal/abi"
)

// HTTPHeader is one HTTP request header.
type HTTPHeader struct {
	Name, Value string
}

// HTTPRequest is an HTTP request an application makes through the host.
type HTTPRequest struct {
	// Method is GET, HEAD, POST, PUT, PATCH or DELETE.
	Method string
	// URL must be http or https, with a host on the committee's HTTP allow-list.
	URL     string
	Headers []HTTPHeader
	Body    []byte
}

// HTTPResponse is what the host returns of an HTTP response: the status code and the
// body. Response headers are not kept (validators would disagree over them for nothing).
type HTTPResponse struct {
	Status int
	Body   []byte
}

// HTTPRequest performs an HTTP request.
//
// In a contract it is an oracle: every validator performs the request when it
// executes the block for its vote (with the header "Mica-Validator: <its public key>")
// and the response is recorded in the block; replaying the block returns the record.
// Validators that receive different responses compute different blocks, and the block
// commits only if a quorum received the same one: ask endpoints whose answer is
// deterministic, or normalize the answer through your own service (QueryService).
// Blocks that use oracles are not eligible for the fast round.
//
// In a service it is a plain request, not recorded.
//
// The host must be on the committee's allow-list; the request is bounded (2 KiB URL,
// 32 headers, 64 KiB body) and so is the response (policy MaxHTTPResponseBytes and
// MaxOracleResponseBytes, 64 KiB by default; HTTPRequestTimeoutMs, 5 s). A refused or
// failed request aborts the entry point with the host's error (the transaction
// fails); a non-2xx status is an ordinary response. The headers Mica-Validator and
// Host are set by the node: a request naming either is refused. A block makes at most
// 16 recorded requests. The error result reports only
// that the runtime does not offer HTTP (a *HostError).
//
//	resp, err := rt.HTTPRequest(sdk.HTTPRequest{
//		Method:  "POST",
//		URL:     "https://oracle.example.com/ask",
//		Headers: []sdk.HTTPHeader{{Name: "Content-Type", Value: "application/json"}},
//		Body:    []byte(`{"prompt":"2+2?"}`),
//	})
//	if err != nil {
//		return nil, err
//	}
//	if resp.Status != 200 {
//		return nil, fmt.Errorf("oracle answered %d", resp.Status)
//	}
func (rt *Runtime) HTTPRequest(req HTTPRequest) (HTTPResponse, error) {
	var e abi.Encoder
	e.VarBytes([]byte(req.Method))
	e.VarBytes([]byte(req.URL))
	e.Uleb(uint64(len(req.Headers)))
	for _, h := range req.Headers {
		e.VarBytes([]byte(h.Name))
		e.VarBytes([]byte(h.Value))
	}
	e.VarBytes(req.Body)
	resp, err := rt.call(abi.KindHTTPRequest, e.Buf)
	if err != nil {
		return HTTPResponse{}, err
	}
	d := abi.NewDecoder(resp)
	st := d.Fixed(2)
	body := d.VarBytes()
	finish(abi.KindHTTPRequest, d)
	return HTTPResponse{Status: int(binary.LittleEndian.Uint16(st)), Body: body}, nil
}

// QueryService runs a query on an application's service (usually the calling
// application's own, rt.ApplicationID()) and returns its answer (contracts only).
//
// It is an oracle: each validator runs the service when it executes the block, on the
// chain's state as the transaction sees it (earlier transactions of the block
// included; this entry point's own writes are not flushed yet, so the service does not
// see them), within the block's MaxServiceOracleMs (2 s by default); the answer is
// recorded in the block and replayed later. A service can do what a contract may not
// (HTTP requests that are not recorded, heavy parsing without fuel) and return a
// small normalized answer that every honest validator agrees on. The answer is at most
// the policy's MaxOracleResponseBytes (64 KiB by default); a query that fails or runs
// out of the block's time aborts the entry point (the transaction fails).
//
//	answer, err := rt.QueryService(rt.ApplicationID(), []byte(`{"query":"{ price }"}`))
//	if err != nil {
//		return nil, err
//	}
func (rt *Runtime) QueryService(app ApplicationID, query []byte) ([]byte, error) {
	var e abi.Encoder
	e.Fixed(app[:])
	e.VarBytes(query)
	return rt.call(abi.KindQueryService, e.Buf)
}

// AssertBefore aborts the entry point (the transaction fails) unless the validator's
// clock is before t when it executes the block (contracts only). The check is
// recorded: replaying the block does not read a clock. Use it for deadlines a
// proposer must not be able to stretch with a block timestamp of its choice.
//
// Validators' clocks differ a little: a block executed very close to t may pass on
// some validators while the others, whose clocks are past t, refuse it; without a
// quorum of votes the block fails. Keep t well clear of the moment your users act (seconds, not
// milliseconds), and expect a late transaction to fail.
//
//	rt.AssertBefore(auction.End) // bids after the end fail on every honest validator
func (rt *Runtime) AssertBefore(t Timestamp) {
	var e abi.Encoder
	e.U64(uint64(t))
	if _, err := rt.call(abi.KindAssertBefore, e.Buf); err != nil {
		panic(fmt.Errorf("assert before %d: %w", t, err))
	}
}
