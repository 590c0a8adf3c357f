// Package atomicfile writes files atomically: readers and a process restarting after a
// crash see the old content or the new one, never a mix. Key files and wallets use it.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// Write replaces path with data: it writes a temporary file in the same
// directory with the given mode, fsyncs it, renames it over path and fsyncs the directory.
// Readers, and a process that restarts after a crash at any point, see the old content or
// the new one, never a mix. On error the temporary file is removed and path is unchanged.
//
// It uses only the standard library, so that any package may share it.
func Write(path string, data []byte, mode os.FileMode) error {
	return WriteWrapped(path, data, mode, nil)
}

// writeFileAtomic is WriteFileAtomic; wrap, if not nil, wraps the temporary file's writer
// (tests use it to fail in the middle of a write).
// WriteWrapped is Write with the file writer wrapped by wrap (tests use it to fail a
// write half-way).
func WriteWrapped(path string, data []byte, mode os.FileMode, wrap func(io.Writer) io.Writer) error {
	if err := replaceFile(path, data, mode, wrap); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func replaceFile(path string, data []byte, mode os.FileMode, wrap func(io.Writer) io.Writer) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				err = errors.Join(err, f.Close())
			}
			if rerr := os.Remove(tmp); rerr != nil && !os.IsNotExist(rerr) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	var w io.Writer = f
	if wrap != nil {
		w = wrap(f)
	}
	if _, err = w.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	closed = true
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the entries of dir durable (a rename, a new file). Windows cannot open
// directories for syncing; its renames are durable once they return.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// permsMatter reports whether Unix permission bits protect files on this platform.
// PermissionsEnforced reports whether file modes are meaningful on this platform.
func PermissionsEnforced() bool { return runtime.GOOS != "windows" }
