package wallet

import (
	"errors"

	"golang.org/x/sys/unix"
)

// exchangeFiles swaps the names a and b atomically (renameat2 RENAME_EXCHANGE). It
// returns false, and no error, where the file system cannot (the caller renames instead).
func exchangeFiles(a, b string) (bool, error) {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.ENOTSUP) {
		return false, nil
	}
	return err == nil, err
}
