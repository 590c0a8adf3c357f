package sdk_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

type tParams struct {
	Step uint64 `json:"step"`
}

func (p tParams) Validate() error {
	if p.Step > 100 {
		return errors.New("step above 100")
	}
	return nil
}

// paramsApp answers every operation with its decoded parameters, and every query with
// the raw ones.
type paramsApp struct{}

func (paramsApp) Instantiate(*sdk.Runtime, []byte) error    { return nil }
func (paramsApp) ExecuteMessage(*sdk.Runtime, []byte) error { return nil }
func (paramsApp) ExecuteOperation(rt *sdk.Runtime, _ []byte) ([]byte, error) {
	p, err := sdk.ParametersOf[tParams](rt)
	if err != nil {
		return nil, err
	}
	return []byte{byte(p.Step)}, nil
}
func (paramsApp) HandleQuery(rt *sdk.Runtime, _ []byte) ([]byte, error) { return rt.Parameters() }

func TestParametersOf(t *testing.T) {
	c := sdktest.NewChain()
	for _, tc := range []struct {
		params string
		want   byte
		err    string
	}{
		{"", 0, ""}, // none given: the zero value
		{`{"step": 7}`, 7, ""},
		{` {"step":100} `, 100, ""},
		{`null`, 0, ""},
		{`{"step": 101}`, 0, "step above 100"},
		{`{"step": 1, "other": 2}`, 0, `unknown field "other"`},
		{`{"step": -1}`, 0, "invalid application parameters"},
		{`{"step": 1} {}`, 0, "data after the JSON value"},
		{`[`, 0, "invalid application parameters"},
	} {
		c.Parameters = []byte(tc.params)
		out, err := c.ExecuteOperation(paramsApp{}, nil)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parameters %q: %v, want an error with %q", tc.params, err, tc.err)
			}
			continue
		}
		if err != nil || len(out) != 1 || out[0] != tc.want {
			t.Errorf("parameters %q: %v %v, want step %d", tc.params, out, err, tc.want)
		}
		raw, err := c.Query(paramsApp{}, nil)
		if err != nil || string(raw) != tc.params {
			t.Errorf("service read parameters %q: %q %v", tc.params, raw, err)
		}
	}
}
