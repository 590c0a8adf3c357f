// Package execution executes transactions on a chain's execution state: the system
// application (accounts and transfers, claims, chain creation and closing, ownership and
// permissions, committees and epochs), fees, oracle recording and replay, and the host
// side of user applications.
//
// # State
//
// State holds a chain's execution state as views (package views) under one context: the
// system state (description, epoch, admin chain, trusted committees, ownership, balances,
// closed flag, permissions, last timestamp) and one key-value namespace per user
// application. Methods stage changes in memory; Flush appends them to a kv.Batch in
// ascending key order, Rollback drops them. A State is not safe for concurrent use.
//
// # Blocks
//
// The chain layer executes a block as: BeginBlock, then ExecuteTransaction for each
// transaction in order (with LiveOracles when validating a fresh proposal, ReplayOracles
// with the recorded responses when executing a certified block), then Flush into a batch
// of its own. The block's state hash is StateHash(previous state hash, that batch): a
// history hash over the canonical bytes of the execution writes only. Any failing
// transaction fails the whole block: the caller rolls the state back (or discards it).
//
// # Determinism
//
// Every validator must produce byte-identical batches and outcomes for the same block.
// Nothing here reads a clock or a random source, iterates a Go map into an output, or
// lets cached reads change what is written: views emit writes from the operations alone,
// application storage flushes its staged changes sorted by key, and blobs and events from
// other chains are read only through Oracles, whose answers are recorded in the block.
// The outside world too: HTTP requests, a contract's queries of a service (service as
// oracle) and assertions on the validator's clock (assert_before) go through Oracles
// (oracles_ext.go), which performs them in live mode (the only place wall time and the
// network are used) and replays the recorded answers otherwise. Validators that get
// different answers compute different blocks and their votes do not aggregate; a block
// commits only with a quorum that agrees. What an application can make a validator do is
// bounded by the committee's policy (HTTPAllowList, MaxHTTPResponseBytes,
// MaxOracleResponseBytes, HTTPRequestTimeoutMs, MaxServiceOracleMs) and by
// MaxHTTPRequestsPerBlock.
//
// # Errors
//
// Execution errors are of class base.ErrInvalid (the block is invalid: ErrUnauthorized,
// *InsufficientBalanceError, ErrChainClosed, ...) or base.ErrNotFound (a blob or event
// the block needs is not available yet: *MissingBlobError, *MissingEventError, which name
// it so the client can upload it). Other errors come from storage. Nothing reachable from
// a transaction panics; panics of user applications are turned into ErrApplication.
//
// # User applications
//
// A VM plugs in through ApplicationLoader (given to NewState with WithLoader): it loads a
// UserContract per transaction and a UserService per query, and they call back into the
// host through ContractRuntime and ServiceRuntime. Without a loader, user operations and
// messages fail with ErrNoVM.
package execution
