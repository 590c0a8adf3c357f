package wallet

import (
	"os"
	"syscall"
)

// datasync flushes f's data and the metadata needed to read it (its size), not its
// times: an in-place rewrite of a slot then needs no journal commit for the inode.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
