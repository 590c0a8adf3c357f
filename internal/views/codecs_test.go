package views_test

import (
	"github.com/micachain/mica/internal/codec"
)

// point implements codec.Encoder and codec.Decoder.
type point struct{ X, Y uint32 }

func (p *point) Encode(w *codec.Writer) { w.U32(p.X); w.U32(p.Y) }
func (p *point) Decode(r *codec.Reader) { p.X = r.U32(); p.Y = r.U32() }
