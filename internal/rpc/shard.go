package rpc

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/micachain/mica/internal/base"
)

// ShardOf returns the shard (in [0, n)) that owns a chain: the first 8 bytes of
// SHA-256(chain id) as a big-endian integer, modulo n (DESIGN §5). Every process of a
// validator computes the same assignment. n must be positive.
func ShardOf(id base.ChainID, n int) int {
	if n <= 1 {
		return 0
	}
	sum := sha256.Sum256(id[:])
	return int(binary.BigEndian.Uint64(sum[:8]) % uint64(n))
}

// shardOfHash spreads requests that are not chain-specific (blob uploads) over shards
// with the same rule.
func shardOfHash(h base.Hash, n int) int { return ShardOf(base.ChainID(h), n) }
