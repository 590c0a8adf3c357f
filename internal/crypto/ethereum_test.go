package crypto

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/sha3"

	"github.com/micachain/mica/internal/base"
)

// The web3.js documentation example for web3.eth.accounts.sign('Some data', key): its
// EIP-191 hash, its signature and the key's address.
const (
	web3Key  = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
	web3Addr = "2c7536e3605d9c16a7a3d7b1898e529396a65c23"
	web3Hash = "1da44b586eb0729ff70a73c326926f6ed5a25f5b056e7f47fbc6e58d86871655"
	web3Sig  = "b91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd" +
		"6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a029" + "1c"
)

func web3PrivateKey(t *testing.T) *PrivateKey {
	t.Helper()
	b, _ := hex.DecodeString(web3Key)
	k, err := UnmarshalPrivateKey(append([]byte{byte(Secp256k1)}, b...))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPersonalSignKnownAnswers(t *testing.T) {
	if d := personalMessageDigest([]byte("Hello World")); hex.EncodeToString(d[:]) != "a1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2" {
		t.Fatalf("hashMessage(Hello World) = %x", d)
	}
	d := personalMessageDigest([]byte("Some data"))
	if hex.EncodeToString(d[:]) != web3Hash {
		t.Fatalf("hashMessage(Some data) = %x", d)
	}
	k := web3PrivateKey(t)
	sig, err := signSecp256k1Digest(k.k1, d)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(sig) != web3Sig {
		t.Fatalf("signature of 'Some data' = %x, want web3.js's %s", sig, web3Sig)
	}
	// EthereumMessageDigest is the 32-byte case of the same construction.
	var h base.Hash
	copy(h[:], "0123456789abcdef0123456789abcdef")
	if EthereumMessageDigest(h) != personalMessageDigest(h[:]) {
		t.Fatalf("EthereumMessageDigest differs from personal_sign of 32 bytes")
	}
}

func TestSecp256k1AddressAndRecovery(t *testing.T) {
	k := web3PrivateKey(t)
	addr, err := EthereumAddress(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(addr[:]) != web3Addr {
		t.Fatalf("address %x, want %s", addr, web3Addr)
	}
	if o := k.Public().Owner(); o.String() != "0x"+web3Addr {
		t.Fatalf("owner %v", o)
	}

	// Sign a hash through the public API, then recover the address as an Ethereum
	// client would: keccak256 of the personal_sign prefix and the 32 bytes,
	// ecrecover(digest, v, r, s), keccak256 of the uncompressed point.
	msg := HashBytes("Vote", []byte("a value"))
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	raw := sig.Bytes()
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte("\x19Ethereum Signed Message:\n32"))
	h.Write(msg[:])
	digest := h.Sum(nil)
	compact := append([]byte{raw[64]}, raw[:64]...) // decred's layout: v || r || s
	rec, _, err := ecdsa.RecoverCompact(compact, digest)
	if err != nil {
		t.Fatal(err)
	}
	h = sha3.NewLegacyKeccak256()
	h.Write(rec.SerializeUncompressed()[1:])
	if got := hex.EncodeToString(h.Sum(nil)[12:]); got != web3Addr {
		t.Fatalf("ecrecover gives %s, want %s", got, web3Addr)
	}
	if err := Verify(k.Public(), msg, sig); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Public().String(), "secp256k1:0") {
		t.Fatalf("String %s", k.Public())
	}
}
