package wallet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/micachain/mica/internal/atomicfile"
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

func testGenesis() *protocol.GenesisConfig {
	keys := prototest.Validators(4)
	return prototest.Genesis(prototest.Committee(keys), []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}, base.Tokens(100))
}

func create(t *testing.T) (*Wallet, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wallet")
	w, err := Create(dir, testGenesis())
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w, dir
}

func reopen(t *testing.T, w *Wallet) *Wallet {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	w2, err := Open(w.Dir())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = w2.Close() })
	return w2
}

func TestCreateOpenRoundTrip(t *testing.T) {
	w, dir := create(t)
	g := testGenesis()
	ids := g.ChainIDs()

	alice := prototest.Key("alice")
	if err := w.ImportKey(alice); err != nil {
		t.Fatal(err)
	}
	fresh, err := w.GenerateKey(crypto.Secp256k1)
	if err != nil {
		t.Fatal(err)
	}
	aliceOwner, freshOwner := alice.Public().Owner(), fresh.Public().Owner()
	if err := w.AddChain(ids[0], &aliceOwner); err != nil {
		t.Fatal(err)
	}
	if err := w.FollowChain(ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := w.SetDefault(ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := w.SetNextHeight(ids[0], 7); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}

	w2 := reopen(t, w)
	if w2.Genesis().Hash() != g.Hash() {
		t.Fatalf("genesis changed across save and open")
	}
	got := w2.Chains()
	want := []Chain{
		{ID: ids[0], Owner: &aliceOwner, PublicKey: alice.Public(), NextHeight: 7},
		{ID: ids[1]},
	}
	if ids[1].Compare(ids[0]) < 0 {
		want[0], want[1] = want[1], want[0]
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 2 || *chainOf(got, ids[0]).Owner != aliceOwner {
		t.Fatalf("chains = %+v, want %+v", got, want)
	}
	if d, ok := w2.Default(); !ok || d != ids[1] {
		t.Fatalf("default = %v %v, want %v", d, ok, ids[1])
	}
	for _, k := range []*crypto.PrivateKey{alice, fresh} {
		back, err := w2.Key(k.Public().Owner())
		if err != nil {
			t.Fatalf("key %s: %v", k.Public().Owner(), err)
		}
		if back.Public() != k.Public() {
			t.Fatalf("key %s came back as another key", k.Public().Owner())
		}
	}
	owners, err := w2.Keys()
	if err != nil || len(owners) != 2 || (owners[0] != aliceOwner && owners[0] != freshOwner) {
		t.Fatalf("keys = %v, %v", owners, err)
	}
	// A key imported after its chain was added fills in the chain's public key.
	bob := prototest.Key("bob")
	bobOwner := bob.Public().Owner()
	if err := w2.AddChain(ids[1], &bobOwner); err != nil {
		t.Fatal(err)
	}
	if c, _ := w2.Chain(ids[1]); !c.PublicKey.IsZero() || *c.Owner != bobOwner {
		t.Fatalf("chain with an owner whose key is elsewhere: %+v", c)
	}
	if err := w2.ImportKey(bob); err != nil {
		t.Fatal(err)
	}
	if c, _ := w2.Chain(ids[1]); c.PublicKey != bob.Public() {
		t.Fatalf("public key not filled in after import: %+v", c)
	}
	if _, err := Create(dir, g); !errors.Is(err, ErrExists) && !errors.Is(err, ErrInUse) {
		t.Fatalf("create over an open wallet: %v", err)
	}
}

func chainOf(cs []Chain, id base.ChainID) Chain {
	for _, c := range cs {
		if c.ID == id {
			return c
		}
	}
	return Chain{}
}

func TestCreateRefusesExistingWallet(t *testing.T) {
	w, dir := create(t)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Create(dir, testGenesis())
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	// The refused create released its lock.
	w2, err := Open(dir)
	if err != nil {
		t.Fatalf("open after refused create: %v", err)
	}
	_ = w2.Close()
}

func TestFileModes(t *testing.T) {
	if !atomicfile.PermissionsEnforced() {
		t.Skip("no Unix permissions on this platform")
	}
	w, dir := create(t)
	k, err := w.GenerateKey(crypto.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	mode := func(p string) os.FileMode {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	keyPath := filepath.Join(dir, "keys", k.Public().Owner().String())
	for path, want := range map[string]os.FileMode{
		dir:                               0o700,
		filepath.Join(dir, "keys"):        0o700,
		keyPath:                           0o600,
		filepath.Join(dir, "wallet.json"): 0o600,
	} {
		if got := mode(path); got != want {
			t.Errorf("%s has mode %04o, want %04o", path, got, want)
		}
	}
	// The secret shows up nowhere but in its key file.
	secret, _ := k.MarshalBinary()
	sh := hex.EncodeToString(secret[1:])
	owner := k.Public().Owner()
	if err := w.AddChain(testGenesis().ChainIDs()[0], &owner); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	js, _ := os.ReadFile(filepath.Join(dir, "wallet.json"))
	for what, s := range map[string]string{"wallet.json": string(js), "wallet String": w.String(), "key String": k.String(), "key %#v": fmt.Sprintf("%#v %+v", k, k), "chains": fmt.Sprintf("%+v", w.Chains())} {
		if strings.Contains(s, sh) {
			t.Errorf("%s shows the secret key", what)
		}
	}
	// A key file others can read is refused, like ssh does.
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Key(owner); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("key with mode 0644: %v, want a refusal naming chmod 600", err)
	}
}

// failingWriter writes the first n bytes then fails, as a crash or a full disk would.
type failingWriter struct {
	w io.Writer
	n int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k, _ := f.w.Write(p[:f.n])
		return k, errors.New("disk full")
	}
	return f.w.Write(p)
}

func TestAtomicSave(t *testing.T) {
	w, dir := create(t)
	ids := testGenesis().ChainIDs()
	if err := w.FollowChain(ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "wallet.json")
	before, _ := os.ReadFile(path)

	if err := w.FollowChain(ids[1]); err != nil {
		t.Fatal(err)
	}
	w.wrapWriter = func(f io.Writer) io.Writer { return &failingWriter{w: f, n: 40} }
	if err := w.Save(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("save through a failing writer: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatalf("a failed save changed wallet.json:\n%s", after)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("a failed save left %s behind", e.Name())
		}
	}
	w2 := reopen(t, w)
	if len(w2.Chains()) != 1 {
		t.Fatalf("after a failed save the wallet has %d chains, want the 1 saved before", len(w2.Chains()))
	}
	// The helper alone: a replaced file has the new content and the requested mode.
	p := filepath.Join(t.TempDir(), "f")
	for _, content := range []string{"one", "two"} {
		if err := atomicfile.Write(p, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != content {
			t.Fatalf("content %q, want %q", b, content)
		}
	}
	if fi, _ := os.Stat(p); atomicfile.PermissionsEnforced() && fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %04o, want 0640", fi.Mode().Perm())
	}
}

func TestOpenErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	_, err := Open(missing)
	if !errors.Is(err, ErrNoWallet) || !base.IsNotFound(err) || !strings.Contains(err.Error(), "no wallet at "+missing+": run `mica wallet init`") {
		t.Fatalf("missing wallet: %v", err)
	}

	w, dir := create(t)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "wallet.json")
	good, _ := os.ReadFile(path)
	var doc map[string]any
	if err := json.Unmarshal(good, &doc); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		_ = json.Unmarshal(good, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	network := func(m map[string]any) map[string]any { return m["network"].(map[string]any) }
	cases := []struct {
		name    string
		content []byte
		is      error
		msg     string
	}{
		{"truncated", good[:len(good)/2], ErrDamaged, "not valid JSON"},
		{"garbage", []byte("\x00\x01 not json"), ErrDamaged, "not valid JSON"},
		{"no version", []byte(`{"chains": []}`), ErrDamaged, "no format version"},
		{"newer version", edit(func(m map[string]any) { m["version"] = 4 }), ErrVersion, "version 4, this mica reads versions 1 to 3"},
		{"unknown field", edit(func(m map[string]any) { m["extra"] = 1 }), ErrDamaged, "unknown field"},
		{"wrong hash", edit(func(m map[string]any) { network(m)["genesis_hash"] = strings.Repeat("00", 32) }), ErrDamaged, "not to the recorded genesis_hash"},
		{"bad genesis", edit(func(m map[string]any) { network(m)["genesis_config"] = "AAAA" }), ErrDamaged, "genesis config"},
		{"bad chain id", edit(func(m map[string]any) { m["chains"] = []any{map[string]any{"chain_id": "zz"}} }), ErrDamaged, "chain 0"},
		{"default not a chain", edit(func(m map[string]any) { m["default"] = strings.Repeat("ab", 32) }), ErrDamaged, "not one of the wallet's chains"},
		{"bad pending proposal", edit(func(m map[string]any) {
			m["chains"] = []any{map[string]any{"chain_id": strings.Repeat("ab", 32), "pending_proposal": "AQID"}}
		}), ErrDamaged, "pending proposal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, c.content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir)
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v, want %v mentioning %q and the path", err, c.is, c.msg)
			}
		})
	}

	// Damaged key files.
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	if _, err := w.Key(alice.Public().Owner()); !errors.Is(err, ErrNoKey) {
		t.Fatalf("absent key: %v, want ErrNoKey", err)
	}
	keyPath := filepath.Join(dir, "keys", alice.Public().Owner().String())
	if err := os.WriteFile(keyPath, []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Key(alice.Public().Owner()); !errors.Is(err, ErrDamaged) {
		t.Fatalf("garbage key file: %v, want ErrDamaged", err)
	}
	bobBytes, _ := bob.MarshalBinary()
	if err := os.WriteFile(keyPath, []byte(hex.EncodeToString(bobBytes)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Key(alice.Public().Owner()); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "another owner") {
		t.Fatalf("key file holding another key: %v", err)
	}
}

func TestPendingProposalRoundTrip(t *testing.T) {
	w, _ := create(t)
	g := testGenesis()
	id := g.ChainIDs()[0]
	alice := prototest.Key("alice")
	owner := alice.Public().Owner()
	if err := w.ImportKey(alice); err != nil {
		t.Fatal(err)
	}
	if err := w.AddChain(id, &owner); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	block := prototest.TransferBlock(id, 3, &base.Hash{1, 2, 3}, owner, base.Account{Chain: g.ChainIDs()[1]}, 2).Proposed
	blob := protocol.NewBlob(base.BlobData, []byte("payload"))
	p, err := protocol.SignProposal(alice, block, base.FastRound, []protocol.Blob{blob})
	if err != nil {
		t.Fatal(err)
	}
	want := codec.Marshal(p)

	// The hook a ChainClient calls saves before returning.
	if err := w.FastProposalHook(id)(p); err != nil {
		t.Fatal(err)
	}
	w2 := reopen(t, w)
	got := w2.PendingProposal(id)
	if got == nil || !bytes.Equal(codec.Marshal(got), want) {
		t.Fatalf("pending proposal did not round-trip byte-identically")
	}
	if c, _ := w2.Chain(id); !c.HasPendingProposal {
		t.Fatalf("chain does not report its pending proposal")
	}
	// The copy handed out is not the wallet's.
	got.Content.Block.Height = 99
	if again := w2.PendingProposal(id); !bytes.Equal(codec.Marshal(again), want) {
		t.Fatalf("changing the returned proposal changed the wallet's")
	}
	if err := w2.SetPendingProposal(g.ChainIDs()[1], p); !base.IsInvalid(err) {
		t.Fatalf("proposal for another chain: %v, want ErrInvalid", err)
	}
	if err := w2.SetPendingProposal(base.ChainID{9}, &protocol.BlockProposal{Content: protocol.ProposalContent{Block: protocol.ProposedBlock{ChainID: base.ChainID{9}}}}); !errors.Is(err, ErrUnknownChain) {
		t.Fatalf("proposal for a chain not in the wallet: %v, want ErrUnknownChain", err)
	}
	if err := w2.ClearPendingProposal(id); err != nil {
		t.Fatal(err)
	}
	if err := w2.Save(); err != nil {
		t.Fatal(err)
	}
	w3 := reopen(t, w2)
	if w3.PendingProposal(id) != nil {
		t.Fatalf("cleared proposal came back")
	}
}

func TestSecondOpenFailsInUse(t *testing.T) {
	w, dir := create(t)
	_, err := Open(dir)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v, want ErrInUse", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(); !errors.Is(err, ErrClosed) {
		t.Fatalf("save after close: %v, want ErrClosed", err)
	}
	w2, err := Open(dir)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	_ = w2.Close()
}

// TestHolderNamedInUse: the lock file records who holds the wallet, and a second opener's
// ErrInUse names it, so that a user knows what to stop and a CLI whether to wait.
func TestHolderNamedInUse(t *testing.T) {
	w, dir := create(t)
	if h, ok := ReadHolder(dir); !ok || h.PID != os.Getpid() || h.Command != "" || h.LongRunning {
		t.Fatalf("holder after create: %+v %v", h, ok)
	}
	if err := w.SetHolder(Holder{PID: 1, Command: "mica service", LongRunning: true, Detail: "at http://127.0.0.1:8080"}); err != nil {
		t.Fatal(err)
	}
	h, ok := ReadHolder(dir)
	if !ok || h.PID != os.Getpid() || h.Command != "mica service" || !h.LongRunning {
		t.Fatalf("holder after SetHolder: %+v %v (the PID is always this process's)", h, ok)
	}
	_, err := Open(dir)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), fmt.Sprintf("`mica service` (pid %d, at http://127.0.0.1:8080)", os.Getpid())) {
		t.Fatalf("second open: %v, want ErrInUse naming the service", err)
	}
	// A shorter record replaces a longer one entirely.
	if err := w.SetHolder(Holder{Command: "mica watch"}); err != nil {
		t.Fatal(err)
	}
	if h, ok := ReadHolder(dir); !ok || h.Command != "mica watch" || h.LongRunning || h.Detail != "" {
		t.Fatalf("holder after a second SetHolder: %+v %v", h, ok)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.SetHolder(Holder{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetHolder after close: %v, want ErrClosed", err)
	}
	// A record that does not parse (a half-written one) is no holder.
	if err := os.WriteFile(filepath.Join(dir, lockName), []byte(`{"pid": 1`), 0o600); err != nil {
		t.Fatal(err)
	}
	if h, ok := ReadHolder(dir); ok {
		t.Fatalf("half-written record read as %+v", h)
	}
	w2, err := Open(dir)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	_ = w2.Close()
}

// TestSecondProcessFailsInUse holds the wallet in a child process and opens it here.
func TestSecondProcessFailsInUse(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no flock")
	}
	if dir := os.Getenv("MICA_WALLET_TEST_HOLD"); dir != "" {
		w, err := Open(dir)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("held")
		_, _ = io.Copy(io.Discard, os.Stdin) // hold until the parent closes stdin
		_ = w.Close()
		os.Exit(0)
	}
	w, dir := create(t)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondProcessFailsInUse$")
	cmd.Env = append(os.Environ(), "MICA_WALLET_TEST_HOLD="+dir)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 5)
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "held\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	_, err := Open(dir)
	if !errors.Is(err, ErrInUse) {
		t.Errorf("open while another process holds the wallet: %v, want ErrInUse", err)
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// The lock died with the child.
	deadline := time.Now().Add(5 * time.Second)
	for {
		w2, err := Open(dir)
		if err == nil {
			_ = w2.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("open after the child exited: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEditsNeedAKnownChain(t *testing.T) {
	w, _ := create(t)
	unknown := base.ChainID{7}
	for name, err := range map[string]error{
		"SetDefault":    w.SetDefault(unknown),
		"SetNextHeight": w.SetNextHeight(unknown, 1),
		"ForgetChain":   w.ForgetChain(unknown),
	} {
		if !errors.Is(err, ErrUnknownChain) {
			t.Errorf("%s on an unknown chain: %v", name, err)
		}
	}
	if _, ok := w.Default(); ok {
		t.Fatalf("empty wallet has a default chain")
	}
	id := testGenesis().ChainIDs()[0]
	if err := w.FollowChain(id); err != nil {
		t.Fatal(err)
	}
	if d, ok := w.Default(); !ok || d != id {
		t.Fatalf("first chain is not the default")
	}
	if err := w.ForgetChain(id); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.Default(); ok || len(w.Chains()) != 0 {
		t.Fatalf("forgotten chain still there")
	}
	chain := base.ChainOwner
	if err := w.AddChain(id, &chain); !base.IsInvalid(err) {
		t.Fatalf("AddChain with the chain account as owner: %v", err)
	}
}

func TestDefaultDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"MICA_WALLET": "/w", "HOME": "/h"}, "/w"},
		{map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, filepath.Join("/x", "mica", "wallet")},
		{map[string]string{"HOME": "/h"}, filepath.Join("/h", ".config", "mica", "wallet")},
	} {
		got, err := DefaultDir(env(c.env))
		if err != nil || got != c.want {
			t.Errorf("DefaultDir(%v) = %q, %v; want %q", c.env, got, err, c.want)
		}
	}
}

// FuzzParse: any bytes either fail to parse or round-trip through encode unchanged.
func FuzzParse(f *testing.F) {
	w, err := Create(filepath.Join(f.TempDir(), "w"), testGenesis())
	if err != nil {
		f.Fatal(err)
	}
	_ = w.FollowChain(testGenesis().ChainIDs()[0])
	seed, _ := w.encode()
	_ = w.Close()
	f.Add(seed)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, _, err := parse(b)
		if err != nil {
			return
		}
		out, err := w.encode()
		if err != nil {
			t.Fatal(err)
		}
		w2, _, err := parse(out)
		if err != nil {
			t.Fatalf("re-parse of an encoded wallet: %v", err)
		}
		out2, _ := w2.encode()
		if !bytes.Equal(out, out2) {
			t.Fatalf("encode is not stable")
		}
	})
}

// TestOpenRefusesInvalidGenesis: wallet.json is a file users edit. A genesis config
// that decodes and matches its recorded hash but that Create would refuse (no chains:
// commands take chain 0 as the admin chain) makes Open fail with ErrDamaged rather than
// a command panic later.
func TestOpenRefusesInvalidGenesis(t *testing.T) {
	w, dir := create(t)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	editWalletJSON(t, dir, func(f *fileJSON) {
		g := testGenesis()
		g.Chains = nil
		f.Network.GenesisConfig = codec.Marshal(g)
		f.Network.GenesisHash = g.Hash().String()
	})
	w2, err := Open(dir)
	if err == nil {
		w2.Close()
		t.Fatal("a wallet whose genesis has no chains opened")
	}
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "no chains") {
		t.Fatalf("open: %v, want ErrDamaged naming the problem", err)
	}
}
