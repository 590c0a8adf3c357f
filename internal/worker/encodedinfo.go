package worker

import (
	"bytes"
	"slices"
	"sync/atomic"
	"weak"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// EncodeChainInfo returns codec.Marshal(info) for an answer of this worker (a chain-info
// query's, a lite certificate's), to send. The manager values an answer carries (the
// locks, the latest proposal, the timeout certificate: up to the policy's MaxBlockSize)
// are encoded once per held value and kept (encodedValues); each answer copies them
// beside its other fields instead of encoding the block again. The bytes are new: the
// caller owns them. Safe for concurrent use.
func (w *Worker) EncodeChainInfo(info *protocol.ChainInfo) []byte {
	return w.values.encodeInfo(info)
}

const (
	// encodedValuesBytes bounds the bytes of manager values' encodings a worker keeps:
	// the values of a few chains holding blocks of the default MaxBlockSize (16 MiB).
	encodedValuesBytes = 64 << 20
	// minEncodedValues is the smallest encoding of manager values kept: smaller ones
	// cost less to encode again than to keep.
	minEncodedValues = 16 << 10
)

// valuesKey names the manager values of one answer by identity. A consensus manager
// never modifies the proposals and certificates it holds (it replaces them), so values
// held by the same pointers encode to the same bytes. The pointers are weak: a key
// keeps nothing alive, and the pointer of a value collected never equals that of a
// value allocated later.
type valuesKey struct {
	chain     base.ChainID
	validated weak.Pointer[protocol.Certificate]
	fast      weak.Pointer[protocol.BlockProposal]
	proposed  weak.Pointer[protocol.BlockProposal]
	timeout   weak.Pointer[protocol.Certificate]
}

func keyOf(chain base.ChainID, m *protocol.ManagerInfo) valuesKey {
	return valuesKey{chain: chain, validated: weak.Make(m.LockingValidated), fast: weak.Make(m.LockingFast),
		proposed: weak.Make(m.Proposed), timeout: weak.Make(m.TimeoutCert)}
}

// live reports whether every value the key names is still in memory: a key with a
// value collected names values no manager holds any more.
func (k valuesKey) live() bool {
	return (k.validated == weak.Pointer[protocol.Certificate]{} || k.validated.Value() != nil) &&
		(k.fast == weak.Pointer[protocol.BlockProposal]{} || k.fast.Value() != nil) &&
		(k.proposed == weak.Pointer[protocol.BlockProposal]{} || k.proposed.Value() != nil) &&
		(k.timeout == weak.Pointer[protocol.Certificate]{} || k.timeout.Value() != nil)
}

// encodedValues keeps the encodings of the manager values of recent answers, one per
// chain (the values its manager held when last asked), least recently used first out,
// at most max bytes in all. An entry whose values the manager no longer holds is
// replaced at the chain's next answer, or dropped once a value is collected. It is safe
// for concurrent use; it changes no answer, only what building one costs.
type encodedValues struct {
	keptLRU[base.ChainID, *valuesEntry] // min: minEncodedValues
	// misfits counts the answers encoded whole because the protocol's layout is not the
	// one encodeInfo assumes (for tests: always zero).
	misfits atomic.Uint64
}

type valuesEntry struct {
	key valuesKey
	// enc is the values' part of a ManagerInfo encoding (managerValues). Read-only.
	enc []byte
}

func (e *valuesEntry) keptKey() base.ChainID { return e.key.chain }
func (e *valuesEntry) keptSize() int         { return len(e.enc) }
func (e *valuesEntry) live() bool            { return e.key.live() }

func newEncodedValues(max int) *encodedValues {
	return &encodedValues{keptLRU: keptLRU[base.ChainID, *valuesEntry]{max: max, min: minEncodedValues}}
}

// get returns the encoding kept of the values k names, or nil.
func (c *encodedValues) get(k valuesKey) []byte {
	e, ok := c.lookup(k.chain, func(e *valuesEntry) bool { return e.key == k })
	if !ok {
		return nil
	}
	return e.enc
}

// put keeps enc, the encoding of the values k names, in place of the chain's earlier
// entry, if enc is large enough to keep (else the earlier entry stays).
func (c *encodedValues) put(k valuesKey, enc []byte) {
	c.keep(k.chain, len(enc), func() *valuesEntry { return &valuesEntry{key: k, enc: enc} })
}

// Layout of the encodings spliced by encodeInfo (protocol.ChainInfo.Encode and
// protocol.ManagerInfo.Encode): a ManagerInfo ends with its values, whose encoding when
// all are absent is noValues (LockingValidated, LockingFast, the Proposed variant and
// TimeoutCert, one zero byte each); a ChainInfo encodes its Manager right before its
// tail (pending bundles, received log length, received log), which is emptyTail bytes
// long when empty. TestEncodedInfoLayout checks both against the protocol package.
const (
	noValues  = 4
	emptyTail = 1 + 8 + 1
)

// managerValues returns the encoding of m's values: the bytes a ManagerInfo with them
// encodes to after those it encodes to without them.
func managerValues(m *protocol.ManagerInfo) []byte {
	v := protocol.ManagerInfo{LockingValidated: m.LockingValidated, LockingFast: m.LockingFast, Proposed: m.Proposed, TimeoutCert: m.TimeoutCert}
	enc := codec.Marshal(&v)
	prefix := codec.Size(&protocol.ManagerInfo{}) - noValues
	return enc[prefix:]
}

// encodeInfo returns codec.Marshal(info), with info's manager values copied from their
// kept encoding if they are large, into a buffer sized for the answer: a large answer
// (megabytes of pending bundles) is written once, not grown by copies as it goes.
func (c *encodedValues) encodeInfo(info *protocol.ChainInfo) []byte {
	m := &info.Manager
	hasValues := m.LockingValidated != nil || m.LockingFast != nil || m.Proposed != nil || m.TimeoutCert != nil
	var vals []byte
	missed := false
	if hasValues {
		k := keyOf(info.ChainID, m)
		if vals = c.get(k); vals == nil {
			missed = true
			vals = managerValues(m)
			c.put(k, vals)
		}
	}
	// The info without its values encodes to head, noValues zero bytes, tail; the answer
	// is head, the values, tail. It is encoded into a buffer with room for the values,
	// which replace the zero bytes in place.
	bare := *info
	bare.Manager.LockingValidated, bare.Manager.LockingFast, bare.Manager.Proposed, bare.Manager.TimeoutCert = nil, nil, nil, nil
	headOnly := bare
	headOnly.RequestedPendingBundles, headOnly.ReceivedLogLength, headOnly.RequestedReceivedLog = nil, 0, nil
	headOnly.SetPendingBundleBytes(protocol.PendingBundleBytes{})
	head := codec.Size(&headOnly) - emptyTail - noValues
	// The tail's length, but for pending bundles held decoded (a local node's answers,
	// not sent): their count, those held as bytes, the log's length and entries.
	tail := emptyTail + 10 + info.PendingBundleBytesLen() + 40*len(info.RequestedReceivedLog)
	w := codec.NewWriter(make([]byte, 0, max(head, 0)+len(vals)+tail))
	bare.Encode(w)
	enc := w.Bytes()
	if !hasValues {
		return enc
	}
	if head < 0 || head+noValues > len(enc) || !bytes.Equal(enc[head:head+noValues], make([]byte, noValues)) {
		// The protocol's layout is not the one assumed (TestEncodedInfoLayout fails).
		c.misfits.Add(1)
		return codec.Marshal(info)
	}
	out := slices.Replace(enc, head, head+noValues, vals...)
	if checkEncodedInfo && missed && !bytes.Equal(out, codec.Marshal(info)) {
		panic("worker: a chain-info answer from kept manager values differs from its encoding")
	}
	return out
}
