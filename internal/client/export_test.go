package client

import "github.com/micachain/mica/internal/protocol"

// SetSyncAnswerLimit makes c download sync batches with receive limit n (instead of
// the largest answer an honest validator sends under the chain's policy), so that
// tests reach the limit with small blocks.
func SetSyncAnswerLimit(c *Client, n int) { c.syncLimit = int64(n) }

// SyncAnswerLimit is syncAnswerLimit, for the tests.
func SyncAnswerLimit(committee *protocol.Committee) int { return int(syncAnswerLimit(committee)) }

// SyncGrants is syncGrants, for the tests.
const SyncGrants = syncGrants
