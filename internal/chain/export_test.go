package chain

import (
	"context"

	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

// OutboxPrefixes returns the key prefixes of the outbox storage of the chain state at
// ctx, for tests.
func OutboxPrefixes(ctx views.Context) [][]byte {
	return [][]byte{ctx.Sub(tagOutboxes).Prefix(), ctx.Sub(tagOutboxQueues).Prefix()}
}

// CommitteesPrefix returns the key prefix ApplyExecuted watches for committee changes.
func CommitteesPrefix(s *State) []byte { return s.exec.CommitteesPrefix() }

// TakeBundle stages the removal of b from its inbox, as a block receiving it does.
func TakeBundle(ctx context.Context, s *State, b *protocol.IncomingBundle) error {
	return s.removeBundle(ctx, b, true)
}

// RollbackInboxes drops the inbox changes staged, as ExecuteDetached does.
func RollbackInboxes(s *State) { s.rollbackInboxes() }
