// Package sim is Mica's deterministic multi-validator simulator: N validators in one
// process, each a real worker over its own in-memory store, a committee and genesis built
// from deterministic keys, one real chain client per chain owner (each with its own local
// node over its own store), a manual clock, and one fault type per validator.
//
// # Model
//
// Everything runs on the calling goroutine. Clients use the client package's Sequential
// mode, so a fan-out calls the validators one after the other in committee order. Each
// validator is reached through a Node, which implements client.ValidatorNode by calling
// its worker with its fault applied. After every request the simulator delivers
// cross-chain requests deterministically: DeliverPending on every live worker, in
// validator order, until none has work left (each worker routes to itself). Time is a
// ManualClock that only moves when the run advances it. Every decision (which chain acts,
// which action, amounts, recipients, fault outcomes) is drawn from math/rand/v2 PCG
// generators seeded from the run's seed, and nothing depends on map iteration order, so a
// run is a pure function of its seed and Config.
//
// A run (Run) takes Config.Steps steps. Each step picks a chain, one of its owners' clients
// and an action: a transfer of a random amount from the chain account or the owner's
// account to a chain or owner account on the same or another chain (sometimes far more
// than the balance, which must be refused with base.ErrInvalid and change nothing),
// processing the inbox, opening a child chain with a balance (owned by a super owner, a
// regular owner or two competing regular owners, so that the fast round and the
// multi-leader, single-leader and timeout paths are all exercised; children are driven in
// later steps), a claim on the owner's account on another chain (which bounces when that
// account is short), restarting the owner's client process (its store and pending fast
// proposal survive, as in a wallet), or advancing the clock. Client errors of class
// base.ErrRetryable (no quorum because of the faults, a round to wait out) are tolerated;
// any other unexpected error fails the run. At the end the run heals the network (offline
// validators come back, crashed ones restart, slow and dropping ones recover), drains it
// (processes every inbox until no chain has pending bundles and no validator has
// deliveries left), brings every validator up to date by pushing it every certificate it
// lacks, and checks the invariants:
//
//  1. at most one confirmed block per (chain, height) across every validator and client
//     store;
//  2. on every honest validator, the sum over all chains of the chain balance and every
//     owner balance equals the genesis total supply;
//  3. every bundle a confirmed block sent was received exactly once by its recipient, and
//     every rejected tracked message bounced back and was received exactly once by its
//     sender; no bundle was received that was never sent;
//  4. every honest validator agrees on every chain's tip, has no pending inbox bundle and
//     no undelivered outbox entry;
//  5. no honest validator signed two different votes for one (chain, height, round, kind),
//     every confirmed certificate a validator acknowledged is still in its store (crashes
//     lose nothing acknowledged), and no honest validator returned a corruption error or
//     logged an error (recovered panic, conflicting certificate, outcome mismatch);
//  6. provenance (DESIGN §9): every chain an honest validator holds was created by the
//     genesis or by a confirmed block of a chain with provenance, no inbox of such a
//     chain holds or received a bundle from a chain without provenance, and the total
//     supply summed over every chain the validator holds (forged ones included) is the
//     genesis supply;
//  7. every confirmed certificate in a client's store, and every certificate a client
//     returned for an operation, carries a valid quorum of the committee of its epoch.
//
// # Faults
//
//   - None: follows the protocol.
//   - Offline: every call fails with a retryable error until the network heals.
//   - CrashRestart: at random steps the node crashes (its worker is dropped) and later
//     restarts with a new worker over the same store; while down every call fails. It can
//     also crash in the middle of a request, at a random store write (the write is either
//     applied whole or not at all, as with a real atomic batch), in which case the request
//     fails and the node stays down until it restarts.
//   - Slow: answers arrive too late: the call is executed (now, or at the start of the
//     next step) but the client gets a retryable timeout error, like a validator that
//     misses the quorum-plus-grace window. It catches up from the certificates clients
//     push to it.
//   - Dropping: drops a random fraction of requests (not executed) and of responses
//     (executed, answer lost).
//   - Byzantine: runs a real worker but lies in its answers: votes signed with its own key
//     for made-up values (it equivocates), wrong heights, hashes and balances, bogus
//     pending bundles, fake locks and proposals, fake timeout votes, tampered certificates
//     and blobs. It cannot forge other validators' or owners' signatures.
//
// The attacks on the trust boundaries (attacks.go; AttackFaultTypes, drawn when
// Config.FaultTypes says so) are Byzantine too:
//
//   - ForgedBlobs: uploads forged chain descriptions (a chain with a fortune that no
//     block created) and forged committees (its own key alone) to the honest
//     validators, then commits blocks on those chains, certified by its forged
//     committee or voted by the honest validators, that credit real chains or claim
//     from a victim's account (AuthenticatedOwner set to the victim).
//   - EquivocatingVotes: votes for every block it is asked about (each of two competing
//     clients gets a vote for its own block), votes of the wrong kind, and votes for
//     made-up blocks at the same height and round; each client reaches the validators
//     through its own links, and odd-numbered clients get the made-up votes.
//   - GarbageAnswers: another chain's info, empty info, huge heights, broken or borrowed
//     signatures, certificates of other heights or chains, a made-up next block
//     certified by the attacker alone, blobs that do not match their id.
//   - BundlesFromNowhere: reports inbox bundles that no block sent, and hides real ones.
//
// # Reproducing a failure
//
// A failing run reports its seed and the invariant that broke, for instance
// "seed=123: invariant 2 (supply)...". Re-run exactly that run with
//
//	go test ./internal/sim -run 'TestSimulator/seed=123$' -v
//
// or, equivalently, with the -seed flag (which also prints the run's trace):
//
//	go test ./internal/sim -run TestSimulator -seed=123 -v
//
// TestAttackSimulator runs 1,000 seeds with one attacker out of four; reproduce its
// failures with -run 'TestAttackSimulator/seed=123$' or -run TestAttackSimulator
// -seed=123 -v. go test -run Attack ./... runs the whole attack suite.
//
// TestTwoFaultyValidators runs seeds with two faulty validators out of four (more than
// f: clients may lack a quorum until the network heals; safety must hold regardless);
// reproduce its failures the same way with -run 'TestTwoFaultyValidators/seed=123$'. From
// code, Run(123, Config{}) (or Config{Faulty: 2}) replays the run, and Result.Trace says
// what each step did.
//
// The same seed and Config always give the same Result, byte for byte (Result.Digest).
package sim
