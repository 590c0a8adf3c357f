// Package chain holds a chain's state and the rules for extending it: validating and
// executing blocks, inboxes and outboxes of message bundles, the tip, the received log,
// and the consensus state of the current height.
//
// A State is a set of views over the chain's key prefix. Methods stage changes in memory;
// Flush appends them to a batch which the caller writes atomically. A State is not safe
// for concurrent use: the worker serializes access per chain. After a failed method the
// caller must discard the State (staged changes are not rolled back piecemeal).
//
// The block's state hash covers only the execution state (balances, ownership,
// application storage), as a history hash over the canonical bytes of each block's
// write batch. Inbox and outbox bookkeeping is excluded: it depends on when bundles
// arrive, which differs between validators.
//
// Inboxes and outboxes are stored one entry per sending block or height (views.Queue per
// origin or recipient, plus a map of small per-chain headers), so a delivery, a receipt
// or a block's scheduling writes O(1) keys whatever the number of waiting bundles: a
// block receiving the 100 bundles of one sending block deletes one inbox entry.
package chain
