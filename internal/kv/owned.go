//go:build !invariants

package kv

// ownedChecks is empty without the invariants tag: PutOwned's contract is not checked.
type ownedChecks struct{}

func (*ownedChecks) record(int, []byte)       {}
func (*ownedChecks) append(*ownedChecks, int) {}
func (*ownedChecks) reset()                   {}
func (*ownedChecks) check([]Op)               {}
