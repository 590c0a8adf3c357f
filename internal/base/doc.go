// Package base holds the identifiers and scalar types every other Mica package shares:
// hashes and the identifiers derived from them (chains, owners, accounts, applications,
// blobs), Amount (checked u128 fixed point with 18 decimals), Timestamp, BlockHeight, Epoch,
// Round, and the error classes used to tell invalid input from corruption and retryable
// conditions.
//
// The package has no dependencies besides the standard library. Its types are plain values:
// safe to copy, compare with ==, and use as map keys.
package base
