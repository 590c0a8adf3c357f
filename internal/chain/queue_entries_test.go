package chain

import (
	"bytes"
	"testing"

	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
)

// queuePut is one entry of a queue that a batch puts: under its own key, or held in the
// queue's header with the others (views.Queue holds a short queue in its header).
type queuePut struct {
	key, value []byte
	// with returns the value to store under key for the entry to read e instead.
	with func(e []byte) []byte
}

// queuePuts returns the entries of the queue at prefix p that b puts, in order.
func queuePuts(t testing.TB, b *kv.Batch, p []byte) []queuePut {
	t.Helper()
	var out []queuePut
	for _, op := range b.Ops() {
		if op.Kind != kv.OpPut || !bytes.HasPrefix(op.Key, p) || len(op.Key) == len(p) {
			continue
		}
		switch op.Key[len(p)] {
		case 1: // P || 0x01 || index: an entry under its own key
			out = append(out, queuePut{key: op.Key, value: op.Value, with: func(e []byte) []byte { return e }})
		case 0: // P || 0x00: the header, front and back, then the entries it holds
			r := codec.NewReader(op.Value)
			r.U64()
			r.U64()
			if r.Remaining() == 0 {
				continue
			}
			var entries [][]byte
			for range r.Uleb() {
				entries = append(entries, r.VarBytes())
			}
			if err := r.Finish(); err != nil {
				t.Fatalf("queue header: %v", err)
			}
			for i, e := range entries {
				out = append(out, queuePut{key: op.Key, value: e, with: func(e []byte) []byte {
					var w codec.Writer
					w.U64(0)
					w.U64(0)
					w.Uleb(uint64(len(entries)))
					for j, x := range entries {
						if j == i {
							x = e
						}
						w.VarBytes(x)
					}
					return w.Bytes()
				}})
			}
		}
	}
	return out
}
