package sdktest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/internal/abi"
)

// MaxHTTPResponseBytes is the response body limit sdktest applies, the default of the
// real host's policy.
const MaxHTTPResponseBytes = 64 << 10

// ServiceQuery returns a Chain.QueryService hook that runs svc's queries on c (any
// application id is answered by svc).
func ServiceQuery(c *Chain, svc sdk.ServiceApp) func(sdk.ApplicationID, []byte) ([]byte, error) {
	return func(_ sdk.ApplicationID, query []byte) ([]byte, error) { return c.Query(svc, query) }
}

func (h *host) httpRequest(d *abi.Decoder, e *abi.Encoder) error {
	var req sdk.HTTPRequest
	req.Method = string(d.VarBytes())
	req.URL = string(d.VarBytes())
	n := d.Length(2)
	for i := 0; i < n && d.Err() == nil; i++ {
		req.Headers = append(req.Headers, sdk.HTTPHeader{Name: string(d.VarBytes()), Value: string(d.VarBytes())})
	}
	req.Body = d.VarBytes()
	if err := done(d); err != nil {
		return err
	}
	if h.c.HTTP == nil {
		return fmt.Errorf("sdktest: no HTTP handler for %s %s (set Chain.HTTP)", req.Method, req.URL)
	}
	hr, err := http.NewRequest(req.Method, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return fmt.Errorf("sdktest: HTTP request: %w", err)
	}
	if hr.URL.Scheme != "http" && hr.URL.Scheme != "https" {
		return fmt.Errorf("sdktest: HTTP request %q: scheme must be http or https", req.URL)
	}
	for _, hd := range req.Headers {
		hr.Header.Add(hd.Name, hd.Value)
	}
	hr.Header.Set("Mica-Validator", "sdktest")
	rec := httptest.NewRecorder()
	h.c.HTTP.ServeHTTP(rec, hr)
	body, err := io.ReadAll(io.LimitReader(rec.Result().Body, MaxHTTPResponseBytes+1))
	if err != nil {
		return err
	}
	if len(body) > MaxHTTPResponseBytes {
		return fmt.Errorf("sdktest: HTTP response body is over the limit of %d bytes", MaxHTTPResponseBytes)
	}
	h.c.HTTPRequests = append(h.c.HTTPRequests, req)
	e.Fixed(binary.LittleEndian.AppendUint16(nil, uint16(rec.Code)))
	e.VarBytes(body)
	return nil
}

func (h *host) oracle(kind uint32, d *abi.Decoder, e *abi.Encoder) error {
	switch kind {
	case abi.KindQueryService:
		app, query := sdk.ApplicationID(d.Fixed32()), d.VarBytes()
		if err := done(d); err != nil {
			return err
		}
		if h.c.QueryService == nil {
			return fmt.Errorf("sdktest: no QueryService handler for application %v", app)
		}
		out, err := h.c.QueryService(app, query)
		if err != nil {
			return fmt.Errorf("service as oracle: %w", err)
		}
		e.Fixed(out)
	case abi.KindAssertBefore:
		t := sdk.Timestamp(d.U64())
		if err := done(d); err != nil {
			return err
		}
		now := h.c.ValidatorTime
		if now == 0 {
			now = h.c.Time
		}
		if now >= t {
			return fmt.Errorf("assert_before failed: validator time %d is not before %d", now, t)
		}
	}
	return nil
}
