package protocol

import (
	"bytes"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
)

// ProposalContent is what an owner signs when proposing.
type ProposalContent struct {
	Block ProposedBlock
	Round base.Round
	// Outcome is set only when re-proposing a validated block (a regular retry).
	Outcome *BlockExecutionOutcome
}

func (p *ProposalContent) Encode(w *codec.Writer) {
	p.Block.Encode(w)
	w.Round(p.Round)
	w.OptionTag(p.Outcome != nil)
	if p.Outcome != nil {
		p.Outcome.Encode(w)
	}
}

func (p *ProposalContent) Decode(r *codec.Reader) {
	p.Block.Decode(r)
	p.Round = r.Round()
	p.Outcome = nil
	if r.OptionTag() {
		p.Outcome = codec.New[BlockExecutionOutcome](r)
		p.Outcome.Decode(r)
	}
}

// SigningHash is the message the proposer signs.
func (p *ProposalContent) SigningHash() base.Hash { return crypto.HashValue(hashProposalContent, p) }

// hashProposalContent is the type name of the proposer's signed message.
const hashProposalContent = "ProposalContent"

// OriginalProposal justifies a re-proposal of a locked block in a later round: either the
// super owner's signature of the original fast proposal, or the validated certificate.
type OriginalProposal struct {
	// Fast retry.
	FastPublicKey crypto.PublicKey
	FastSignature crypto.Signature
	// Regular retry (non-nil).
	Regular *LiteCertificate
}

func (o *OriginalProposal) Encode(w *codec.Writer) {
	if o.Regular == nil {
		w.Tag(0)
		o.FastPublicKey.Encode(w)
		o.FastSignature.Encode(w)
		return
	}
	w.Tag(1)
	o.Regular.Encode(w)
}

func (o *OriginalProposal) Decode(r *codec.Reader) {
	*o = OriginalProposal{}
	if r.Tag(2) == 0 {
		o.FastPublicKey.Decode(r)
		o.FastSignature.Decode(r)
		return
	}
	o.Regular = codec.New[LiteCertificate](r)
	o.Regular.Decode(r)
}

// BlockProposal is a signed proposal sent by an owner to every validator.
type BlockProposal struct {
	Content   ProposalContent
	PublicKey crypto.PublicKey
	Signature crypto.Signature
	Original  *OriginalProposal
	// Blobs carries the content of the blobs the block publishes. It is not signed: blobs
	// are content-addressed and the block names them.
	Blobs []Blob
}

// SignProposal signs a fresh proposal.
func SignProposal(s crypto.Signer, block ProposedBlock, round base.Round, blobs []Blob) (*BlockProposal, error) {
	p := &BlockProposal{Content: ProposalContent{Block: block, Round: round}, Blobs: blobs}
	sig, err := s.Sign(p.Content.SigningHash())
	if err != nil {
		return nil, fmt.Errorf("sign proposal: %w", err)
	}
	p.PublicKey, p.Signature = s.Public(), sig
	return p, nil
}

// SignProposalEncoded is SignProposal that also returns the proposal's canonical
// encoding, made in the same pass: the signed content is a prefix of the proposal's
// encoding, so the block is encoded once for the signature and for the wire instead of
// once for each. The bytes are the proposal's encoding only while neither is modified.
func SignProposalEncoded(s crypto.Signer, block ProposedBlock, round base.Round, blobs []Blob) (*BlockProposal, []byte, error) {
	p := &BlockProposal{Content: ProposalContent{Block: block, Round: round}, Blobs: blobs}
	w := codec.AcquireWriter()
	defer codec.ReleaseWriter(w)
	p.Content.Encode(w)
	sig, err := s.Sign(crypto.HashBytes(hashProposalContent, w.Bytes()))
	if err != nil {
		return nil, nil, fmt.Errorf("sign proposal: %w", err)
	}
	p.PublicKey, p.Signature = s.Public(), sig
	p.encodeTail(w)
	return p, append(make([]byte, 0, w.Len()), w.Bytes()...), nil
}

// SignFastRetry re-proposes a fast proposal in a later round, carrying the original signature.
func SignFastRetry(s crypto.Signer, original *BlockProposal, round base.Round) (*BlockProposal, error) {
	p := &BlockProposal{
		Content:  ProposalContent{Block: original.Content.Block, Round: round},
		Original: &OriginalProposal{FastPublicKey: original.PublicKey, FastSignature: original.Signature},
		Blobs:    original.Blobs,
	}
	sig, err := s.Sign(p.Content.SigningHash())
	if err != nil {
		return nil, fmt.Errorf("sign proposal: %w", err)
	}
	p.PublicKey, p.Signature = s.Public(), sig
	return p, nil
}

// SignRegularRetry re-proposes the block of a validated certificate in a later round.
func SignRegularRetry(s crypto.Signer, validated *Certificate, round base.Round, blobs []Blob) (*BlockProposal, error) {
	lite := validated.Lite()
	outcome := validated.Block.Outcome
	p := &BlockProposal{
		Content:  ProposalContent{Block: validated.Block.Proposed, Round: round, Outcome: &outcome},
		Original: &OriginalProposal{Regular: &lite},
		Blobs:    blobs,
	}
	sig, err := s.Sign(p.Content.SigningHash())
	if err != nil {
		return nil, fmt.Errorf("sign proposal: %w", err)
	}
	p.PublicKey, p.Signature = s.Public(), sig
	return p, nil
}

// Owner returns the proposer's owner address.
func (p *BlockProposal) Owner() base.Owner { return p.PublicKey.Owner() }

// IsFastRetry and IsRegularRetry tell the proposal shapes apart.
func (p *BlockProposal) IsFastRetry() bool    { return p.Original != nil && p.Original.Regular == nil }
func (p *BlockProposal) IsRegularRetry() bool { return p.Original != nil && p.Original.Regular != nil }

// CheckInvariants checks the shape and the signatures of the proposal, but not the
// retry certificate (that needs a committee): fresh = no original and no outcome; fast
// retry = fast original, no outcome, round > Fast; regular retry = certificate of a
// validated block in an earlier round whose hash is the block with the carried outcome.
// The authenticated owner, if set, must be the signer (for a fast retry: the original
// signer; a regular retry may be signed by any owner, the certificate vouching for the
// original).
func (p *BlockProposal) CheckInvariants() error { return p.CheckInvariantsWith(nil) }

// CheckInvariantsWith is CheckInvariants verifying the signatures with v, which keeps the
// expanded keys of signers seen before (nil: no cache).
func (p *BlockProposal) CheckInvariantsWith(v *crypto.Verifier) error {
	return p.checkInvariants(v, nil)
}

// CheckEncodedInvariantsWith is CheckInvariantsWith for a proposal strictly decoded from
// encoded, which is therefore its canonical encoding, and not modified since: the signed
// content, a prefix of encoded, is hashed from there instead of being encoded again. If
// encoded does not end with the proposal's key, signature and retry justification (nil,
// or not p's encoding), or the proposal carries blobs, the content is encoded as by
// CheckInvariantsWith. encoded is not retained.
func (p *BlockProposal) CheckEncodedInvariantsWith(v *crypto.Verifier, encoded []byte) error {
	return p.checkInvariants(v, encoded)
}

// signingHash returns p.Content.SigningHash(), hashed from encoded's prefix when encoded
// is p's encoding (see CheckEncodedInvariantsWith).
func (p *BlockProposal) signingHash(encoded []byte) base.Hash {
	if encoded == nil || len(p.Blobs) > 0 {
		return p.Content.SigningHash()
	}
	w := codec.AcquireWriter()
	defer codec.ReleaseWriter(w)
	p.encodeTail(w)
	if n := len(encoded) - w.Len(); n > 0 && bytes.Equal(encoded[n:], w.Bytes()) {
		return crypto.HashBytes(hashProposalContent, encoded[:n])
	}
	return p.Content.SigningHash()
}

func (p *BlockProposal) checkInvariants(v *crypto.Verifier, encoded []byte) error {
	c := &p.Content
	if !c.Round.Valid() {
		return base.Invalidf("proposal round %v is not valid", c.Round)
	}
	if err := c.Block.CheckShape(); err != nil {
		return err
	}
	signer := p.Owner()
	switch {
	case p.Original == nil:
		if c.Outcome != nil {
			return base.Invalidf("fresh proposal must not carry an outcome")
		}
	case p.IsFastRetry():
		if c.Outcome != nil || c.Round.IsFast() {
			return base.Invalidf("fast retry must be in a later round and carry no outcome")
		}
		orig := ProposalContent{Block: c.Block, Round: base.FastRound}
		if err := v.Verify(p.Original.FastPublicKey, orig.SigningHash(), p.Original.FastSignature); err != nil {
			return fmt.Errorf("fast retry: original signature: %w", err)
		}
		signer = p.Original.FastPublicKey.Owner()
	default:
		cert := p.Original.Regular
		if c.Outcome == nil {
			return base.Invalidf("regular retry must carry the validated outcome")
		}
		if cert.Value.Kind != KindValidated {
			return base.Invalidf("regular retry must carry a validated certificate, not %s", cert.Value.Kind)
		}
		if !cert.Round.Less(c.Round) {
			return base.Invalidf("regular retry round %v must be after the certificate round %v", c.Round, cert.Round)
		}
		b := NewBlock(c.Block, *c.Outcome)
		if b.Hash() != cert.Value.ValueHash {
			return base.Invalidf("regular retry: certificate does not certify the proposed block")
		}
		// The validated certificate proves a quorum checked the original proposer; any
		// owner allowed in this round may re-propose it.
		signer = base.Owner{}
	}
	if ao := c.Block.AuthenticatedOwner; ao != nil && signer != (base.Owner{}) && *ao != signer {
		return base.Invalidf("authenticated owner %s is not the proposal signer %s", *ao, signer)
	}
	if err := v.Verify(p.PublicKey, p.signingHash(encoded), p.Signature); err != nil {
		return fmt.Errorf("proposal signature: %w", err)
	}
	return nil
}

func (p *BlockProposal) Encode(w *codec.Writer) {
	p.Content.Encode(w)
	p.encodeTail(w)
}

// encodeTail writes what follows the content.
func (p *BlockProposal) encodeTail(w *codec.Writer) {
	p.PublicKey.Encode(w)
	p.Signature.Encode(w)
	w.OptionTag(p.Original != nil)
	if p.Original != nil {
		p.Original.Encode(w)
	}
	codec.EncodeItems(w, p.Blobs)
}

func (p *BlockProposal) Decode(r *codec.Reader) {
	p.Content.Decode(r)
	p.PublicKey.Decode(r)
	p.Signature.Decode(r)
	p.Original = nil
	if r.OptionTag() {
		p.Original = codec.New[OriginalProposal](r)
		p.Original.Decode(r)
	}
	p.Blobs = codec.DecodeItems[Blob](r, 2)
}
