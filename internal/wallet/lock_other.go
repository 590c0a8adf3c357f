//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package wallet

import "os"

// lockFile opens the lock file without locking it: this platform has no flock, so two
// processes using one wallet at once are not prevented from overwriting each other's
// changes (each save is still atomic).
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

func unlockFile(f *os.File) error { return f.Close() }
