package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/micachain/mica/internal/client"
)

// TestPrintInboxWaiting: process-inbox says "nothing to do" only when no validator
// reports bundles it could not count; otherwise it says how many wait and why they
// were not received, in text and in the --json warning.
func TestPrintInboxWaiting(t *testing.T) {
	var b bytes.Buffer
	printInbox(&b, "process inbox", nil, nil)
	if got, want := b.String(), "process inbox: nothing to do\n"; got != want {
		t.Errorf("empty inbox: %q, want %q", got, want)
	}
	b.Reset()
	w := &client.WaitingBundles{Bundles: 2, Reporters: 1, Validators: 4}
	printInbox(&b, "process inbox", nil, w)
	want := "process inbox: nothing received: 2 bundle(s) reported waiting by only 1 of 4 validators, too few to receive them (validators may be lagging); try again later\n"
	if got := b.String(); got != want {
		t.Errorf("waiting bundles: %q, want %q", got, want)
	}
	enc, err := json.Marshal(waitingJSON(w))
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(enc, &back); err != nil {
		t.Fatal(err)
	}
	if back["waitingBundles"] != float64(2) || back["reporters"] != float64(1) || back["validators"] != float64(4) || back["warning"] != w.String() {
		t.Errorf("--json warning = %s", enc)
	}
}
