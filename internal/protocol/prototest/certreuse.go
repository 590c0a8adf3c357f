package prototest

import (
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// NonMinimalAt returns a copy of b with the ULEB128 at b[at:] written in a longer,
// non-minimal form of the same value, which strict decoding refuses.
func NonMinimalAt(b []byte, at int) []byte {
	end := at
	for b[end]&0x80 != 0 {
		end++
	}
	out := append([]byte(nil), b[:end]...)
	out = append(out, b[end]|0x80, 0)
	return append(out, b[end+1:]...)
}

// TransactionCountAt returns where the transaction count of block is in the encoding of
// a validated or confirmed certificate of it (after the kind and the proposed block's
// other fields).
func TransactionCountAt(block *protocol.Block) int {
	p := block.Proposed
	p.Transactions = nil
	return 1 + codec.Size(&p) - 1
}
