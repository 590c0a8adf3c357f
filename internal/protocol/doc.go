// Package protocol defines Mica's wire and consensus data: chain descriptions and
// ownership, committees and the resource policy, operations and messages, proposed blocks
// and their execution outcomes, block headers, proposals, votes and certificates, chain
// information queries, cross-chain requests and notifications, and the genesis
// configuration.
//
// Every type here has one canonical encoding (package codec) with a strict decoder, and
// every hash is crypto.HashValue(TypeName, value) over those bytes, so hashes and
// signatures never depend on the transport.
//
// Safety-relevant facts encoded here:
//   - A vote signs VoteValue{value hash, round, kind}; a certificate is a quorum (N − f of
//     the committee's weight, f = ⌊(N−1)/3⌋) of such signatures, strictly sorted by
//     validator key, with no repeated signer. Any two quorums intersect in at least f+1
//     weight, hence in at least one honest validator.
//   - The block hash commits to the whole block: the header carries sub-hashes of every
//     body part, so two blocks with the same proposal but different outcomes conflict.
//
// Values are immutable once built: constructors (NewBlock, decoders) cache hashes, and
// callers must not mutate a Block or Certificate they did not create.
package protocol
