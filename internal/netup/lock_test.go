package netup

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/wallet"
)

// TestSecondNetUpOnADirectoryRefused: while one net up holds a network directory, from
// creating the network to stopping it, another on the same directory is refused before
// it writes anything. Two creating a network at once each wrote validators and a
// genesis over the other's, and one ran validators of a genesis its wallet did not
// belong to ("the wallet's local store belongs to another network").
func TestSecondNetUpOnADirectoryRefused(t *testing.T) {
	dir := t.TempDir()
	// The first net up: it holds the lock (and has not written network.json yet).
	release, err := wallet.LockFile(filepath.Join(dir, lockName))
	if err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), Options{Dir: dir, Validators: 4, PortBase: 1, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "another mica net up is using") {
		t.Fatalf("second net up: %v, want a refusal naming the other net up", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != lockName {
			t.Errorf("the refused net up wrote %s", e.Name())
		}
	}
	// Once the first one stops, the directory is free.
	if err := release(); err != nil {
		t.Fatal(err)
	}
	again, err := wallet.LockFile(filepath.Join(dir, lockName))
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	_ = again()
}
