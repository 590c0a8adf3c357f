package rpc

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
)

// sampleError returns an error of the given kind as a validator would produce it
// (wrapped with context), and the value a typed kind must rebuild.
func sampleError(t testing.TB, k *errorKind) (err error, typed error) {
	t.Helper()
	app := base.ApplicationID{4, 5}
	switch k.name {
	case "execution.MissingEventError":
		typed = &execution.MissingEventError{ID: protocol.EventID{Chain: base.ChainID{1}, Stream: protocol.StreamID{App: &app, Name: []byte("prices")}, Index: 42}}
	case "execution.MissingBlobError":
		typed = &execution.MissingBlobError{ID: base.BlobID{Type: base.BlobCommittee, Hash: base.Hash{9, 9}}}
	case "execution.InsufficientBalanceError":
		typed = &execution.InsufficientBalanceError{Owner: prototest.Key("alice").Public().Owner(), Have: base.Tokens(3), Need: base.Tokens(7)}
	default:
		if k.sentinel == nil {
			t.Fatalf("kind %s has neither a sentinel nor a sample", k.name)
		}
		return fmt.Errorf("handling chain 0a0b: %w", fmt.Errorf("%w: at height 3", k.sentinel)), nil
	}
	return fmt.Errorf("execute block 3 of chain 0a0b: %w", typed), typed
}

// wireRoundTrip sends err through a gRPC status and back, as over the network.
func wireRoundTrip(err error) error { return fromStatus(toStatus(err)) }

// checkSame checks that got has the identity of want: the same sentinel or typed error
// (with equal fields) and the same class.
func checkSame(t *testing.T, k *errorKind, want, typed, got error) {
	t.Helper()
	if got.Error() != want.Error() {
		t.Errorf("%s: message %q, want %q", k.name, got.Error(), want.Error())
	}
	var re *RemoteError
	if !errors.As(got, &re) || re.Kind != k.name {
		t.Errorf("%s: rebuilt as %#v", k.name, got)
	}
	if k.sentinel != nil && !errors.Is(got, k.sentinel) {
		t.Errorf("%s: errors.Is(sentinel) is false", k.name)
	}
	if k.fallback != nil && !errors.Is(got, k.fallback) {
		t.Errorf("%s: errors.Is(%v) is false", k.name, k.fallback)
	}
	if typed != nil {
		target := reflect.New(reflect.TypeOf(typed))
		if !errors.As(got, target.Interface()) {
			t.Errorf("%s: errors.As(%T) is false", k.name, typed)
		} else if g := target.Elem().Interface(); !reflect.DeepEqual(g, typed) {
			t.Errorf("%s: rebuilt %#v, want %#v", k.name, g, typed)
		}
	}
	for _, class := range []error{base.ErrInvalid, base.ErrNotFound, base.ErrCorrupt, base.ErrRetryable} {
		wantClass := errors.Is(want, class) || (k.class != nil && class == k.class)
		if errors.Is(got, class) != wantClass {
			t.Errorf("%s: errors.Is(%v) = %v, want %v", k.name, class, !wantClass, wantClass)
		}
	}
}

// TestErrorKindsRoundTrip: every kind of the table keeps its identity across the wire,
// directly and inside a transaction error, and forwarded by a proxy (decoded, then
// encoded again).
func TestErrorKindsRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for i := range kinds {
		k := &kinds[i]
		if seen[k.name] {
			t.Fatalf("duplicate kind %s", k.name)
		}
		seen[k.name] = true
		err, typed := sampleError(t, k)
		if m, _ := matchKind(err); m != k {
			t.Errorf("%s: the sample matches kind %v first; order the table", k.name, m)
			continue
		}
		got := wireRoundTrip(err)
		checkSame(t, k, err, typed, got)
		checkSame(t, k, err, typed, wireRoundTrip(got)) // forwarded by a proxy

		txErr := fmt.Errorf("execute block: %w", &chain.TxError{Index: 2, Err: err})
		got = wireRoundTrip(txErr)
		checkSame(t, k, txErr, typed, got)
		var tx *chain.TxError
		if !errors.As(got, &tx) || tx.Index != 2 {
			t.Errorf("%s: transaction index lost: %v", k.name, got)
		}
		if !errors.As(wireRoundTrip(got), &tx) || tx.Index != 2 {
			t.Errorf("%s: transaction index lost when forwarded", k.name)
		}
	}
}

func TestUnknownAndTransportErrors(t *testing.T) {
	for _, tc := range []struct {
		err   error
		class error
	}{
		{base.Invalidf("bad"), base.ErrInvalid},
		{base.NotFoundf("gone"), base.ErrNotFound},
		{base.Corruptf("broken"), base.ErrCorrupt},
		{fmt.Errorf("%w: later", base.ErrRetryable), base.ErrRetryable},
	} {
		got := wireRoundTrip(tc.err)
		if !errors.Is(got, tc.class) || got.Error() != tc.err.Error() {
			t.Errorf("%v: got %v", tc.err, got)
		}
	}
	got := wireRoundTrip(errors.New("disk on fire"))
	for _, class := range []error{base.ErrInvalid, base.ErrNotFound, base.ErrCorrupt, base.ErrRetryable} {
		if errors.Is(got, class) {
			t.Errorf("an unclassified error came back as %v", class)
		}
	}
	// Transport failures carry no details: retryable.
	for _, err := range []error{errors.New("connection reset"), context.DeadlineExceeded} {
		got := fromStatus(err)
		if !errors.Is(got, base.ErrRetryable) || !errors.Is(got, ErrUnreachable) {
			t.Errorf("%v: got %v, want retryable", err, got)
		}
	}
	if got := fromStatus(context.DeadlineExceeded); !errors.Is(got, context.DeadlineExceeded) {
		t.Errorf("deadline lost: %v", got)
	}
	// A bogus class or detail from a validator degrades, never panics.
	e := &pb.Error{Class: 99, Kind: "execution.MissingBlobError", Detail: []byte{0xff}}
	got = decodeError(e)
	if !errors.Is(got, execution.ErrMissingBlob) {
		t.Errorf("bad detail: %v", got)
	}
	var mb *execution.MissingBlobError
	if errors.As(got, &mb) {
		t.Errorf("bad detail rebuilt a typed error")
	}
}

func TestEncodeHeightAnnotation(t *testing.T) {
	err := &heightError{error: fmt.Errorf("%w: x", base.ErrInvalid), next: 9}
	got := wireRoundTrip(err)
	if h, ok := NextHeight(got); !ok || h != 9 {
		t.Fatalf("next height %d %v", h, ok)
	}
	if h, ok := NextHeight(wireRoundTrip(got)); !ok || h != 9 {
		t.Fatalf("forwarded: next height %d %v", h, ok)
	}
}

func TestWireMessage(t *testing.T) {
	long := strings.Repeat("é", maxErrorMessage)
	for _, msg := range []string{"plain", "bad \xff byte", long} {
		got := wireRoundTrip(errors.New(msg)).Error()
		if !utf8.ValidString(got) || len(got) > maxErrorMessage+len("…") {
			t.Errorf("message %.20q came back as %.20q (%d bytes)", msg, got, len(got))
		}
		var re *RemoteError
		if !errors.As(wireRoundTrip(errors.New(msg)), &re) || re.Kind == "rpc.ErrUnreachable" {
			t.Errorf("message %.20q lost its details", msg)
		}
	}
}
