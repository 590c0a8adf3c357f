package protocol

import (
	"encoding/binary"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// A validator that voted for a block in the fast round holds it decoded and executed
// when, a few milliseconds later, the block's confirmed certificate arrives carrying the
// same block again: at 100 transfers per block, decoding it a second time was 7.7 % of
// a validator's CPU. DecodeCertificateReusing takes the held block instead of decoding
// the certificate's when the certificate's block bytes are exactly the held block's
// canonical encoding, which proves everything the decoding would have: the bytes decode
// to the held block (encode(decode(b)) == b for every accepted b, so the canonical
// encoding of a block decodes to that block), the block hash is the hash of those
// bytes (Block.Decode hashes the very bytes that Block.Encode writes for its parts), and
// a non-canonical encoding of the same block is not those bytes. The rest of the
// certificate (round, signatures, no trailing bytes) is decoded strictly as before.

// certificateBlockOffset is where a block certificate's block starts: after the kind,
// one byte (a ULEB128 tag under 128).
const certificateBlockOffset = 1

// PeekCertificateBlock returns the chain and height of the block that the encoded
// certificate b carries, read at their fixed places without decoding, and false if b is
// not a validated or confirmed certificate long enough to carry them. Nothing is
// checked: the values only select a held block for DecodeCertificateReusing.
func PeekCertificateBlock(b []byte) (base.ChainID, base.BlockHeight, bool) {
	// ProposedBlock starts with the chain (32 bytes), the epoch (u32), the height (u64).
	const chainEnd = certificateBlockOffset + 32
	const heightAt = chainEnd + 4
	if len(b) < heightAt+8 || (b[0] != byte(KindValidated) && b[0] != byte(KindConfirmed)) {
		return base.ChainID{}, 0, false
	}
	return base.ChainID(b[certificateBlockOffset:chainEnd]), base.BlockHeight(binary.LittleEndian.Uint64(b[heightAt:])), true
}

// DecodeCertificateReusing decodes the certificate b as codec.Unmarshal does, and
// reports whether it took held as its block instead of decoding the block: exactly when
// b is a validated or confirmed certificate whose block bytes are held's canonical
// encoding. The result is then the certificate codec.Unmarshal gives (same kind, round,
// signatures; a block with the same encoding and hash), with held itself as its Block;
// otherwise b is decoded in full. Errors are those of codec.Unmarshal. held may be nil;
// it must not be mutated (NewBlock's contract), and its canonical encoding must decode
// within the default budget (a block a validator voted for: checkDecodable).
func DecodeCertificateReusing(b []byte, held *Block) (*Certificate, bool, error) {
	if held != nil {
		if c, ok, err := decodeWithHeld(b, held); ok || err != nil {
			return c, ok, err
		}
	}
	c := new(Certificate)
	if err := codec.Unmarshal(b, c); err != nil {
		return nil, false, err
	}
	return c, false, nil
}

// decodeWithHeld decodes b with held as its block if b's block bytes are held's
// canonical encoding (ok), or returns false and nil if they are not.
func decodeWithHeld(b []byte, held *Block) (*Certificate, bool, error) {
	chain, height, ok := PeekCertificateBlock(b)
	if !ok || chain != held.ChainID() || height != held.Height() {
		return nil, false, nil
	}
	w := codec.AcquireWriter()
	held.Encode(w)
	// The reader is Unmarshal's (same budget, offsets in b); the block's encoding is
	// self-delimiting, so input that starts with it decodes to the held block and the
	// rest is read as Certificate.Decode reads it (codec.Reader.SkipPrefix).
	r := codec.NewReader(b)
	kind := CertificateKind(r.Tag(uint32(numKinds)))
	same := r.SkipPrefix(w.Bytes())
	codec.ReleaseWriter(w)
	if !same {
		return nil, false, nil
	}
	c := &Certificate{Kind: kind, Block: held}
	c.Round = r.Round()
	c.Signatures = decSignatures(r)
	if err := r.Finish(); err != nil {
		return nil, false, err
	}
	return c, true, nil
}
