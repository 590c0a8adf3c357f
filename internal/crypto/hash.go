package crypto

import (
	"crypto/sha256"
	"hash"
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// hashState is the scratch space of one hashing call: a SHA-256 state, an encoding buffer
// and a small buffer for the domain prefix and the digest.
type hashState struct {
	h       hash.Hash
	w       codec.Writer
	scratch []byte
}

// maxPooledEncoding bounds the encoding buffers kept for reuse, so that hashing one large
// value (a block with big blobs) does not pin its buffer forever.
const maxPooledEncoding = 1 << 20

// hashStates recycles hashState values across calls and goroutines. It holds no data that
// outlives a call: every user resets what it takes.
var hashStates = sync.Pool{New: func() any {
	return &hashState{h: sha256.New(), scratch: make([]byte, 0, 128)}
}}

func getHashState() *hashState {
	st := hashStates.Get().(*hashState)
	st.h.Reset()
	st.w.Reset()
	return st
}

func putHashState(st *hashState) {
	if st.w.Len() > maxPooledEncoding {
		st.w = codec.Writer{}
	}
	st.w.Reset()
	if cap(st.scratch) > 1024 {
		st.scratch = make([]byte, 0, 128)
	}
	hashStates.Put(st)
}

// writePrefix feeds "typeName::" to the hash.
func (st *hashState) writePrefix(typeName string) {
	st.scratch = append(st.scratch[:0], typeName...)
	st.scratch = append(st.scratch, ':', ':')
	st.h.Write(st.scratch)
}

func (st *hashState) sum() base.Hash {
	var out base.Hash
	st.scratch = st.h.Sum(st.scratch[:0])
	copy(out[:], st.scratch)
	return out
}

// HashBytes returns SHA-256("typeName::" || canonical): the domain-separated hash of a
// value whose canonical encoding is canonical. typeName should be the value's Go type name
// ("Block", "PublicKey"), so that equal bytes of different types never share a hash.
func HashBytes(typeName string, canonical []byte) base.Hash {
	st := getHashState()
	st.writePrefix(typeName)
	st.h.Write(canonical)
	out := st.sum()
	putHashState(st)
	return out
}

// HashValue returns HashBytes(typeName, codec.Marshal(v)), encoding v into a recycled
// buffer: it allocates nothing beyond what v.Encode itself does.
func HashValue(typeName string, v codec.Encoder) base.Hash {
	st := getHashState()
	v.Encode(&st.w)
	st.writePrefix(typeName)
	st.h.Write(st.w.Bytes())
	out := st.sum()
	putHashState(st)
	return out
}
