//go:build !invariants

package chain

// checkListed makes State.Flush check that every queue with staged changes is listed
// (build tag invariants, which CI sets): a queue changed through a reference kept
// across a Flush would show there.
const checkListed = false
