package chain

import "github.com/micachain/mica/internal/views"

// OutboxPrefixes returns the key prefixes of the outbox storage of the chain state at
// ctx, for tests.
func OutboxPrefixes(ctx views.Context) [][]byte {
	return [][]byte{ctx.Sub(tagOutboxes).Prefix(), ctx.Sub(tagOutboxQueues).Prefix()}
}

// CommitteesPrefix returns the key prefix ApplyExecuted watches for committee changes.
func CommitteesPrefix(s *State) []byte { return s.exec.CommitteesPrefix() }
