package chain

import (
	"bytes"
	"testing"

	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// FuzzDecodeInboxCursors: stored inbox cursors decode strictly (never a panic) and
// re-encode to the same bytes.
func FuzzDecodeInboxCursors(f *testing.F) {
	f.Add(codec.Marshal(&inboxCursors{NextToAdd: protocol.Cursor{Height: 3, Index: 1}, NextToRemove: protocol.Cursor{Height: 2}}))
	f.Add([]byte{})
	f.Add(make([]byte, 25))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c inboxCursors
		if err := codec.Unmarshal(b, &c); err != nil {
			return
		}
		if out := codec.Marshal(&c); !bytes.Equal(out, b) {
			t.Fatalf("encode(decode(%x)) = %x", b, out)
		}
	})
}
