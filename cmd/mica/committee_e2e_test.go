package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/netup"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc"
)

// committeeShow runs `committee show --json`.
func committeeShow(t *testing.T, wallet string) committeeShowJSON {
	t.Helper()
	var res committeeShowJSON
	if err := json.Unmarshal([]byte(mustMica(t, wallet, "committee", "show", "--json")), &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// micaFails runs a command that must fail and checks its message.
func micaFails(t *testing.T, wallet, want string, args ...string) {
	t.Helper()
	_, errOut, err := mica(t, wallet, args...)
	if err == nil {
		t.Fatalf("mica %s succeeded, want an error containing %q", strings.Join(args, " "), want)
	}
	if !strings.Contains(errOut, want) {
		t.Fatalf("mica %s: %q, want an error containing %q", strings.Join(args, " "), errOut, want)
	}
}

// TestCommitteeChanges runs a committee change on a local TLS network as an operator
// would: 4 validators; `net add-validator` starts a fifth, `committee add-validator`
// makes it a member (epoch 1); a user chain migrates with process-inbox and a transfer
// needs the new validator's vote (an original validator is stopped); the stopped
// validator is removed (epoch 2), the chain migrates again and transfers commit;
// epoch 0 is removed, and a chain that stayed in it is told to run process-new-epoch,
// which fixes it. Bad input (malformed and unknown keys, a duplicate, zero votes, a
// wallet without the admin chain's key) is refused with a clear error.
func TestCommitteeChanges(t *testing.T) {
	dir := t.TempDir()
	netDir := filepath.Join(dir, "net")
	nw := netUp(t, netDir, "--tls", "--initial-chains", "2")
	w := nw.info.Wallet
	admin := walletChain(t, w)
	var users []string
	for _, id := range regexp.MustCompile(`"chainId": "([0-9a-f]{64})"`).FindAllStringSubmatch(mustMica(t, w, "wallet", "show", "--json"), -1) {
		if id[1] != admin {
			users = append(users, id[1])
		}
	}
	if len(users) != 2 {
		t.Fatalf("wallet chains: %v", users)
	}
	u1, u2 := users[0], users[1]

	show := committeeShow(t, w)
	if show.CurrentEpoch != 0 || len(show.Epochs) != 1 || len(show.Epochs[0].Validators) != 4 || !show.AdminOwned || show.AdminChain != admin {
		t.Fatalf("committee show at genesis: %+v", show)
	}
	original := show.Epochs[0].Validators

	// Bad input, refused before anything is committed.
	micaFails(t, w, "--public-key", "committee", "add-validator", "--public-key", "nonsense", "--address", "127.0.0.1:"+nw.ports.str(49))
	micaFails(t, w, "already a member", "committee", "add-validator", "--public-key", original[1].PublicKey, "--address", "127.0.0.1:"+nw.ports.str(49))
	micaFails(t, w, "--votes must be at least 1", "committee", "add-validator", "--public-key", original[1].PublicKey, "--address", "127.0.0.1:"+nw.ports.str(49), "--votes", "0")
	micaFails(t, w, "want HOST:PORT", "committee", "add-validator", "--public-key", original[1].PublicKey, "--address", "localhost")
	unknown := prototest.Key("not-a-validator").Public().String()
	micaFails(t, w, "is not a member", "committee", "remove-validator", "--public-key", unknown)
	micaFails(t, w, "is not a member", "committee", "set-votes", "--public-key", unknown, "--votes", "2")
	micaFails(t, w, "--votes must be at least 1", "committee", "set-votes", "--public-key", original[0].PublicKey, "--votes", "0")
	micaFails(t, w, "current epoch", "committee", "remove-epoch", "0")
	micaFails(t, w, "not a live epoch", "committee", "remove-epoch", "7")
	micaFails(t, w, "--tls-cert", "committee", "add-validator", "--public-key", unknown, "--address", "127.0.0.1:"+nw.ports.str(49), "--tls-cert", filepath.Join(dir, "missing.pem"))
	micaFails(t, w, "want a number", "committee", "remove-epoch", "x")
	// No validator answers there.
	micaFails(t, w, "no-check", "committee", "add-validator", "--public-key", unknown, "--address", "127.0.0.1:"+nw.ports.str(49))
	// The faucet wallet of the network does not own the admin chain.
	micaFails(t, filepath.Join(netDir, "faucet-wallet"), "does not hold the key of the admin chain", "committee", "add-validator", "--public-key", unknown, "--address", "127.0.0.1:"+nw.ports.str(49))
	if s := committeeShow(t, w); s.CurrentEpoch != 0 {
		t.Fatalf("bad input changed the committee: epoch %d", s.CurrentEpoch)
	}

	// A fifth validator joins (epoch 1).
	var added netup.AddedValidator
	if err := json.Unmarshal([]byte(mustMica(t, w, "net", "add-validator", "--path", netDir, "--json")), &added); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(added.PublicKey, "ed25519:") || added.TLSCert == "" || !netup.Alive(added.PID, added.Config) {
		t.Fatalf("net add-validator: %+v", added)
	}
	if st := mustMica(t, w, "net", "status", "--path", netDir); !strings.Contains(st, added.Name) || !strings.Contains(st, added.Address) {
		t.Fatalf("net status does not list %s:\n%s", added.Name, st)
	}
	mustMica(t, w, "committee", "add-validator", "--public-key", added.PublicKey, "--address", added.Address)
	micaFails(t, w, "already a member", "committee", "add-validator", "--public-key", added.PublicKey, "--address", added.Address)
	show = committeeShow(t, w)
	if show.CurrentEpoch != 1 || len(show.Epochs) != 2 || len(show.Epochs[1].Validators) != 5 || show.Epochs[1].Quorum != 4 {
		t.Fatalf("committee show after add-validator: %+v", show)
	}
	for _, c := range show.Chains {
		if c.Chain != admin && (!c.Behind || c.Epoch != 0) {
			t.Fatalf("chain %s: %+v, want behind in epoch 0", c.Chain, c)
		}
	}

	// U1 migrates with process-inbox.
	out := mustMica(t, w, "process-inbox", u1)
	if !strings.Contains(out, "moved from epoch 0 to epoch 1") {
		t.Fatalf("process-inbox did not migrate %s:\n%s", u1, out)
	}
	// Stop an original validator: a quorum of epoch 1 (4 of 5) now needs the new one.
	gone := nw.info.Validators[0]
	if err := syscall.Kill(gone.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(settleWait); netup.Alive(gone.PID, gone.Config); {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not stop", gone.Name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var tr struct {
		Height uint64 `json:"height"`
	}
	if err := json.Unmarshal([]byte(mustMica(t, w, "transfer", "1", "--from", u1, "--to", admin, "--json")), &tr); err != nil {
		t.Fatal(err)
	}
	checkSigner(t, added, u1, base.BlockHeight(tr.Height))

	// Remove the stopped validator (epoch 2): the admin chain's block itself needs the
	// new validator, which must first be caught up on the admin chain.
	goneKey := ""
	for _, v := range original {
		if v.Address == gone.Address {
			goneKey = v.PublicKey
		}
	}
	mustMica(t, w, "committee", "remove-validator", "--public-key", goneKey)
	mustMica(t, w, "committee", "set-votes", "--public-key", added.PublicKey, "--votes", "2")
	show = committeeShow(t, w)
	if show.CurrentEpoch != 3 || len(show.Epochs[3].Validators) != 4 || show.Epochs[3].Quorum != 4 {
		t.Fatalf("committee show after remove-validator and set-votes: %+v", show)
	}
	// Epoch 3: 5 votes (the new validator has 2), quorum 4; the three original
	// validators left hold 3: every block from here needs the new validator, which
	// must hold the history of each chain and of the chains that sent it messages.
	out = mustMica(t, w, "process-new-epoch", u1)
	if !strings.Contains(out, "moved from epoch 1 to epoch 3") {
		t.Fatalf("process-new-epoch %s:\n%s", u1, out)
	}
	for range 2 {
		mustMica(t, w, "transfer", "1", "--from", u1, "--to", u2)
	}
	mustMica(t, w, "process-inbox", admin)

	// Remove epoch 0. U2 never migrated: it is told what to run.
	mustMica(t, w, "committee", "remove-epoch", "0")
	micaFails(t, w, "already removed", "committee", "remove-epoch", "0")
	micaFails(t, w, "run process-new-epoch "+u2, "transfer", "1", "--from", u2, "--to", u1)
	show = committeeShow(t, w)
	for _, c := range show.Chains {
		if c.Chain == u2 && !c.Removed {
			t.Fatalf("committee show: %s not shown in a removed epoch: %+v", u2, c)
		}
	}
	out = mustMica(t, w, "process-new-epoch", u2)
	if !strings.Contains(out, "moved from epoch 0 to epoch 3") {
		t.Fatalf("process-new-epoch %s:\n%s", u2, out)
	}
	mustMica(t, w, "transfer", "1", "--from", u2, "--to", u1)
	// U1 still trusts epochs 1 and 2 next to 3, and 0 no longer: process-inbox drops it.
	mustMica(t, w, "process-inbox", u1)
	if out := mustMica(t, w, "process-new-epoch", u1); !strings.Contains(out, "already in the newest epoch") {
		t.Fatalf("process-new-epoch of an up-to-date chain:\n%s", out)
	}
	micaFails(t, w, "admin chain creates the epochs", "process-new-epoch", admin)

	// Stopping the network stops the added validator too.
	nw.stop()
	for deadline := time.Now().Add(settleWait); netup.Alive(added.PID, added.Config); {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still runs after net up stopped", added.Name, added.PID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkSigner checks that the new validator signed the certificate of a block, asking
// the validator itself (over TLS, pinned to its certificate).
func checkSigner(t *testing.T, v netup.AddedValidator, chain string, h base.BlockHeight) {
	t.Helper()
	ctx := context.Background()
	info := netup.ValidatorInfo{Name: v.Name, TLSCert: v.TLSCert}
	opts, err := info.DialOptions(rpc.DialOptions{CallTimeout: testCallTimeout})
	if err != nil {
		t.Fatal(err)
	}
	n, err := rpc.Dial(ctx, v.Address, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	id, err := base.ParseChainID(chain)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := n.Certificates(ctx, id, h, h+1)
	if err != nil || len(certs) != 1 {
		t.Fatalf("%s: block %d of %s: %v (%d certificates)", v.Name, h, chain, err, len(certs))
	}
	if certs[0].Epoch() != 1 {
		t.Fatalf("block %d of %s is in epoch %d, want 1", h, chain, certs[0].Epoch())
	}
	for _, s := range certs[0].Signatures {
		if s.Validator.String() == v.PublicKey {
			return
		}
	}
	t.Fatalf("the certificate of block %d of %s has no vote of %s (%d signers)", h, chain, v.Name, len(certs[0].Signatures))
}
