package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentPolicyCommands sets, changes, shows and clears the agent policy through the
// binary, and checks that bad values and a damaged file get clear errors.
func TestAgentPolicyCommands(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "w")
	if err := os.MkdirAll(w, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := mica(t, w, "wallet", "agent-policy", "show"); err == nil || !strings.Contains(errOut, "no wallet at") {
		t.Fatalf("show without a wallet: %v %s", err, errOut)
	}
	if err := os.WriteFile(filepath.Join(w, "wallet.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := mustMica(t, w, "wallet", "agent-policy", "show"); !strings.Contains(got, "agents are read-only") {
		t.Fatalf("show without a policy: %s", got)
	}
	chain := strings.Repeat("ab", 32)
	mustMica(t, w, "wallet", "agent-policy", "set", "--per-transfer", "10", "--per-day", "50", "--allow-recipient", chain, "--allow-application", "*")
	got := mustMica(t, w, "--json", "wallet", "agent-policy", "set", "--per-day", "none")
	var j agentPolicyJSON
	if err := json.Unmarshal([]byte(got), &j); err != nil {
		t.Fatalf("set --json: %v\n%s", err, got)
	}
	if !j.Policy || j.PerTransfer == nil || *j.PerTransfer != "10" || j.PerDay != nil || len(j.AllowRecipients) != 1 || j.AllowRecipients[0] != chain || j.AllowApplications[0] != "*" || j.ReadOnly || j.SpentToday != "0" {
		t.Fatalf("policy after set: %+v", j)
	}
	fi, err := os.Stat(filepath.Join(w, "agent-policy.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("policy file: %v %v", err, fi)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"set"}, "nothing to change"},
		{[]string{"set", "--per-transfer", "ten"}, "--per-transfer"},
		{[]string{"set", "--allow-recipient", "bob"}, "allowed recipient"},
		{[]string{"set", "--allow-application", "counter"}, "allowed application"},
	} {
		if _, errOut, err := mica(t, w, append([]string{"wallet", "agent-policy"}, c.args...)...); err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: %v %s", c.args, err, errOut)
		}
	}
	if got := mustMica(t, w, "wallet", "agent-policy", "set", "--read-only"); !strings.Contains(got, "read-only") {
		t.Fatalf("read-only: %s", got)
	}
	mustMica(t, w, "wallet", "agent-policy", "clear")
	if _, err := os.Stat(filepath.Join(w, "agent-policy.json")); !os.IsNotExist(err) {
		t.Fatalf("policy file after clear: %v", err)
	}
	if err := os.WriteFile(filepath.Join(w, "agent-policy.json"), []byte(`{"version":1,"per_transfr":"1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := mica(t, w, "wallet", "agent-policy", "show"); err == nil || !strings.Contains(errOut, "agent-policy.json") || !strings.Contains(errOut, "agent-policy clear") {
		t.Fatalf("damaged policy: %v %s", err, errOut)
	}
}
