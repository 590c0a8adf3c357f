package localnet

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/micachain/mica/internal/atomicfile"
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
)

// LoadOrCreateSeed returns the secret seed of a local network directory, creating it
// (mode 0600) on first use. Every key of the network derives from it.
func LoadOrCreateSeed(dir string) ([]byte, error) {
	path := filepath.Join(dir, "seed.key")
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("%s is damaged: want 32 bytes, got %d", path, len(b))
		}
		return b, nil
	}
	if !os.IsNotExist(err) {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, seed, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return seed, nil
}

// KeysFromSeed derives Ed25519 key i from a seed.
func KeysFromSeed(seed []byte) func(i int) (*crypto.PrivateKey, error) {
	return func(i int) (*crypto.PrivateKey, error) {
		var idx [8]byte
		binary.LittleEndian.PutUint64(idx[:], uint64(i))
		h := sha256.Sum256(append(append([]byte("mica/localnet/key/"), seed...), idx[:]...))
		return crypto.GenerateKey(crypto.Ed25519, &fixedReader{b: h[:]})
	}
}

type fixedReader struct{ b []byte }

func (r *fixedReader) Read(p []byte) (int, error) {
	n := copy(p, r.b)
	r.b = r.b[n:]
	if n < len(p) {
		return n, fmt.Errorf("key derivation needs more than 32 bytes")
	}
	return n, nil
}

// LoadGenesis reads DIR/genesis.bin, or returns nil if it does not exist.
func LoadGenesis(dir string) (*protocol.GenesisConfig, error) {
	b, err := os.ReadFile(filepath.Join(dir, "genesis.bin"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var g protocol.GenesisConfig
	if err := codec.Unmarshal(b, &g); err != nil {
		return nil, base.Corruptf("genesis.bin: %v", err)
	}
	return &g, nil
}

// SaveGenesis writes DIR/genesis.bin atomically.
func SaveGenesis(dir string, g *protocol.GenesisConfig) error {
	return atomicfile.Write(filepath.Join(dir, "genesis.bin"), codec.Marshal(g), 0o644)
}
