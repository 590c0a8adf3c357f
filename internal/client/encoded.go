package client

import (
	"context"

	"github.com/micachain/mica/internal/codec"
)

// encodedKey is the context key of an encoding made once for a whole fan-out.
type encodedKey struct{}

// encoded is the canonical encoding of one value, which is the pointer v.
type encoded struct {
	v any
	b []byte
}

// withEncoding returns ctx carrying the canonical encoding of v (a proposal or a
// certificate about to go to every validator of a fan-out), so that a transport that
// must encode v (rpc.Node) does it once per fan-out instead of once per validator.
func withEncoding[T codec.Encoder](ctx context.Context, v T) context.Context {
	return withEncoded(ctx, v, nil)
}

// withEncoded is withEncoding with v's canonical encoding b when the caller holds it
// already (nil: encode v).
func withEncoded[T codec.Encoder](ctx context.Context, v T, b []byte) context.Context {
	if b == nil {
		b = codec.Marshal(v)
	}
	return context.WithValue(ctx, encodedKey{}, &encoded{v: v, b: b})
}

// Encoding returns the canonical encoding of v that the caller's fan-out made once
// for all validators, and false if ctx carries none for v (then the transport
// encodes v itself). v is matched by identity: the pointer the fan-out hands to
// every ValidatorNode call. The caller must not modify the bytes.
func Encoding(ctx context.Context, v any) ([]byte, bool) {
	e, ok := ctx.Value(encodedKey{}).(*encoded)
	if !ok || e.v != v {
		return nil, false
	}
	return e.b, true
}
