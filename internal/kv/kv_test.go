package kv

import (
	"bytes"
	"testing"
)

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct {
		in, want []byte
	}{
		{nil, nil},
		{[]byte{}, nil},
		{[]byte{0xff}, nil},
		{[]byte{0xff, 0xff}, nil},
		{[]byte{0x00}, []byte{0x01}},
		{[]byte{0x01, 0x02}, []byte{0x01, 0x03}},
		{[]byte{0x01, 0xff}, []byte{0x02}},
		{[]byte{0x01, 0xfe, 0xff, 0xff}, []byte{0x01, 0xff}},
		{[]byte("abc"), []byte("abd")},
	} {
		got := PrefixEnd(tc.in)
		if !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("PrefixEnd(%x) = %x, want %x", tc.in, got, tc.want)
		}
	}
	p := []byte{0x01, 0x02}
	e := PrefixEnd(p)
	e[0] = 9
	if p[0] != 0x01 {
		t.Fatal("PrefixEnd aliases its input")
	}
}

func TestBatch(t *testing.T) {
	var b Batch
	if !b.Empty() || b.Len() != 0 {
		t.Fatal("zero batch not empty")
	}
	k, v := []byte("k"), []byte("v")
	b.Put(k, v)
	b.Put([]byte("e"), nil)
	b.Delete(k)
	b.DeletePrefix(nil)
	k[0], v[0] = 'x', 'x'
	ops := b.Ops()
	if b.Len() != 4 || len(ops) != 4 {
		t.Fatalf("len = %d", b.Len())
	}
	want := []Op{
		{OpPut, []byte("k"), []byte("v")},
		{OpPut, []byte("e"), []byte{}},
		{OpDelete, []byte("k"), nil},
		{OpDeletePrefix, []byte{}, nil},
	}
	for i, w := range want {
		o := ops[i]
		if o.Kind != w.Kind || !bytes.Equal(o.Key, w.Key) || !bytes.Equal(o.Value, w.Value) {
			t.Errorf("op %d = %v %q %q, want %v %q %q", i, o.Kind, o.Key, o.Value, w.Kind, w.Key, w.Value)
		}
		if o.Key == nil {
			t.Errorf("op %d: nil key", i)
		}
	}
	if ops[1].Value == nil {
		t.Error("empty put value is nil")
	}
	if b.Size() != 4 {
		t.Errorf("size = %d, want 4", b.Size())
	}
	// Appending the key must not be able to overwrite the value that follows it.
	_ = append(ops[0].Key, 'z')
	if ops[0].Value[0] != 'v' {
		t.Error("key append overwrote value")
	}

	var c Batch
	c.Put([]byte("a"), []byte("1"))
	c.Append(&b)
	if c.Len() != 5 || c.Ops()[0].Kind != OpPut || c.Ops()[4].Kind != OpDeletePrefix || c.Size() != 6 {
		t.Fatalf("append: %v", c.Ops())
	}
	b.Reset()
	if !b.Empty() || b.Size() != 0 {
		t.Fatal("reset batch not empty")
	}
	if c.Len() != 5 || !bytes.Equal(c.Ops()[1].Key, []byte("k")) {
		t.Fatal("reset of source changed appended batch")
	}
}

// TestBatchArena checks that ops sharing an allocation stay apart: appending to any op's
// key or value cannot overwrite another op, later ops (after Reset too) never reuse bytes
// handed out, and small ops share allocations.
func TestBatchArena(t *testing.T) {
	var b Batch
	type kvp struct{ k, v string }
	var want []kvp
	for i := range 300 {
		k := string(rune('a'+i%26)) + string(make([]byte, i%7))
		v := string(bytes.Repeat([]byte{byte(i)}, i%40))
		if i%50 == 0 {
			v = string(make([]byte, arenaMaxOp+i)) // large: its own allocation
		}
		b.Put([]byte(k), []byte(v))
		want = append(want, kvp{k, v})
	}
	var c Batch
	c.Append(&b)
	b.Reset()
	for range 100 {
		b.Put([]byte("overwrite?"), []byte("yes"))
		b.Delete([]byte("gone"))
	}
	for i, op := range c.Ops() {
		_ = append(op.Key, 0xee, 0xee)
		_ = append(op.Value, 0xee, 0xee)
		if cap(op.Key) != len(op.Key) || cap(op.Value) != len(op.Value) {
			t.Fatalf("op %d: capacity beyond its bytes", i)
		}
	}
	for i, op := range c.Ops() {
		if string(op.Key) != want[i].k || string(op.Value) != want[i].v {
			t.Fatalf("op %d changed: %q=%q, want %q=%q", i, op.Key, op.Value, want[i].k, want[i].v)
		}
	}
	allocs := testing.AllocsPerRun(10, func() {
		var d Batch
		for range 64 {
			d.Put([]byte("key-of-a-queue-entry-0123456789"), []byte("a small value of some forty bytes......"))
		}
	})
	if allocs > 12 { // the ops slice grows 7 times, 5 chunks (256 B doubling to 4 KiB); 71 before
		t.Errorf("64 small puts cost %.0f allocations", allocs)
	}
}

// TestPutOwned checks that PutOwned makes the same ops as Put for values of every size,
// copies the key, and takes the value without copying it, its capacity cut.
func TestPutOwned(t *testing.T) {
	big := bytes.Repeat([]byte{7}, arenaMaxOp+1)
	bigKey := bytes.Repeat([]byte{'k'}, arenaMaxOp+1)
	cases := []struct{ key, value []byte }{
		{[]byte("a"), nil},
		{[]byte("a"), []byte{}},
		{[]byte("b"), []byte("small")},
		{nil, big},
		{[]byte("c"), big},
		{bigKey, nil},
		{bigKey, []byte("v")},
	}
	var put, owned Batch
	for _, c := range cases {
		put.Put(c.key, c.value)
		v := c.value
		if v != nil {
			v = append(make([]byte, 0, len(v)+8), v...)
		}
		key := bytes.Clone(c.key)
		owned.PutOwned(key, v)
		if len(key) > 0 {
			key[0]++ // the key is the caller's again
		}
	}
	if put.Size() != owned.Size() || put.Len() != owned.Len() {
		t.Fatalf("size/len %d/%d, want %d/%d", owned.Size(), owned.Len(), put.Size(), put.Len())
	}
	for i, op := range owned.Ops() {
		want := put.Ops()[i]
		if op.Kind != want.Kind || !bytes.Equal(op.Key, want.Key) || !bytes.Equal(op.Value, want.Value) || op.Value == nil {
			t.Errorf("op %d = %v %q %d bytes (nil %v), want %v %q %d bytes", i, op.Kind, op.Key, len(op.Value), op.Value == nil, want.Kind, want.Key, len(want.Value))
		}
		if cap(op.Value) != len(op.Value) {
			t.Errorf("op %d: value capacity %d beyond its length %d", i, cap(op.Value), len(op.Value))
		}
	}

	var b Batch
	b.PutOwned([]byte("x"), big)
	small := []byte("small")
	b.PutOwned([]byte("y"), small)
	if &b.Ops()[0].Value[0] != &big[0] || &b.Ops()[1].Value[0] != &small[0] {
		t.Error("a value was copied")
	}
	var a Batch
	a.Put([]byte("first"), nil)
	a.Append(&b)
	if got := a.Ops()[1]; &got.Value[0] != &big[0] || !bytes.Equal(got.Key, []byte("x")) {
		t.Error("Append lost the taken value")
	}
}
