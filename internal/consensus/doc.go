// Package consensus decides, for one chain at one height, which block validators vote
// for: Mica's version of Linera's per-chain round manager (ChainManager). It is a pure
// state machine in the style of etcd-io/raft's RawNode: no goroutines, channels, clocks,
// randomness sources, logging or storage. The current time comes in as a value; votes and
// refusals go out as values; the worker (package worker) does the I/O, serializes calls
// per chain, and persists the manager (Encode) before any vote it returned leaves the
// process.
//
// # The protocol
//
// A Manager exists per (chain, height) and is replaced (NewManager) when a block is
// confirmed at that height. Rounds are totally ordered: Fast < MultiLeader(n) <
// SingleLeader(n) < Validator(n). Who may propose depends on the round (CanPropose):
// super owners in the fast round, any owner in multi-leader rounds, the elected leader
// (or a super owner) in single-leader rounds; validator (fallback) rounds are not
// implemented, so nobody proposes there. Leaders are drawn deterministically with
// probability proportional to the owners' weights from a ChaCha8 stream seeded by
// (height, round) (Leader).
//
// Validators never propose and never advance rounds on their own; clients drive
// everything. Outside the fast round a block is decided in two phases: validators vote
// Validated on a proposal (VoteForProposal); a quorum of those votes is a validated
// certificate, which validators lock on and answer with a Confirmed vote
// (VoteForValidated); a quorum of Confirmed votes is a confirmed certificate — the block is
// final. In the fast round, validators vote Confirmed directly on a super owner's
// proposal: one round trip to finality. A client that is stuck requests timeout votes
// once the round's deadline has passed (VoteTimeout); a quorum of them is a timeout
// certificate, which moves every validator that sees it to the next round
// (HandleTimeoutCertificate). Multi-leader rounds are also left by proposing in a later
// one. A client that learns of a lock re-proposes the locked block in a later round: a
// regular retry carries the validated certificate, a fast retry the super owner's
// original fast-round signature.
//
// The current round is max(first round, round after the latest timeout certificate,
// round of the locking block, round of the latest proposal voted on, round of the latest
// recorded signed proposal); it only rises, and the round timeout is re-armed when it does.
//
// # Safety
//
// The safety property is agreement: at most one block gets a confirmed certificate at a
// (chain, height), across all rounds, as long as the faulty validators hold less than a
// third of the voting weight (any two quorums then share an honest validator). Honest
// validators guarantee it by three invariants (Linera's manager.rs and
// manager/proof/{voting,locking,safety}.rs):
//
//  1. A validator never votes in a round lower than one it already voted in. The votes of
//     a proposal are cast in its round, which must be the current round (later
//     single-leader and validator rounds), at least the current round (multi-leader rounds
//     and SingleLeader(0)), or the fast round while it is current; and strictly after the
//     validator's validated vote and its locking block. A confirmed vote on a validated
//     certificate is cast only if the certificate's round is the current round. Timeout
//     votes are cast only in the current round.
//  2. A validator never votes to validate a block A in round r after voting to confirm a
//     different block B in round s <= r, unless the proposal carries a validated
//     certificate for A from a round c with s < c (< r); a proposal of B itself needs a
//     certificate from a round c >= s, or, if s is the fast round, may be a fast retry of B.
//     Fresh proposals are refused once a confirmed vote exists.
//  3. A validator votes to confirm only a block with a validated certificate of the same
//     block and round, or a super owner's proposal in the fast round — at most one fast
//     proposal per height, since a fast proposal must be after the lock and the first one
//     locks.
//
// From these, once a quorum confirms A in round s, at least one honest validator of any
// later validated quorum confirmed A in s and can only be moved to validate another block
// by a validated certificate from a round after s, which by induction can only be for A.
// So every confirmed certificate at the height certifies A.
//
// The manager signs in exactly four places, each guarded by the checks above:
//
//  1. VoteForProposal, fast round: a Confirmed vote on the proposal.
//  2. VoteForProposal, other rounds: a Validated vote on the executed block.
//  3. VoteForValidated: a Confirmed vote on the certified block, in the certificate's round.
//  4. VoteTimeout: a Timeout vote in the current round.
//
// Linera has a fifth, the fallback vote (a timeout at SingleLeader(MaxUint32) that moves a
// chain whose epoch is outdated into validator rounds); Mica does not implement fallback
// yet, so there is no fifth signing site.
//
// The argument also needs what the manager cannot enforce itself: its state is persisted
// before any vote leaves the process (a restarted validator must remember its votes),
// calls for one chain are serialized, and the caller has checked the proposal's shape and
// signatures (BlockProposal.CheckInvariants), its height, previous block and epoch, and
// the certificates' quorums against the committee. The persisted state holds the votes
// and the proposals and certificates they rest on, but not the execution outcome of the
// block a confirmed vote signs: the vote's hash commits to it, and no rule reads it.
//
// Each rule is named in rules.go; the package's tests switch rules off one at a time to
// prove that a scenario script (testdata/) or the randomized safety simulation notices.
package consensus
