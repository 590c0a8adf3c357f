// Package worker is the validator core: it handles block proposals, validated,
// confirmed and timeout certificates, chain-information queries and cross-chain requests
// for the chains it owns, and emits notifications.
//
// Chains are loaded lazily into a map and each sits behind its own mutex: requests for
// different chains never wait for each other, and requests for one chain are serialized.
// Idle chains are evicted when the map grows past its capacity. A chain's state is never
// left half-modified: if handling fails after staging changes, the in-memory state is
// dropped and reloaded from storage on next use.
//
// Safety rules the worker enforces around the pure consensus state machine
// (internal/consensus):
//   - the consensus state (with the new vote) is written durably before the vote is
//     returned, so a crash and restart can never make the validator vote twice
//     differently;
//   - a validator votes for a proposal only if it holds every bundle the block receives
//     (ErrMissingBundle otherwise), but it executes a confirmed block even when it does
//     not (the inbox records the bundles as consumed in anticipation);
//   - a confirmed block is re-executed, replaying its recorded oracle responses, and its
//     outcome must match the certified one exactly; its effects are written lazily
//     (storage.WriteLazy, docs/adr/0005): a crash loses a suffix of the writes, the
//     validator keeps its vote and lags, and the client sends the certificate again;
//   - cross-chain receipts and confirmations are written lazily too: the sender's
//     outbox still holds what a crash lost, and Recover delivers it again (the
//     recipient drops duplicates by cursor).
//
// Cross-chain delivery (Run) works on several (sender, recipient) pairs at once, each
// pair by one goroutine at a time so that its heights arrive in order.
//
// Provenance (DESIGN §9): a chain is loaded only from a confirmed description blob
// (genesis, or the verified certificate of the parent's block that created it), and
// committees only from confirmed committee blobs. Uploaded blobs are accepted only when a
// verified certificate or a signed proposal reported them missing, and wait in the
// storage's bounded, expiring pending area until a confirmed certificate publishes them.
// A validator votes only for committees it belongs to, and only for proposals within the
// policy's block size.
//
// A panic inside a request is recovered, logged at error level with the chain id, and
// answered as an error; the chain's cached state is dropped.
//
// A Worker with no signer is a client's local node: it verifies, executes and stores
// certified blocks and stages proposals, but never votes.
package worker
