package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// jsonSkipped are the leaf commands TestJSONResultsEveryCommand does not run, each with
// the reason. A new command needs a case in the test or an entry here.
var jsonSkipped = map[string]string{
	"mica demo":                "covered by TestJSONResultsOffline (runs its own network)",
	"mica validator generate":  "covered by TestJSONResultsOffline",
	"mica wallet import-chain": "covered by TestJSONResultsOffline (needs a root chain's key file)",
	"mica net up":              "long-running server (started by the test as the network under test)",
	"mica validator run":       "long-running server (net up runs it)",
	"mica proxy run":           "long-running server",
	"mica service":             "long-running server",
	"mica mcp":                 "long-running server on stdin/stdout",
	"mica faucet":              "long-running server (net up --with-faucet runs it)",
	"mica process-streams":     "long-running, prints nothing on stdout, and needs a chain subscribing to an application's stream",
}

// TestJSONResultsEveryCommand runs every leaf command successfully with --json against
// one `mica net up` network (or lists it in jsonSkipped) and checks that it exits 0 and
// prints exactly one JSON document on stdout (JSON Lines for watch). Failures with
// --json are TestJSONErrorsEveryCommand's.
func TestJSONResultsEveryCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a network and builds a Wasm guest")
	}
	root := rootCommand()
	ran := map[string]bool{}
	dir := t.TempDir()
	// jsonRun runs one command with --json and the MICA_* variables of env, records it
	// as run, and decodes its stdout, which must be exactly one JSON document.
	jsonRun := func(env []string, args ...string) map[string]any {
		t.Helper()
		c, _, err := root.Find(args)
		if err != nil {
			t.Fatalf("mica %v: %v", args, err)
		}
		ran[c.CommandPath()] = true
		stdout, stderr, code := run(t, dir, env, append(args, "--json")...)
		if code != 0 || !json.Valid([]byte(stdout)) {
			t.Fatalf("mica %v --json: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
		t.Logf("mica %s --json: %d bytes of JSON", strings.Join(args, " "), len(stdout))
		var m map[string]any
		if err := json.Unmarshal([]byte(stdout), &m); err != nil {
			// Valid JSON that is not an object (an array): return it under "".
			var v any
			if err := json.Unmarshal([]byte(stdout), &v); err != nil {
				t.Fatal(err)
			}
			m = map[string]any{"": v}
		}
		return m
	}
	// str returns a result's non-empty string field.
	str := func(m map[string]any, key string) string {
		t.Helper()
		s, ok := m[key].(string)
		if !ok || s == "" {
			t.Fatalf("no string %q in %v", key, m)
		}
		return s
	}

	// The counter example, built as a user would, while nothing else runs.
	examples := filepath.Join(dir, "examples")
	if err := os.CopyFS(examples, os.DirFS("../../examples")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "sdk"), os.DirFS("../../sdk")); err != nil {
		t.Fatal(err)
	}
	built := jsonRun(nil, "project", "build", filepath.Join(examples, "counter"))
	contract, service := str(built, "contract"), str(built, "service")
	jsonRun(nil, "project", "new", "hello", "--path", dir)
	jsonRun(nil, "project", "env")

	netDir := filepath.Join(dir, "net")
	n := netUp(t, netDir, "--metrics-port-base", "-1", "--with-faucet", "--faucet-port", portArg(40), "--initial-chains", "1")
	w := []string{"MICA_WALLET=" + n.info.Wallet}
	jsonRun(nil, "net", "status", "--path", netDir)

	// The wallet and its chains.
	shown := jsonRun(w, "wallet", "show")
	var admin, user string
	chains, _ := shown["chains"].([]any)
	for _, c := range chains {
		c, _ := c.(map[string]any)
		if c["isDefault"] == true {
			admin = str(c, "chainId")
		} else {
			user = str(c, "chainId")
		}
	}
	if admin == "" || user == "" {
		t.Fatalf("wallet show: %v", shown)
	}
	jsonRun(w, "local-balance")
	jsonRun(w, "query-balance")
	jsonRun(w, "sync")
	jsonRun(w, "keygen")
	jsonRun(w, "wallet", "agent-policy", "set", "--per-transfer", "10")
	jsonRun(w, "wallet", "agent-policy", "show")
	jsonRun(w, "wallet", "agent-policy", "clear")

	// watch prints JSON Lines: one notification per line, from the first block on.
	watch, watched, _ := startListening(t, n.info.Wallet, "watching", "watch", admin, "--json")
	ran["mica watch"] = true
	tr := jsonRun(w, "transfer", "1", "--to", user)
	jsonRun(w, "show-block", admin, fmt.Sprint(tr["height"]))
	for deadline := time.Now().Add(settleWait); !strings.Contains(watched.String(), "\n"); {
		if time.Now().After(deadline) {
			t.Fatalf("watch --json printed no line in %v: %q", settleWait, watched.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	lines := strings.Split(watched.String(), "\n")
	for _, l := range lines[:len(lines)-1] {
		if !json.Valid([]byte(l)) {
			t.Errorf("watch --json: line %q is not JSON", l)
		}
	}
	_ = watch.Process.Kill()
	jsonRun(w, "process-inbox", user)
	jsonRun(w, "show-subscriptions", user)

	// Chains: opened, shared, claimed from, re-owned, closed.
	opened := jsonRun(w, "open-chain", "--initial-balance", "5")
	child, owner := str(opened, "chainId"), str(opened, "owner")
	other := str(jsonRun(w, "keygen"), "owner")
	jsonRun(w, "open-multi-owner-chain", "--owners", owner+","+other, "--initial-balance", "1")
	jsonRun(w, "transfer", "2", "--to", owner+"@"+admin)
	jsonRun(w, "claim", "1", "--from", owner+"@"+admin, "--chain", child)
	jsonRun(w, "change-ownership", "--chain", child, "--super-owners", owner)
	jsonRun(w, "close-chain", child)

	// Data blobs.
	blobFile := filepath.Join(dir, "blob.txt")
	if err := os.WriteFile(blobFile, []byte("hello, blob"), 0o644); err != nil {
		t.Fatal(err)
	}
	hash := str(jsonRun(w, "publish-data-blob", blobFile), "hash")
	jsonRun(w, "read-data-blob", hash)

	// Applications of the counter example.
	module := str(jsonRun(w, "publish-module", contract, service), "moduleId")
	jsonRun(w, "create-application", module, "--json-argument", "1")
	app := str(jsonRun(w, "publish-and-create", contract, service, "--json-argument", "7"), "applicationId")
	jsonRun(w, "execute-operation", "--application-id", app, "--json-operation", `{"increment":5}`)
	// query-application's result is an object like the others', not the bare GraphQL
	// response: the response's data under "data".
	if q := jsonRun(w, "query-application", "--application-id", app, "{ value }"); q["applicationId"] != app || fmt.Sprint(q["data"]) != "map[value:12]" || q["block"] != nil {
		t.Fatalf("query-application --json: %v", q)
	}
	jsonRun(w, "show-events", admin, "--application-id", app, "--stream", "none")

	// A second wallet from the faucet.
	w2 := []string{"MICA_WALLET=" + filepath.Join(dir, "w2"), "MICA_FAUCET_URL=http://127.0.0.1:" + n.ports.str(40)}
	jsonRun(w2, "wallet", "init")
	claimed := jsonRun(w2, "wallet", "request-chain")
	jsonRun(w2, "wallet", "follow-chain", admin)
	jsonRun(w2, "wallet", "set-default", str(claimed, "chainId"))

	jsonRun(w, "benchmark", "--chains", "1", "--duration", "500ms")

	// The committee: a fifth validator joins, changes weight and leaves; epoch 0 goes.
	jsonRun(w, "committee", "show")
	added := jsonRun(w, "net", "add-validator", "--path", netDir)
	key := str(added, "public_key")
	jsonRun(w, "committee", "add-validator", "--public-key", key, "--address", str(added, "address"))
	jsonRun(w, "committee", "set-votes", "--public-key", key, "--votes", "2")
	jsonRun(w, "committee", "remove-validator", "--public-key", key)
	jsonRun(w, "committee", "remove-epoch", "0")
	jsonRun(w, "process-new-epoch", user)

	jsonRun(nil, "net", "down", "--path", netDir)
	n.stop()

	for _, c := range leafCommands(root) {
		p := c.CommandPath()
		switch reason, skipped := jsonSkipped[p]; {
		case ran[p] && skipped:
			t.Errorf("%s is run and also skipped (%s)", p, reason)
		case !ran[p] && !skipped:
			t.Errorf("%s: neither run with --json nor skipped with a reason in jsonSkipped", p)
		}
	}
	for p := range jsonSkipped {
		if !slices.ContainsFunc(leafCommands(root), func(c *cobra.Command) bool { return c.CommandPath() == p }) {
			t.Errorf("jsonSkipped names %s, which is no command", p)
		}
	}
}
