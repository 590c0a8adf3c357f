package sdktest_test

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

// oracleApp's operations: "http URL", "assert T", "service QUERY".
type oracleApp struct{}

func (oracleApp) Instantiate(*sdk.Runtime, []byte) error { return nil }
func (oracleApp) ExecuteMessage(*sdk.Runtime, []byte) error {
	return errors.New("no messages")
}

func (oracleApp) ExecuteOperation(rt *sdk.Runtime, op []byte) ([]byte, error) {
	cmd, arg, _ := strings.Cut(string(op), " ")
	switch cmd {
	case "http":
		resp, err := rt.HTTPRequest(sdk.HTTPRequest{Method: "PUT", URL: arg, Body: []byte("body"), Headers: []sdk.HTTPHeader{{Name: "X-A", Value: "b"}}})
		if err != nil {
			return nil, err
		}
		return []byte(strconv.Itoa(resp.Status) + " " + string(resp.Body)), nil
	case "assert":
		t, _ := strconv.ParseUint(arg, 10, 64)
		rt.AssertBefore(sdk.Timestamp(t))
		return []byte("ok"), nil
	case "service":
		return rt.QueryService(rt.ApplicationID(), []byte(arg))
	}
	return nil, errors.New("unknown")
}

type echoService struct{}

func (echoService) HandleQuery(rt *sdk.Runtime, q []byte) ([]byte, error) {
	if string(q) == "http" {
		resp, err := rt.HTTPRequest(sdk.HTTPRequest{Method: "GET", URL: "http://x.test/"})
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	}
	return append([]byte("echo "), q...), nil
}

func TestOracles(t *testing.T) {
	c := sdktest.NewChain()
	if _, err := c.ExecuteOperation(oracleApp{}, []byte("http http://x.test/a")); err == nil {
		t.Fatal("HTTP without a handler succeeded")
	}
	c.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(201)
		_, _ = w.Write([]byte(r.Method + " " + r.URL.Path + " " + string(b) + " " + r.Header.Get("X-A") + " " + r.Header.Get("Mica-Validator")))
	})
	out, err := c.ExecuteOperation(oracleApp{}, []byte("http http://x.test/a"))
	if err != nil || string(out) != "201 PUT /a body b sdktest" {
		t.Fatalf("http: %q %v", out, err)
	}
	if len(c.HTTPRequests) != 1 || c.HTTPRequests[0].URL != "http://x.test/a" {
		t.Fatalf("recorded %+v", c.HTTPRequests)
	}
	if _, err := c.ExecuteOperation(oracleApp{}, []byte("http ftp://x.test/a")); err == nil {
		t.Error("ftp URL accepted")
	}
	if out, err := c.Query(echoService{}, []byte("http")); err != nil || string(out) != "GET /   sdktest" {
		t.Errorf("service http: %q %v", out, err)
	}

	if _, err := c.ExecuteOperation(oracleApp{}, []byte("service q")); err == nil {
		t.Error("service query without a handler succeeded")
	}
	c.QueryService = sdktest.ServiceQuery(c, echoService{})
	if out, err := c.ExecuteOperation(oracleApp{}, []byte("service q")); err != nil || string(out) != "echo q" {
		t.Errorf("service: %q %v", out, err)
	}

	after := strconv.FormatUint(uint64(c.Time)+1, 10)
	if _, err := c.ExecuteOperation(oracleApp{}, []byte("assert "+after)); err != nil {
		t.Errorf("assert before a later time: %v", err)
	}
	c.ValidatorTime = c.Time + 1
	if _, err := c.ExecuteOperation(oracleApp{}, []byte("assert "+after)); err == nil {
		t.Error("assert before the validator's time succeeded")
	}
}
