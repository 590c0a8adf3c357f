package chain

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/views"
)

// The consensus register is stored as it was when it held a views.BytesCodec value
// (the manager's bytes after their ULEB128 length), so stores written by either build
// load; a stored value whose length does not match is corruption, not a panic.
func TestManagerStoredLayout(t *testing.T) {
	ctx := context.Background()
	ss := newStateStore(t)
	s := ss.load()
	m := consensus.NewManager(protocol.SingleOwner(prototest.Key("owner").Public().Owner()), 3, 1000)
	s.SetManager(ctx, m)
	var w codec.Writer
	views.BytesCodec{}.Encode(&w, codec.Marshal(m))
	var key, got []byte
	for _, op := range ss.flush(t, s).Ops() {
		if string(op.Value) == string(w.Bytes()) {
			key, got = op.Key, op.Value
		}
	}
	if key == nil {
		t.Fatal("the stored manager is not a BytesCodec value of its canonical bytes")
	}
	reloaded, err := ss.load().Manager(ctx)
	if err != nil || !codec.Equal(reloaded, m) {
		t.Fatalf("reloaded manager differs: %v", err)
	}
	for _, bad := range [][]byte{{}, {0x80}, append([]byte{byte(len(got))}, got[1:]...), append(got, 0)} {
		var b kv.Batch
		b.Put(key, bad)
		if err := ss.db.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
		if _, err := ss.load().Manager(ctx); !errors.Is(err, base.ErrCorrupt) {
			t.Errorf("stored value %x: Manager = %v, want corruption", bad[:min(len(bad), 4)], err)
		}
	}
}
