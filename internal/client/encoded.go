package client

import (
	"context"

	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// encodedKey is the context key of an encoding made once for a whole fan-out.
type encodedKey struct{}

// encoded is the canonical encoding of one value, which is the pointer v, and of a
// second one sent with it (a certificate's query), q, if not nil.
type encoded struct {
	v  any
	b  []byte
	q  any
	qb []byte
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

// withEncodedQuery is withEncoded for a certificate sent with the query q (nil: none),
// which is encoded here once for every validator too.
func withEncodedQuery(ctx context.Context, cert *protocol.Certificate, b []byte, q *protocol.ChainInfoQuery) context.Context {
	if b == nil {
		b = codec.Marshal(cert)
	}
	e := &encoded{v: cert, b: b}
	if q != nil {
		e.q, e.qb = q, codec.Marshal(q)
	}
	return context.WithValue(ctx, encodedKey{}, e)
}

// Encoding returns the canonical encoding of v that the caller's fan-out made once
// for all validators, and false if ctx carries none for v (then the transport
// encodes v itself). v is matched by identity: the pointer the fan-out hands to
// every ValidatorNode call. The caller must not modify the bytes.
func Encoding(ctx context.Context, v any) ([]byte, bool) {
	e, ok := ctx.Value(encodedKey{}).(*encoded)
	switch {
	case !ok || v == nil:
		return nil, false
	case e.v == v:
		return e.b, true
	case e.q == v:
		return e.qb, true
	}
	return nil, false
}

// memoKey is the context key of a fan-out's DecodeMemo.
type memoKey struct{}

// withDecodeMemo returns ctx carrying a fresh protocol.DecodeMemo for the chain infos of
// one fan-out (a query or a certificate broadcast that asks for pending bundles), so
// that a transport that decodes the answers (rpc.Node) decodes bundles that every
// validator reports once (DecodeMemoOf).
func withDecodeMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, new(protocol.DecodeMemo))
}

// DecodeMemoOf returns the memo of the caller's fan-out for decoding its chain infos
// (protocol.DecodeChainInfo), or nil. The infos decoded with it may share their
// pending bundles, which the client only reads.
func DecodeMemoOf(ctx context.Context) *protocol.DecodeMemo {
	m, _ := ctx.Value(memoKey{}).(*protocol.DecodeMemo)
	return m
}
