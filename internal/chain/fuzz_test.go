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
	f.Add(codec.Marshal(&inboxCursors{NextToAdd: protocol.Cursor{Height: 3, Index: 1}, Layout: inboxLayoutGroups}))
	f.Add(codec.Marshal(&inboxCursors{NextToRemove: protocol.Cursor{Height: 3, Index: 1}, Layout: inboxLayoutGroupsAfterBundles}))
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

// FuzzDecodeInboxGroup: stored inbox entries (groups of bundles) decode strictly (never a
// panic) and re-encode to the same bytes.
func FuzzDecodeInboxGroup(f *testing.F) {
	refs := bundleGroup{byRef: true, height: 4, timestamp: 9, cert: [32]byte{1},
		items: []queuedBundle{{cursor: protocol.Cursor{Height: 4, Index: 1}}, {cursor: protocol.Cursor{Height: 4, Index: 7}}}}
	var w codec.Writer
	groupCodec{}.Encode(&w, refs)
	f.Add(w.Bytes())
	b := bundle(4, 2, protocol.Tracked)
	w.Reset()
	groupCodec{}.Encode(&w, groupOf(newQueuedBundle(&b, false)))
	f.Add(w.Bytes())
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := codec.NewReader(b)
		g := groupCodec{}.Decode(r)
		if r.Finish() != nil {
			return
		}
		var w codec.Writer
		groupCodec{}.Encode(&w, g)
		if !bytes.Equal(w.Bytes(), b) {
			t.Fatalf("encode(decode(%x)) = %x", b, w.Bytes())
		}
	})
}
