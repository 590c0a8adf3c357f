package wasm

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/execution"
)

// FuzzStreamHostCalls: the stream kinds' request decoders never panic, and undecodable
// requests are malformed (-3), never another failure.
func FuzzStreamHostCalls(f *testing.F) {
	w := codec.NewWriter(nil)
	w.Hash([32]byte{1})
	w.Hash([32]byte{2})
	w.VarBytes([]byte("posts"))
	sub := append([]byte(nil), w.Bytes()...)
	w.U32(3)
	f.Add(uint8(0), w.Bytes())
	f.Add(uint8(1), sub)
	f.Add(uint8(2), []byte{5, 'p', 'o', 's', 't', 's', 1, 'x'})
	kinds := []Kind{KindEmitEvent, KindReadEvent, KindSubscribeToEvents, KindUnsubscribeFromEvents}
	f.Fuzz(func(t *testing.T, k uint8, req []byte) {
		kind := kinds[int(k)%len(kinds)]
		for _, h := range []Host{NewContractHost(newFake()), NewServiceHost(newFake())} {
			_, err := h.Call(context.Background(), kind, req)
			if err != nil && !errors.Is(err, ErrMalformedRequest) && !errors.Is(err, ErrNotSupported) {
				t.Fatalf("kind %d: %v", kind, err)
			}
		}
	})
}

func TestEncodeStreamUpdates(t *testing.T) {
	got := EncodeStreamUpdates([]execution.StreamUpdate{{Publisher: [32]byte{1}, PreviousIndex: 2, NextIndex: 5}})
	if len(got) != 1+32+32+1+4+4 {
		t.Fatalf("encoding of %d bytes", len(got))
	}
}
