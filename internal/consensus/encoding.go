package consensus

import (
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// encodingVersion is the first byte of an encoded manager.
const encodingVersion = 1

// Lock variants in the encoding.
const (
	lockNone uint32 = iota
	lockFast
	lockValidated
	numLockTags
)

// Encode writes the whole manager state canonically:
//
//	version u8 (= 1) || ownership || height u64 || current round || Option<round timeout u64>
//	|| Option<signed proposal> || Option<proposed> || lock (enum: None | Fast(proposal) |
//	Validated(certificate)) || Option<timeout certificate> || Option<confirmed vote, block>
//	|| Option<validated vote> || Option<timeout vote>
//
// The worker persists these bytes before any vote leaves the process.
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
	encOpt(w, m.proposed)
	switch {
	case m.lockingValidated != nil:
		w.Tag(lockValidated)
		m.lockingValidated.Encode(w)
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
		m.confirmedBlock.Encode(w)
	}
	encOpt(w, m.validatedVote)
	encOpt(w, m.timeoutVote)
}

// Decode reads a manager written by Encode. It is strict: besides the codec's rules it
// refuses states that break the manager's invariants (votes and certificates of the wrong
// kind or height, a current round that is not the §2.2 formula, an inconsistent timeout),
// so every accepted input re-encodes to the same bytes. Errors are recorded in r.
func (m *Manager) Decode(r *codec.Reader) {
	*m = Manager{disabled: m.disabled}
	if v := r.U8(); r.Err() == nil && v != encodingVersion {
		r.Fail("consensus manager: unknown encoding version %d", v)
		return
	}
	m.ownership.Decode(r)
	m.height = base.BlockHeight(r.U64())
	m.currentRound = r.Round()
	if m.hasRoundTimeout = r.OptionTag(); m.hasRoundTimeout {
		m.roundTimeout = base.Timestamp(r.U64())
	}
	m.signedProposal = decOpt[protocol.BlockProposal](r)
	m.proposed = decOpt[protocol.BlockProposal](r)
	switch r.Tag(numLockTags) {
	case lockFast:
		m.lockingFast = new(protocol.BlockProposal)
		m.lockingFast.Decode(r)
	case lockValidated:
		m.lockingValidated = new(protocol.Certificate)
		m.lockingValidated.Decode(r)
	}
	m.timeoutCert = decOpt[protocol.Certificate](r)
	if r.OptionTag() {
		m.confirmedVote = new(protocol.Vote)
		m.confirmedVote.Decode(r)
		m.confirmedBlock = new(protocol.Block)
		m.confirmedBlock.Decode(r)
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
