package views_test

import (
	"bytes"
	"cmp"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/views"
)

var trickyBytes = [][]byte{
	{}, {0}, {0, 0}, {0, 1}, {0, 0xff}, {1}, {1, 0}, {0xfe}, {0xff}, {0xff, 0}, {0xff, 0xff},
	[]byte("a"), []byte("a\x00"), []byte("a\x00b"), []byte("a\x01"), []byte("ab"), []byte("b"),
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// checkKeyCodec checks round trips, order preservation and prefix-freedom over all pairs.
func checkKeyCodec[K any](t *testing.T, kc views.KeyCodec[K], vals []K, cmp func(a, b K) int) {
	t.Helper()
	enc := make([][]byte, len(vals))
	for i, v := range vals {
		enc[i] = kc.AppendKey([]byte("pre"), v)[3:]
		back, err := kc.ParseKey(enc[i])
		if err != nil {
			t.Fatalf("ParseKey(%x): %v", enc[i], err)
		}
		if cmp(back, v) != 0 {
			t.Fatalf("round trip of %v gave %v", v, back)
		}
	}
	for i := range vals {
		for j := range vals {
			if got, want := sign(bytes.Compare(enc[i], enc[j])), sign(cmp(vals[i], vals[j])); got != want {
				t.Fatalf("order of %v vs %v: encoded %d, natural %d", vals[i], vals[j], got, want)
			}
			if i != j && cmp(vals[i], vals[j]) != 0 && bytes.HasPrefix(enc[j], enc[i]) {
				t.Fatalf("%x (%v) is a prefix of %x (%v)", enc[i], vals[i], enc[j], vals[j])
			}
		}
	}
}

func TestBytesKey(t *testing.T) {
	checkKeyCodec(t, views.BytesKey{}, trickyBytes, bytes.Compare)
	var ss []string
	for _, b := range trickyBytes {
		ss = append(ss, string(b))
	}
	checkKeyCodec(t, views.StringKey{}, ss, func(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) })

	in := []byte{0, 0xff, 0, 1}
	k, err := views.BytesKey{}.ParseKey(in)
	if err != nil || !bytes.Equal(k, []byte{0}) {
		t.Fatalf("ParseKey = %x, %v", k, err)
	}
	in[0] = 9
	if k[0] != 0 {
		t.Fatal("ParseKey result aliases its input")
	}
	for _, bad := range [][]byte{nil, {}, {'a'}, {0}, {0, 2}, {0, 1, 0}, {0, 0xff}, {'a', 0, 1, 'b'}} {
		if _, err := (views.BytesKey{}).ParseKey(bad); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("ParseKey(%x): err = %v, want ErrInvalid", bad, err)
		}
		if _, err := (views.StringKey{}).ParseKey(bad); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("StringKey.ParseKey(%x): err = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestUint64Key(t *testing.T) {
	vals := []uint64{0, 1, 255, 256, 1 << 32, 1<<64 - 1}
	checkKeyCodec(t, views.Uint64Key[uint64]{}, vals, cmp.Compare[uint64])
	for _, bad := range [][]byte{nil, {1}, make([]byte, 9)} {
		if _, err := (views.Uint64Key[base.BlockHeight]{}).ParseKey(bad); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("ParseKey(%x): err = %v", bad, err)
		}
	}
}

func TestHash32Key(t *testing.T) {
	vals := []base.ChainID{{}, {0, 1}, {1}, {0xff, 0xff}}
	checkKeyCodec(t, views.Hash32Key[base.ChainID]{}, vals, base.ChainID.Compare)
	if _, err := (views.Hash32Key[base.Hash]{}).ParseKey(make([]byte, 31)); !errors.Is(err, base.ErrInvalid) {
		t.Errorf("ParseKey of 31 bytes: %v", err)
	}
}

func TestOwnerKey(t *testing.T) {
	vals := []base.Owner{
		base.ChainOwner,
		base.ReservedOwner(1),
		base.ReservedOwner(255),
		base.Address32Owner(base.Hash{}),
		base.Address32Owner(base.Hash{0, 1}),
		base.Address32Owner(base.Hash{0xff}),
		base.Address20Owner([20]byte{}),
		base.Address20Owner([20]byte{1, 2, 3}),
		base.Address20Owner([20]byte{0xff}),
	}
	checkKeyCodec(t, views.OwnerKey(), vals, base.Owner.Compare)
	for _, bad := range [][]byte{nil, {0}, {0, 1, 2}, {1}, append([]byte{1}, make([]byte, 31)...), {3, 0}, append([]byte{2}, make([]byte, 21)...)} {
		if _, err := views.OwnerKey().ParseKey(bad); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("ParseKey(%x): err = %v, want ErrInvalid", bad, err)
		}
	}
}

// FuzzParseKey feeds arbitrary bytes to every key codec: ParseKey must never panic, and
// whatever it accepts must be canonical (re-encode to the same bytes).
func FuzzParseKey(f *testing.F) {
	for _, b := range trickyBytes {
		f.Add(views.BytesKey{}.AppendKey(nil, b))
	}
	f.Add([]byte{0, 0xff, 0, 1})
	f.Add(make([]byte, 8))
	f.Add(make([]byte, 32))
	f.Add(append([]byte{1}, make([]byte, 32)...))
	f.Add(append([]byte{2}, make([]byte, 20)...))
	f.Add([]byte{0, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzCanonical(t, views.BytesKey{}, b)
		fuzzCanonical(t, views.StringKey{}, b)
		fuzzCanonical(t, views.Uint64Key[uint64]{}, b)
		fuzzCanonical(t, views.Hash32Key[base.Hash]{}, b)
		fuzzCanonical(t, views.OwnerKey(), b)
	})
}

func fuzzCanonical[K any](t *testing.T, kc views.KeyCodec[K], b []byte) {
	k, err := kc.ParseKey(b)
	if err != nil {
		if !errors.Is(err, base.ErrInvalid) {
			t.Fatalf("%T.ParseKey(%x): error %v is not ErrInvalid", kc, b, err)
		}
		return
	}
	if re := kc.AppendKey(nil, k); !bytes.Equal(re, b) {
		t.Fatalf("%T: ParseKey(%x) re-encodes to %x", kc, b, re)
	}
}

// FuzzBytesKeyOrder checks that BytesKey preserves order and is prefix-free.
func FuzzBytesKeyOrder(f *testing.F) {
	f.Add([]byte("a"), []byte("a\x00"))
	f.Add([]byte{}, []byte{0})
	f.Add([]byte{0xff}, []byte{0, 0xff})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ea, eb := views.BytesKey{}.AppendKey(nil, a), views.BytesKey{}.AppendKey(nil, b)
		if bytes.Compare(ea, eb) != bytes.Compare(a, b) {
			t.Fatalf("order of %x, %x not preserved: %x, %x", a, b, ea, eb)
		}
		if !bytes.Equal(a, b) && (bytes.HasPrefix(ea, eb) || bytes.HasPrefix(eb, ea)) {
			t.Fatalf("encodings of %x, %x are not prefix-free", a, b)
		}
	})
}
