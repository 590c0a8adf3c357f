package protocol

import (
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
)

// CertificateKind is what a vote or certificate attests.
type CertificateKind uint8

const (
	// KindTimeout: the round may be left.
	KindTimeout CertificateKind = iota
	// KindValidated: the block is valid and locked at this round.
	KindValidated
	// KindConfirmed: the block is final.
	KindConfirmed
	numKinds
)

func (k CertificateKind) String() string {
	switch k {
	case KindTimeout:
		return "timeout"
	case KindValidated:
		return "validated"
	case KindConfirmed:
		return "confirmed"
	}
	return "unknown"
}

// Timeout is the value of a timeout vote: leave the current round at (chain, height).
type Timeout struct {
	ChainID base.ChainID
	Height  base.BlockHeight
	Epoch   base.Epoch
}

func (t *Timeout) Encode(w *codec.Writer) {
	w.Hash(base.Hash(t.ChainID))
	w.U64(uint64(t.Height))
	w.U32(uint32(t.Epoch))
}

func (t *Timeout) Decode(r *codec.Reader) {
	t.ChainID = r.ChainID()
	t.Height = base.BlockHeight(r.U64())
	t.Epoch = base.Epoch(r.U32())
}

// Hash returns HashValue("Timeout", t).
func (t *Timeout) Hash() base.Hash { return crypto.HashValue("Timeout", t) }

// VoteValue is exactly what a validator signs.
type VoteValue struct {
	ValueHash base.Hash
	Round     base.Round
	Kind      CertificateKind
}

func (v *VoteValue) Encode(w *codec.Writer) {
	w.Hash(v.ValueHash)
	w.Round(v.Round)
	w.Tag(uint32(v.Kind))
}

// SigningHash is the 32-byte message validators sign.
func (v *VoteValue) SigningHash() base.Hash { return crypto.HashValue("VoteValue", v) }

// LiteValue identifies a certified value without carrying it.
type LiteValue struct {
	ValueHash base.Hash
	ChainID   base.ChainID
	Height    base.BlockHeight
	Kind      CertificateKind
}

func (v *LiteValue) Encode(w *codec.Writer) {
	w.Hash(v.ValueHash)
	w.Hash(base.Hash(v.ChainID))
	w.U64(uint64(v.Height))
	w.Tag(uint32(v.Kind))
}

func (v *LiteValue) Decode(r *codec.Reader) {
	v.ValueHash = r.Hash()
	v.ChainID = r.ChainID()
	v.Height = base.BlockHeight(r.U64())
	v.Kind = CertificateKind(r.Tag(uint32(numKinds)))
}

// Vote is one validator's signature on (value, round, kind).
type Vote struct {
	Value     LiteValue
	Round     base.Round
	Validator crypto.PublicKey
	Signature crypto.Signature
}

// SignVote signs a vote.
func SignVote(s crypto.Signer, value LiteValue, round base.Round) (Vote, error) {
	vv := VoteValue{ValueHash: value.ValueHash, Round: round, Kind: value.Kind}
	sig, err := s.Sign(vv.SigningHash())
	if err != nil {
		return Vote{}, fmt.Errorf("sign %s vote: %w", value.Kind, err)
	}
	return Vote{Value: value, Round: round, Validator: s.Public(), Signature: sig}, nil
}

// Verify checks the vote's signature (not membership in a committee).
func (v *Vote) Verify() error {
	vv := VoteValue{ValueHash: v.Value.ValueHash, Round: v.Round, Kind: v.Value.Kind}
	if err := crypto.Verify(v.Validator, vv.SigningHash(), v.Signature); err != nil {
		return fmt.Errorf("vote from %s: %w", v.Validator, err)
	}
	return nil
}

func (v *Vote) Encode(w *codec.Writer) {
	v.Value.Encode(w)
	w.Round(v.Round)
	v.Validator.Encode(w)
	v.Signature.Encode(w)
}

func (v *Vote) Decode(r *codec.Reader) {
	v.Value.Decode(r)
	v.Round = r.Round()
	v.Validator.Decode(r)
	v.Signature.Decode(r)
}

// ValidatorSignature is one entry of a certificate.
type ValidatorSignature struct {
	Validator crypto.PublicKey
	Signature crypto.Signature
}

func encSignatures(w *codec.Writer, s []ValidatorSignature) {
	codec.EncodeSlice(w, s, func(w *codec.Writer, v *ValidatorSignature) { v.Validator.Encode(w); v.Signature.Encode(w) })
}

func decSignatures(r *codec.Reader) []ValidatorSignature {
	s := codec.DecodeSlice(r, 4, func(r *codec.Reader, v *ValidatorSignature) {
		v.Validator.Decode(r)
		v.Signature.Decode(r)
	})
	for i := 1; i < len(s); i++ {
		if s[i-1].Validator.Compare(s[i].Validator) >= 0 {
			r.Fail("certificate signatures not strictly sorted by validator")
			return nil
		}
	}
	return s
}

// LiteCertificate is a certificate without its value.
//
// Invariant (checked by decoding and by Check): Signatures are strictly sorted by
// validator, hence without repeats.
type LiteCertificate struct {
	Value      LiteValue
	Round      base.Round
	Signatures []ValidatorSignature
}

func (c *LiteCertificate) Encode(w *codec.Writer) {
	c.Value.Encode(w)
	w.Round(c.Round)
	encSignatures(w, c.Signatures)
}

func (c *LiteCertificate) Decode(r *codec.Reader) {
	c.Value.Decode(r)
	c.Round = r.Round()
	c.Signatures = decSignatures(r)
}

// ErrInsufficientQuorum and ErrUnknownSigner classify certificate failures (class ErrInvalid).
var (
	ErrInsufficientQuorum = fmt.Errorf("%w: certificate lacks a quorum", base.ErrInvalid)
	ErrUnknownSigner      = fmt.Errorf("%w: certificate signed by a non-member", base.ErrInvalid)
)

// Check verifies that the signatures are sorted and distinct, come from members of the
// committee, reach the quorum threshold, and are all valid. The signatures are
// batch-verified.
func (c *LiteCertificate) Check(committee *Committee) error { return c.CheckWith(nil, committee) }

// CheckWith is Check verifying the signatures with v, which keeps the expanded keys of
// validators seen before (nil: no cache). Only members of committee reach v.
func (c *LiteCertificate) CheckWith(v *crypto.Verifier, committee *Committee) error {
	bv := v.NewBatchVerifier(len(c.Signatures))
	if err := c.AddTo(bv, committee); err != nil {
		return err
	}
	if err := bv.Verify(); err != nil {
		return fmt.Errorf("%s certificate for %s at height %d: %w", c.Value.Kind, c.Value.ChainID.Short(), c.Value.Height, err)
	}
	return nil
}

// AddTo makes every check of Check but the signatures themselves (sorted and distinct
// signers, members of the committee, a quorum of weight) and adds the signatures to bv,
// so that the signatures of many certificates are verified in one batch: the
// certificates all pass Check exactly when AddTo returns nil for each and bv.Verify
// then returns nil.
func (c *LiteCertificate) AddTo(bv *crypto.BatchVerifier, committee *Committee) error {
	var weight uint64
	for i, s := range c.Signatures {
		if i > 0 && c.Signatures[i-1].Validator.Compare(s.Validator) >= 0 {
			return base.Invalidf("certificate signatures not strictly sorted by validator")
		}
		wgt := committee.Weight(s.Validator)
		if wgt == 0 {
			return fmt.Errorf("%w: %s", ErrUnknownSigner, s.Validator)
		}
		weight += wgt
	}
	if q := committee.QuorumThreshold(); weight < q {
		return fmt.Errorf("%w: weight %d, need %d", ErrInsufficientQuorum, weight, q)
	}
	vv := VoteValue{ValueHash: c.Value.ValueHash, Round: c.Round, Kind: c.Value.Kind}
	msg := vv.SigningHash()
	for _, s := range c.Signatures {
		bv.Add(s.Validator, msg, s.Signature)
	}
	return nil
}

// Certificate is a quorum of votes on a block (validated or confirmed) or a timeout.
type Certificate struct {
	Kind       CertificateKind
	Block      *Block   // KindValidated, KindConfirmed
	Timeout    *Timeout // KindTimeout
	Round      base.Round
	Signatures []ValidatorSignature
}

// ValueHash returns the hash of the certified value.
func (c *Certificate) ValueHash() base.Hash {
	if c.Kind == KindTimeout {
		return c.Timeout.Hash()
	}
	return c.Block.Hash()
}

// ChainID returns the chain of the certified value.
func (c *Certificate) ChainID() base.ChainID {
	if c.Kind == KindTimeout {
		return c.Timeout.ChainID
	}
	return c.Block.ChainID()
}

// Height returns the height of the certified value.
func (c *Certificate) Height() base.BlockHeight {
	if c.Kind == KindTimeout {
		return c.Timeout.Height
	}
	return c.Block.Height()
}

// Epoch returns the epoch of the certified value.
func (c *Certificate) Epoch() base.Epoch {
	if c.Kind == KindTimeout {
		return c.Timeout.Epoch
	}
	return c.Block.Epoch()
}

// LiteValue returns the value's identity.
func (c *Certificate) LiteValue() LiteValue {
	return LiteValue{ValueHash: c.ValueHash(), ChainID: c.ChainID(), Height: c.Height(), Kind: c.Kind}
}

// Lite returns the certificate without its value.
func (c *Certificate) Lite() LiteCertificate {
	return LiteCertificate{Value: c.LiteValue(), Round: c.Round, Signatures: c.Signatures}
}

// Check verifies the certificate against a committee.
func (c *Certificate) Check(committee *Committee) error {
	lc := c.Lite()
	return lc.Check(committee)
}

// Hash identifies the certificate's value and kind (a confirmed certificate is stored by
// its block hash).
func (c *Certificate) Hash() base.Hash { return c.ValueHash() }

func (c *Certificate) Encode(w *codec.Writer) {
	w.Tag(uint32(c.Kind))
	if c.Kind == KindTimeout {
		c.Timeout.Encode(w)
	} else {
		c.Block.Encode(w)
	}
	w.Round(c.Round)
	encSignatures(w, c.Signatures)
}

func (c *Certificate) Decode(r *codec.Reader) {
	*c = Certificate{Kind: CertificateKind(r.Tag(uint32(numKinds)))}
	if c.Kind == KindTimeout {
		c.Timeout = codec.New[Timeout](r)
		c.Timeout.Decode(r)
	} else {
		c.Block = codec.New[Block](r)
		c.Block.Decode(r)
	}
	c.Round = r.Round()
	c.Signatures = decSignatures(r)
}

// CertificateFromVotes assembles a certificate from votes on the same value and round.
// Votes must be distinct validators; the caller checks the quorum with Check.
func CertificateFromVotes(kind CertificateKind, block *Block, timeout *Timeout, round base.Round, votes []Vote) *Certificate {
	sigs := make([]ValidatorSignature, len(votes))
	for i, v := range votes {
		sigs[i] = ValidatorSignature{Validator: v.Validator, Signature: v.Signature}
	}
	sortSignatures(sigs)
	return &Certificate{Kind: kind, Block: block, Timeout: timeout, Round: round, Signatures: sigs}
}
