package wasm

import (
	"context"
	"errors"
	"testing"
)

// TestHostApplicationParameters: contracts and services read the application's
// parameters as raw bytes; a request with bytes is malformed.
func TestHostApplicationParameters(t *testing.T) {
	ctx := context.Background()
	rt := newFake()
	rt.params = []byte(`{"ticker_symbol":"MICA"}`)
	for name, h := range map[string]Host{"contract": NewContractHost(rt), "service": NewServiceHost(rt)} {
		got, err := h.Call(ctx, KindApplicationParameters, nil)
		if err != nil || string(got) != string(rt.params) {
			t.Errorf("%s: %q %v", name, got, err)
		}
		if _, err := h.Call(ctx, KindApplicationParameters, []byte{0}); !errors.Is(err, ErrMalformedRequest) {
			t.Errorf("%s with a request byte: %v, want malformed", name, err)
		}
	}
	empty := newFake()
	if got, err := NewServiceHost(empty).Call(ctx, KindApplicationParameters, nil); err != nil || len(got) != 0 {
		t.Errorf("no parameters: %q %v", got, err)
	}
}
