package sdk

import (
	"bytes"
	"testing"
)

// FuzzDecodeStreamUpdates: the decoder of mica_process_streams' input never panics and
// accepted input re-encodes to the same bytes.
func FuzzDecodeStreamUpdates(f *testing.F) {
	f.Add(EncodeStreamUpdates([]StreamUpdate{{Publisher: ChainID{1}, App: ApplicationID{2}, Stream: "posts", PreviousIndex: 1, NextIndex: 4}}))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := DecodeStreamUpdates(b)
		if err != nil {
			return
		}
		if again := EncodeStreamUpdates(u); !bytes.Equal(again, b) {
			t.Fatalf("round trip: %x -> %x", b, again)
		}
	})
}
