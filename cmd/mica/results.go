package main

// What commands print under --json when the node service returns the same thing: the
// models of its system GraphQL schema (internal/nodeservice/schema.graphqls, package
// gql), built by the same functions (package view), so a script reads a block, a
// balance or a transfer's result the same way from `mica ... --json` and from
// `mica service`. Fields the CLI adds are camelCase like the schema's.

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/nodeservice/gql"
	"github.com/micachain/mica/internal/nodeservice/view"
	"github.com/micachain/mica/internal/protocol"
)

// blockJSON is a committed block as a result: the schema's BlockResult (chainId, height,
// hash) and the round it was confirmed in.
type blockJSON struct {
	*gql.BlockResult
	Round string `json:"round"`
}

// blockResult returns the result of a committed block, or nil (JSON null) for none.
func blockResult(cert *protocol.Certificate) *blockJSON {
	if cert == nil {
		return nil
	}
	return &blockJSON{BlockResult: view.BlockResult(cert), Round: cert.Round.String()}
}

// inboxBlockJSON is a block that process-inbox (or process-streams) committed: what it
// received and processed besides the BlockResult.
type inboxBlockJSON struct {
	*blockJSON
	Bundles       int `json:"bundles"`
	StreamUpdates int `json:"streamUpdates"`
}

// inboxBlocks returns the blocks of chain id in [from, to) from the local replica, as
// process-inbox results (the node service's processInbox returns the same list).
func (s *session) inboxBlocks(cmd *cobra.Command, id base.ChainID, from, to base.BlockHeight) ([]inboxBlockJSON, error) {
	out := []inboxBlockJSON{}
	if to <= from {
		return out, nil
	}
	certs, err := s.c.Local().Storage().Certificates(cmd.Context(), id, from, to)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		b, u := inboxCounts(c)
		out = append(out, inboxBlockJSON{blockJSON: blockResult(c), Bundles: b, StreamUpdates: u})
	}
	return out, nil
}

// inboxCounts counts the bundles a block received and the stream updates it processed.
func inboxCounts(cert *protocol.Certificate) (bundles, updates int) {
	for _, tx := range cert.Block.Proposed.Transactions {
		if tx.Bundle != nil {
			bundles++
		} else if u, ok := tx.Operation.System.(*protocol.UpdateStreams); ok {
			updates += len(u.Updates)
		}
	}
	return bundles, updates
}

// inboxSummary describes what the last block of a process-inbox run did.
func inboxSummary(cert *protocol.Certificate) string {
	if cert == nil {
		return ""
	}
	bundles, updates := inboxCounts(cert)
	return fmt.Sprintf("the last block received %d bundle(s) and processed %d stream update(s)", bundles, updates)
}

// balanceJSON is an account's balance: the chain and, for an owner's account, the owner
// (the schema's Chain.balance and OwnerBalance).
type balanceJSON struct {
	Account string  `json:"account"`
	ChainID string  `json:"chainId"`
	Owner   *string `json:"owner"`
	Balance string  `json:"balance"`
	// LocalReplicaOnly says no validator answered: the balance may be stale.
	LocalReplicaOnly bool `json:"localReplicaOnly"`
}

func accountBalance(acc base.Account, bal base.Amount, synced bool) balanceJSON {
	v := balanceJSON{Account: acc.String(), ChainID: acc.Chain.String(), Balance: bal.String(), LocalReplicaOnly: !synced}
	if !acc.Owner.IsChain() {
		o := acc.Owner.String()
		v.Owner = &o
	}
	return v
}

// syncJSON is a chain's height after a sync (the schema's Chain.nextHeight).
type syncJSON struct {
	ChainID    string `json:"chainId"`
	NextHeight int64  `json:"nextHeight"`
	// Owner is the wallet's signing owner on the chain, null if it only follows it.
	Owner *string `json:"owner,omitempty"`
	// LocalReplicaOnly says no validator answered.
	LocalReplicaOnly bool `json:"localReplicaOnly"`
	// Behind says why the replica stopped short of the height validators report
	// (printed as a warning too); absent when it did not.
	Behind *string `json:"behind,omitempty"`
}

// notificationJSON is a notification as `watch --json` prints it: the schema's
// Notification and, for NEW_EVENTS, the stream and its new event count.
type notificationJSON struct {
	*gql.Notification
	ApplicationID *string `json:"applicationId,omitempty"`
	StreamName    *string `json:"streamName,omitempty"`
	NextIndex     *uint32 `json:"nextIndex,omitempty"`
}

func notificationResult(n protocol.Notification) notificationJSON {
	v := notificationJSON{Notification: view.Notification(n)}
	if n.Kind == protocol.ReasonNewEvents {
		app, name, next := n.App.String(), n.StreamName, n.NextIndex
		v.ApplicationID, v.StreamName, v.NextIndex = &app, &name, &next
	}
	return v
}
