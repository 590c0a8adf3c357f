//go:build invariants

package kv

import (
	"bytes"
	"strings"
	"testing"
)

// TestPutOwnedModifiedPanics checks the invariants build's check: a value modified
// after PutOwned took it makes Ops panic, also in a batch it was appended to, and an
// unmodified one does not.
func TestPutOwnedModifiedPanics(t *testing.T) {
	opsPanics := func(b *Batch) (msg string) {
		defer func() {
			if r := recover(); r != nil {
				msg, _ = r.(string)
			}
		}()
		b.Ops()
		return ""
	}
	v := bytes.Repeat([]byte{1}, arenaMaxOp+1)
	var b Batch
	b.Put([]byte("before"), []byte("x"))
	b.PutOwned([]byte("k"), v)
	if msg := opsPanics(&b); msg != "" {
		t.Fatalf("unmodified value: %s", msg)
	}
	var a Batch
	a.PutOwned([]byte("a"), bytes.Repeat([]byte{2}, arenaMaxOp+1))
	a.Append(&b)
	v[10] = 9
	if msg := opsPanics(&b); !strings.Contains(msg, "op 1 ") {
		t.Errorf("modified value: Ops panicked with %q, want op 1", msg)
	}
	if msg := opsPanics(&a); !strings.Contains(msg, "op 2 ") {
		t.Errorf("modified value in an appended batch: Ops panicked with %q, want op 2", msg)
	}
	b.Reset()
	if msg := opsPanics(&b); msg != "" {
		t.Errorf("after Reset: %s", msg)
	}
}
