package codec_test

import (
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

type benchRecord struct {
	N     uint64
	Name  []byte
	Owner base.Owner
	Items [][]byte
}

func (v *benchRecord) Encode(w *codec.Writer) {
	w.U64(v.N)
	w.VarBytes(v.Name)
	w.Owner(v.Owner)
	codec.EncodeSlice(w, v.Items, func(w *codec.Writer, b *[]byte) { w.VarBytes(*b) })
}

func (v *benchRecord) Decode(r *codec.Reader) {
	v.N = r.U64()
	v.Name = r.VarBytes()
	v.Owner = r.Owner()
	v.Items = codec.DecodeSlice(r, 1, func(r *codec.Reader, b *[]byte) { *b = r.VarBytes() })
}

// BenchmarkDecodeRecord decodes a record of scalars and 64 small byte strings.
func BenchmarkDecodeRecord(b *testing.B) {
	v := &benchRecord{N: 7, Name: []byte("benchmark"), Owner: base.Address20Owner([20]byte{1})}
	for i := range 64 {
		v.Items = append(v.Items, []byte{byte(i), 1, 2, 3, 4, 5, 6, 7})
	}
	buf := codec.Marshal(v)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		var out benchRecord
		if err := codec.Unmarshal(buf, &out); err != nil {
			b.Fatal(err)
		}
	}
}
