package consensus

import (
	"bytes"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// encodingVersion is the first byte of an encoded manager. Version 1 (until 2026-12-05)
// stored the fast lock and the confirmed block inline even when they repeat the proposal
// voted on; DecodeStored still reads it.
const (
	encodingVersion   = 2
	encodingVersionV1 = 1
)

// Lock variants in the encoding.
const (
	lockNone uint32 = iota
	lockFast
	lockValidated
	// lockFastProposed: the fast lock is the proposal voted on (proposed), stored once.
	lockFastProposed
	numLockTags
)

// Variants of the confirmed block in the encoding (version 2).
const (
	confirmedInline uint32 = iota
	// confirmedOfProposed: the confirmed block's proposed block is the one of the
	// proposal voted on; only its outcome is stored.
	confirmedOfProposed
	// confirmedOfLock: the confirmed block is the locking certificate's block.
	confirmedOfLock
	numConfirmedTags
)

// Encode writes the whole manager state canonically:
//
//	version u8 (= 2) || ownership || height u64 || current round || Option<round timeout u64>
//	|| Option<signed proposal> || Option<proposed> || lock (enum: None | Fast(proposal) |
//	Validated(certificate) | FastProposed) || Option<timeout certificate>
//	|| Option<confirmed vote, confirmed block (enum: Inline(block) | OfProposed(outcome) |
//	OfLock)> || Option<validated vote> || Option<timeout vote>
//
// Nothing large is stored twice: a fast lock equal to the proposal voted on is
// FastProposed, a confirmed block that is the locking certificate's block is OfLock, and
// one whose proposed block is the proposal's is OfProposed (its outcome only). The
// variants are chosen by value (canonical bytes or block hash), never by pointer alone,
// and the decoder refuses an inline value that a reference would have replaced, so the
// encoding stays canonical. The worker persists these bytes before any vote leaves the
// process.
func (m *Manager) Encode(w *codec.Writer) {
	w.U8(encodingVersion)
	m.ownership.Encode(w)
	w.U64(uint64(m.height))
	w.Round(m.currentRound)
	w.OptionTag(m.hasRoundTimeout)
	if m.hasRoundTimeout {
		w.U64(uint64(m.roundTimeout))
	}
	encOpt(w, m.signedProposal)
	w.OptionTag(m.proposed != nil)
	proposedAt := w.Len()
	if m.proposed != nil {
		m.proposed.Encode(w)
	}
	// proposedBytes aliases w's buffer: valid until the next write to w.
	proposedBytes := func() []byte { return w.Bytes()[proposedAt:] }
	switch {
	case m.lockingValidated != nil:
		w.Tag(lockValidated)
		m.lockingValidated.Encode(w)
	case m.lockingFast != nil && m.proposed != nil && (m.lockingFast == m.proposed || codec.EncodesTo(m.lockingFast, proposedBytes())):
		w.Tag(lockFastProposed)
	case m.lockingFast != nil:
		w.Tag(lockFast)
		m.lockingFast.Encode(w)
	default:
		w.Tag(lockNone)
	}
	encOpt(w, m.timeoutCert)
	w.OptionTag(m.confirmedVote != nil)
	if m.confirmedVote != nil {
		m.confirmedVote.Encode(w)
		switch {
		case m.confirmedOfLock():
			w.Tag(confirmedOfLock)
		case m.proposed != nil && proposedBlockPrefix(&m.confirmedBlock.Proposed, w.Bytes()[proposedAt:]):
			w.Tag(confirmedOfProposed)
			m.confirmedBlock.Outcome.Encode(w)
		default:
			w.Tag(confirmedInline)
			m.confirmedBlock.Encode(w)
		}
	}
	encOpt(w, m.validatedVote)
	encOpt(w, m.timeoutVote)
}

// confirmedOfLock reports whether the confirmed block is the locking certificate's
// block (the block hash commits to the whole block).
func (m *Manager) confirmedOfLock() bool {
	c := m.lockingValidated
	return c != nil && c.Block != nil && m.confirmedBlock != nil &&
		(c.Block == m.confirmedBlock || c.Block.Hash() == m.confirmedBlock.Hash())
}

// proposedBlockPrefix reports whether proposal (the canonical bytes of a BlockProposal,
// which start with its proposed block) starts with b's canonical bytes, that is whether b
// is the proposal's block: the encoding of a ProposedBlock is self-delimiting.
func proposedBlockPrefix(b *protocol.ProposedBlock, proposal []byte) bool {
	w := codec.AcquireWriter()
	defer codec.ReleaseWriter(w)
	b.Encode(w)
	return bytes.HasPrefix(proposal, w.Bytes())
}

// Decode reads a manager written by Encode (version 2 only: stored states of version 1
// are read by DecodeStored). It is strict: besides the codec's rules it refuses states
// that break the manager's invariants (votes and certificates of the wrong kind or
// height, a current round that is not the §2.2 formula, an inconsistent timeout) and
// values stored inline that Encode would have stored as a reference, so every accepted
// input re-encodes to the same bytes. Errors are recorded in r.
func (m *Manager) Decode(r *codec.Reader) { m.decode(r, false) }

// DecodeStored decodes a manager persisted by this or an earlier version of Encode
// (version 1 or 2), for reading a store written before the current layout. A manager of
// version 1 re-encodes as version 2.
func DecodeStored(b []byte) (*Manager, error) {
	m := new(Manager)
	r := codec.NewReader(b)
	m.decode(r, true)
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manager) decode(r *codec.Reader, acceptV1 bool) {
	*m = Manager{disabled: m.disabled}
	v := r.U8()
	if r.Err() == nil && v != encodingVersion && (!acceptV1 || v != encodingVersionV1) {
		r.Fail("consensus manager: unknown encoding version %d", v)
		return
	}
	v1 := v == encodingVersionV1
	m.ownership.Decode(r)
	m.height = base.BlockHeight(r.U64())
	m.currentRound = r.Round()
	if m.hasRoundTimeout = r.OptionTag(); m.hasRoundTimeout {
		m.roundTimeout = base.Timestamp(r.U64())
	}
	m.signedProposal = decOpt[protocol.BlockProposal](r)
	var proposedBytes []byte
	if r.OptionTag() {
		from := r.Offset()
		m.proposed = new(protocol.BlockProposal)
		m.proposed.Decode(r)
		proposedBytes = r.Since(from)
	}
	lockTags := numLockTags
	if v1 {
		lockTags = lockFastProposed
	}
	switch r.Tag(lockTags) {
	case lockFast:
		m.lockingFast = new(protocol.BlockProposal)
		m.lockingFast.Decode(r)
		if !v1 && m.proposed != nil && r.Err() == nil && codec.EncodesTo(m.lockingFast, proposedBytes) {
			r.Fail("consensus manager: fast lock stored inline though it is the proposal")
		}
	case lockValidated:
		m.lockingValidated = new(protocol.Certificate)
		m.lockingValidated.Decode(r)
	case lockFastProposed:
		if m.proposed == nil {
			r.Fail("consensus manager: fast lock refers to a missing proposal")
		}
		m.lockingFast = m.proposed
	}
	m.timeoutCert = decOpt[protocol.Certificate](r)
	if r.OptionTag() {
		m.confirmedVote = new(protocol.Vote)
		m.confirmedVote.Decode(r)
		m.decodeConfirmedBlock(r, v1, proposedBytes)
	}
	m.validatedVote = decOpt[protocol.Vote](r)
	m.timeoutVote = decOpt[protocol.Vote](r)
	if r.Err() != nil {
		*m = Manager{disabled: m.disabled}
		return
	}
	if msg := m.invariantViolation(); msg != "" {
		r.Fail("consensus manager: %s", msg)
		*m = Manager{disabled: m.disabled}
	}
}

// decodeConfirmedBlock reads the confirmed block's variant (version 2) or the inline block
// (version 1), refusing a variant Encode would not have chosen.
func (m *Manager) decodeConfirmedBlock(r *codec.Reader, v1 bool, proposedBytes []byte) {
	tag := confirmedInline
	if !v1 {
		tag = r.Tag(numConfirmedTags)
	}
	if r.Err() != nil {
		return
	}
	switch tag {
	case confirmedInline:
		m.confirmedBlock = new(protocol.Block)
		m.confirmedBlock.Decode(r)
		if v1 || r.Err() != nil {
			return
		}
		if m.confirmedOfLock() || (m.proposed != nil && proposedBlockPrefix(&m.confirmedBlock.Proposed, proposedBytes)) {
			r.Fail("consensus manager: confirmed block stored inline though it repeats the proposal or the lock")
		}
	case confirmedOfProposed:
		if m.proposed == nil {
			r.Fail("consensus manager: confirmed block refers to a missing proposal")
			return
		}
		var o protocol.BlockExecutionOutcome
		o.Decode(r)
		if r.Err() != nil {
			return
		}
		p := &m.proposed.Content.Block
		if n := len(p.Transactions); len(o.Messages) != n || len(o.OracleResponses) != n || len(o.Events) != n || len(o.Blobs) != n || len(o.OperationResults) != n {
			r.Fail("consensus manager: confirmed block outcome does not have one entry per transaction")
			return
		}
		m.confirmedBlock = protocol.NewBlock(*p, o)
		if m.confirmedOfLock() {
			r.Fail("consensus manager: confirmed block refers to the proposal though it is the lock's block")
		}
	case confirmedOfLock:
		if m.lockingValidated == nil || m.lockingValidated.Block == nil {
			r.Fail("consensus manager: confirmed block refers to a missing lock")
			return
		}
		m.confirmedBlock = m.lockingValidated.Block
	}
}

// invariantViolation returns a description of the first broken invariant, or "".
func (m *Manager) invariantViolation() string {
	if !m.currentRound.Valid() {
		return "invalid current round"
	}
	for _, p := range []*protocol.BlockProposal{m.signedProposal, m.proposed, m.lockingFast} {
		if p != nil && (p.Content.Block.Height != m.height || !p.Content.Round.Valid()) {
			return "proposal of another height or with an invalid round"
		}
	}
	if m.signedProposal != nil && base.SingleLeader(0).Less(m.signedProposal.Content.Round) {
		return "signed proposal after SingleLeader(0)"
	}
	if m.lockingFast != nil && !m.lockingFast.Content.Round.IsFast() {
		return "fast lock not in the fast round"
	}
	if c := m.lockingValidated; c != nil && (c.Kind != protocol.KindValidated || c.Block == nil || c.Block.Height() != m.height || !c.Round.Valid() || c.Round.IsFast()) {
		return "locking certificate is not a validated block of this height"
	}
	if c := m.timeoutCert; c != nil && (c.Kind != protocol.KindTimeout || c.Timeout == nil || c.Timeout.Height != m.height || !c.Round.Valid()) {
		return "timeout certificate is not a timeout of this height"
	}
	if !voteOK(m.confirmedVote, protocol.KindConfirmed, m.height) || !voteOK(m.validatedVote, protocol.KindValidated, m.height) || !voteOK(m.timeoutVote, protocol.KindTimeout, m.height) {
		return "vote of the wrong kind or height"
	}
	if cv := m.confirmedVote; cv != nil && (m.confirmedBlock == nil || m.confirmedBlock.Hash() != cv.Value.ValueHash || m.confirmedBlock.ChainID() != cv.Value.ChainID) {
		return "confirmed block does not match the confirmed vote"
	}
	if (m.confirmedVote == nil) != (m.confirmedBlock == nil) {
		return "confirmed block without a confirmed vote"
	}
	if m.currentRound != m.computeRound() {
		return "current round does not follow from the state"
	}
	if _, ok := m.ownership.RoundTimeout(m.currentRound); ok != m.hasRoundTimeout {
		return "round timeout inconsistent with the current round"
	}
	return ""
}

func voteOK(v *protocol.Vote, kind protocol.CertificateKind, height base.BlockHeight) bool {
	return v == nil || (v.Value.Kind == kind && v.Value.Height == height && v.Round.Valid())
}

func encOpt[T any, P interface {
	*T
	codec.Encoder
}](w *codec.Writer, v P) {
	w.OptionTag(v != nil)
	if v != nil {
		v.Encode(w)
	}
}

func decOpt[T any, P interface {
	*T
	codec.Decoder
}](r *codec.Reader) P {
	if !r.OptionTag() {
		return nil
	}
	v := P(new(T))
	v.Decode(r)
	return v
}
