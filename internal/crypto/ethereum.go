package crypto

import (
	"strconv"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"golang.org/x/crypto/sha3"

	"github.com/micachain/mica/internal/base"
)

// keccak256 returns the Ethereum Keccak-256 (not SHA3-256) of the concatenated parts.
func keccak256(parts ...[]byte) [32]byte {
	h := sha3.NewLegacyKeccak256()
	for _, p := range parts {
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// personalMessageDigest is the EIP-191 version 0x45 digest that personal_sign and
// eth_sign sign: keccak256("\x19Ethereum Signed Message:\n" || decimal len(msg) || msg).
func personalMessageDigest(msg []byte) [32]byte {
	prefix := make([]byte, 0, 32)
	prefix = append(prefix, "\x19Ethereum Signed Message:\n"...)
	prefix = strconv.AppendInt(prefix, int64(len(msg)), 10)
	return keccak256(prefix, msg)
}

// EthereumMessageDigest returns the digest a secp256k1 key signs for msg:
// keccak256("\x19Ethereum Signed Message:\n32" || msg), which is what MetaMask's
// personal_sign signs when given the 32 bytes of msg. Solidity contracts check such
// signatures with ecrecover(EthereumMessageDigest(msg), v, r, s).
func EthereumMessageDigest(msg base.Hash) [32]byte {
	return keccak256([]byte("\x19Ethereum Signed Message:\n32"), msg[:])
}

// EthereumAddress returns the Ethereum address of a secp256k1 key: the last 20 bytes of
// the Keccak-256 of the uncompressed point (X || Y, without the 0x04 prefix).
func EthereumAddress(pk PublicKey) ([20]byte, error) {
	var addr [20]byte
	if pk.scheme != Secp256k1 || pk.IsZero() {
		return addr, base.Invalidf("ethereum address: want a secp256k1 key, got %s", pk.short())
	}
	p, err := secp256k1.ParsePubKey([]byte(pk.key))
	if err != nil {
		return addr, base.Invalidf("ethereum address: %v", err)
	}
	return ethereumAddressOf(p), nil
}

func ethereumAddressOf(p *secp256k1.PublicKey) [20]byte {
	var addr [20]byte
	unc := p.SerializeUncompressed()
	h := keccak256(unc[1:])
	copy(addr[:], h[12:])
	return addr
}
