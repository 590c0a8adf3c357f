package consensus

import (
	"bytes"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// encodingVersion is the first byte of an encoded manager. Version 1 (until 2026-12-05)
// stored the fast lock and the confirmed block inline even when they repeat the proposal
// voted on; version 2 (until 2026-12-06) stored the confirmed block's execution outcome;
// version 3 (until 2026-12-06) stored the proposal voted on whole, its received bundles
// included. DecodeStored still reads them. A build before version 4 refuses version 4
// (unknown encoding version): a store written by this build does not load in an earlier
// one.
const (
	encodingVersion   = 4
	encodingVersionV3 = 3
	encodingVersionV2 = 2
	encodingVersionV1 = 1
)

// Lock variants in the encoding.
const (
	lockNone uint32 = iota
	lockFast
	lockValidated
	// lockFastProposed: the fast lock is the proposal voted on (proposed), stored once.
	lockFastProposed
	// lockValidatedOfProposed (version 3): the locking certificate's block is the
	// proposal's block plus an outcome; the certificate is stored without its proposed
	// block.
	lockValidatedOfProposed
	numLockTags
)

// Variants of the confirmed vote's proposed block in the encoding (version 3).
const (
	confirmedInline uint32 = iota
	// confirmedOfProposed: it is the block of the proposal voted on.
	confirmedOfProposed
	// confirmedOfLock: it is the locking certificate's proposed block.
	confirmedOfLock
	numConfirmedTags
)

// Variants of the confirmed block in version 2: the whole block, the outcome of the
// proposal's block, or the locking certificate's block.
const (
	confirmedV2Inline uint32 = iota
	confirmedV2OfProposed
	confirmedV2OfLock
	numConfirmedV2Tags
)

// Encode writes the whole manager state canonically, every received bundle inline (see
// EncodeStored):
//
//	version u8 (= 4) || ownership || height u64 || current round || Option<round timeout u64>
//	|| Option<signed proposal> || Option<proposed (see encodeProposal)> || lock (enum: None | Fast(proposal) |
//	Validated(certificate) | FastProposed | ValidatedOfProposed(bytes)) || Option<timeout
//	certificate> || Option<confirmed vote, its proposed block (enum: Inline(proposed
//	block) | OfProposed | OfLock)> || Option<validated vote> || Option<timeout vote>
//
// Nothing large is stored twice: a fast lock equal to the proposal voted on is
// FastProposed; a locking certificate whose block is the proposal's block is
// ValidatedOfProposed, its canonical bytes without the kind and the proposed block (the
// outcome, round and signatures); the confirmed vote's proposed block is a reference to
// the lock's or the proposal's block when it is one of them (OfLock first). The
// confirmed block's execution outcome is not stored: the vote's value hash commits to
// it, and nothing reads it after a restart (a certificate carries its block; execution
// is deterministic). The variants are chosen by value (canonical bytes), never by
// pointer alone, and the decoder refuses an inline value that a reference would have
// replaced, so the encoding stays canonical. The worker persists these bytes before any
// vote leaves the process.
func (m *Manager) Encode(w *codec.Writer) { m.EncodeStored(w, nil) }

// EncodeStored is Encode storing the proposal's received bundles that bundles holds
// (nil: none) as references to their sending blocks' certificates, for DecodeStored with
// a Bundles reading the same store. This is the register's stored form: the proposal
// voted on receives up to hundreds of bundles, each already on the store in its sender's
// certificate.
func (m *Manager) EncodeStored(w *codec.Writer, bundles Bundles) {
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
	if m.proposed != nil {
		encodeProposal(w, m.proposed, bundles)
	}
	// proposedBytes returns the canonical bytes of m.proposed (nil if there is none),
	// encoded once when a comparison needs them: the fast path's references are the
	// proposal's own pointers.
	var pw *codec.Writer
	defer func() {
		if pw != nil {
			codec.ReleaseWriter(pw)
		}
	}()
	proposedBytes := func() []byte {
		if m.proposed == nil {
			return nil
		}
		if pw == nil {
			pw = codec.AcquireWriter()
			m.proposed.Encode(pw)
		}
		return pw.Bytes()
	}
	switch {
	case m.lockingValidated != nil:
		m.encodeValidatedLock(w, proposedBytes)
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
		tag := m.confirmedVariant(proposedBytes)
		w.Tag(tag)
		if tag == confirmedInline {
			m.confirmedProposed.Encode(w)
		}
	}
	encOpt(w, m.validatedVote)
	encOpt(w, m.timeoutVote)
}

// encodeValidatedLock writes the locking certificate: ValidatedOfProposed if its block's
// proposed block is the proposal's (proposedBytes returns its canonical bytes, nil if
// there is none), Validated otherwise.
func (m *Manager) encodeValidatedLock(w *codec.Writer, proposedBytes func() []byte) {
	c := m.lockingValidated
	if m.proposed != nil && c.Kind == protocol.KindValidated && c.Block != nil {
		pw := codec.AcquireWriter()
		defer codec.ReleaseWriter(pw)
		c.Block.Proposed.Encode(pw)
		if n := pw.Len(); bytes.HasPrefix(proposedBytes(), pw.Bytes()) {
			pw.Reset()
			c.Encode(pw)
			// pw: the kind's tag (one byte), the proposed block (n bytes), the rest.
			w.Tag(lockValidatedOfProposed)
			w.VarBytes(pw.Bytes()[1+n:])
			return
		}
	}
	w.Tag(lockValidated)
	c.Encode(w)
}

// decodeValidatedLock rebuilds a locking certificate stored as ValidatedOfProposed: its
// canonical bytes are the kind's tag, the proposal's block and rest.
func (m *Manager) decodeValidatedLock(r *codec.Reader, rest []byte) {
	if r.Err() != nil {
		return
	}
	if m.proposed == nil {
		r.Fail("consensus manager: locking certificate refers to a missing proposal")
		return
	}
	w := codec.AcquireWriter()
	defer codec.ReleaseWriter(w)
	w.Tag(uint32(protocol.KindValidated))
	m.proposed.Content.Block.Encode(w)
	w.Fixed(rest)
	c := new(protocol.Certificate)
	cr := codec.NewReader(w.Bytes())
	c.Decode(cr)
	if err := cr.Finish(); err != nil {
		r.Fail("consensus manager: locking certificate: %v", err)
		return
	}
	m.lockingValidated = c
}

// confirmedVariant chooses how the confirmed vote's proposed block is stored, by value:
// OfLock if it is the locking certificate's proposed block, else OfProposed if it is the
// proposal's block, else Inline. proposedBytes returns the canonical bytes of m.proposed
// (nil if there is none). Pointers shared with the lock or the proposal (what VoteForProposal
// and VoteForValidated set) spare the comparisons of the fast and validated paths.
func (m *Manager) confirmedVariant(proposedBytes func() []byte) uint32 {
	cp := m.confirmedProposed
	ofProposal := m.proposed != nil && cp == &m.proposed.Content.Block
	if l := m.lockingValidated; l != nil && l.Block != nil {
		lp := &l.Block.Proposed
		switch {
		case lp == cp:
			return confirmedOfLock
		case ofProposal:
			if proposedBlockPrefix(lp, proposedBytes()) {
				return confirmedOfLock
			}
			return confirmedOfProposed
		case sameProposedBlock(lp, cp):
			return confirmedOfLock
		}
	}
	if ofProposal || (m.proposed != nil && proposedBlockPrefix(cp, proposedBytes())) {
		return confirmedOfProposed
	}
	return confirmedInline
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

// Decode reads a manager written by Encode (version 4 with no bundle stored by reference:
// stored states, and those of versions 1 to 3, are read by DecodeStored). It is strict: besides the codec's rules it refuses
// states that break the manager's invariants (votes and certificates of the wrong kind or
// height, a current round that is not the §2.2 formula, an inconsistent timeout) and
// values stored inline that Encode would have stored as a reference, so every accepted
// input re-encodes to the same bytes. Errors are recorded in r.
func (m *Manager) Decode(r *codec.Reader) { m.decode(r, false, nil) }

// DecodeStored decodes a manager persisted by this or an earlier version of Encode or
// EncodeStored (version 1 to 4), for reading the register from a store. Received bundles
// stored by reference are resolved with bundles (a reference with bundles nil is an
// error), and a proposal voted on that receives bundles must carry a valid signature of
// its content (one Ed25519 verification per load): a reference resolving to another
// bundle than the one voted on is an error, never a different proposal. Whether a bundle is a reference is the writer's
// choice (what its store held then), so either is accepted. A manager of an earlier
// version re-encodes as version 4: its confirmed block's outcome is checked against the
// confirmed vote and dropped.
func DecodeStored(b []byte, bundles Bundles) (*Manager, error) {
	m := new(Manager)
	r := codec.NewReader(b)
	m.decode(r, true, bundles)
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manager) decode(r *codec.Reader, stored bool, bundles Bundles) {
	*m = Manager{disabled: m.disabled}
	v := r.U8()
	if r.Err() == nil && v != encodingVersion && (!stored || v < encodingVersionV1 || v > encodingVersion) {
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
	var proposedBytes []byte // the canonical bytes of m.proposed: see proposed
	if r.OptionTag() {
		from := r.Offset()
		if v == encodingVersion {
			m.proposed = decodeProposal(r, stored, bundles)
		} else {
			m.proposed = new(protocol.BlockProposal)
			m.proposed.Decode(r)
			proposedBytes = r.Since(from)
		}
		if stored {
			checkStoredProposal(r, m.proposed)
		}
	}
	// proposed returns proposedBytes, encoding them first for version 4 (its stored
	// proposal is not in the canonical layout).
	proposed := func() []byte {
		if proposedBytes == nil && m.proposed != nil && r.Err() == nil {
			proposedBytes = codec.Marshal(m.proposed)
		}
		return proposedBytes
	}
	lockTags := numLockTags
	switch v {
	case encodingVersionV1:
		lockTags = lockFastProposed
	case encodingVersionV2:
		lockTags = lockValidatedOfProposed
	}
	switch r.Tag(lockTags) {
	case lockFast:
		m.lockingFast = new(protocol.BlockProposal)
		m.lockingFast.Decode(r)
		if !v1 && m.proposed != nil && r.Err() == nil && codec.EncodesTo(m.lockingFast, proposed()) {
			r.Fail("consensus manager: fast lock stored inline though it is the proposal")
		}
	case lockValidated:
		m.lockingValidated = new(protocol.Certificate)
		m.lockingValidated.Decode(r)
		if c := m.lockingValidated; v >= encodingVersionV3 && m.proposed != nil && r.Err() == nil && c.Block != nil && proposedBlockPrefix(&c.Block.Proposed, proposed()) {
			r.Fail("consensus manager: locking certificate stored inline though its block is the proposal's")
		}
	case lockValidatedOfProposed:
		m.decodeValidatedLock(r, r.VarBytes())
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
		if v >= encodingVersionV3 {
			m.decodeConfirmedProposed(r, proposed)
		} else {
			m.decodeConfirmedBlockV2(r, v1)
		}
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

// decodeConfirmedProposed reads the confirmed vote's proposed block (versions 3 and 4),
// refusing a variant Encode would not have chosen. proposedBytes returns the canonical
// bytes of m.proposed.
func (m *Manager) decodeConfirmedProposed(r *codec.Reader, proposedBytes func() []byte) {
	tag := r.Tag(numConfirmedTags)
	if r.Err() != nil {
		return
	}
	var lp *protocol.ProposedBlock // the locking certificate's proposed block
	if l := m.lockingValidated; l != nil && l.Block != nil {
		lp = &l.Block.Proposed
	}
	switch tag {
	case confirmedInline:
		cp := new(protocol.ProposedBlock)
		cp.Decode(r)
		if r.Err() != nil {
			return
		}
		if (lp != nil && sameProposedBlock(lp, cp)) || (m.proposed != nil && proposedBlockPrefix(cp, proposedBytes())) {
			r.Fail("consensus manager: confirmed block stored inline though it is the lock's or the proposal's")
			return
		}
		m.confirmedProposed = cp
	case confirmedOfProposed:
		if m.proposed == nil {
			r.Fail("consensus manager: confirmed block refers to a missing proposal")
			return
		}
		if lp != nil && proposedBlockPrefix(lp, proposedBytes()) {
			r.Fail("consensus manager: confirmed block refers to the proposal though it is the lock's")
			return
		}
		m.confirmedProposed = &m.proposed.Content.Block
	case confirmedOfLock:
		if lp == nil {
			r.Fail("consensus manager: confirmed block refers to a missing lock")
			return
		}
		m.confirmedProposed = lp
	}
}

// decodeConfirmedBlockV2 reads the confirmed block of version 2 (its variant) or version 1
// (inline), checks that it is the block the confirmed vote signs, and keeps its proposed
// block. It reads states this build's predecessors wrote, so it does not insist on the
// variant they would have chosen.
func (m *Manager) decodeConfirmedBlockV2(r *codec.Reader, v1 bool) {
	tag := confirmedV2Inline
	if !v1 {
		tag = r.Tag(numConfirmedV2Tags)
	}
	if r.Err() != nil {
		return
	}
	var block *protocol.Block
	switch tag {
	case confirmedV2Inline:
		block = new(protocol.Block)
		block.Decode(r)
	case confirmedV2OfProposed:
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
		block = protocol.NewBlock(*p, o)
	case confirmedV2OfLock:
		if m.lockingValidated == nil || m.lockingValidated.Block == nil {
			r.Fail("consensus manager: confirmed block refers to a missing lock")
			return
		}
		block = m.lockingValidated.Block
	}
	if r.Err() != nil {
		return
	}
	if block.Hash() != m.confirmedVote.Value.ValueHash {
		r.Fail("consensus manager: confirmed block does not match the confirmed vote")
		return
	}
	m.confirmedProposed = &block.Proposed
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
	if cv, cp := m.confirmedVote, m.confirmedProposed; cv != nil && (cp == nil || cp.ChainID != cv.Value.ChainID || cp.Height != m.height) {
		return "confirmed block is not of the confirmed vote's chain and height"
	}
	if (m.confirmedVote == nil) != (m.confirmedProposed == nil) {
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
