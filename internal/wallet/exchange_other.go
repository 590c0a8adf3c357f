//go:build !linux

package wallet

// exchangeFiles cannot swap two names atomically here: the caller renames instead.
func exchangeFiles(a, b string) (bool, error) { return false, nil }
