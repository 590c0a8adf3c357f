package wallet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/cputime"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// ownedChain imports alice's key, adds the genesis chain i owned by her and saves.
func ownedChain(t testing.TB, w *Wallet, i int) (base.ChainID, *crypto.PrivateKey) {
	t.Helper()
	alice := prototest.Key("alice")
	owner := alice.Public().Owner()
	if err := w.ImportKey(alice); err != nil {
		t.Fatal(err)
	}
	id := testGenesis().ChainIDs()[i]
	if err := w.AddChain(id, &owner); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	return id, alice
}

// fastProposal signs a fast proposal of n transfers at height h of chain id.
func fastProposal(t testing.TB, k *crypto.PrivateKey, id base.ChainID, h base.BlockHeight, n int) *protocol.BlockProposal {
	t.Helper()
	to := base.Account{Chain: testGenesis().ChainIDs()[1]}
	block := prototest.TransferBlock(id, h, &base.Hash{byte(h)}, k.Public().Owner(), to, n).Proposed
	p, err := protocol.SignProposal(k, block, base.FastRound, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func samePending(t *testing.T, w *Wallet, id base.ChainID, want *protocol.BlockProposal) {
	t.Helper()
	got := w.PendingProposal(id)
	switch {
	case want == nil && got != nil:
		t.Fatalf("pending proposal at height %d, want none", got.Content.Block.Height)
	case want != nil && (got == nil || !bytes.Equal(codec.Marshal(got), codec.Marshal(want))):
		t.Fatalf("pending proposal %v, want the one at height %d", got, want.Content.Block.Height)
	}
}

// TestFastProposalHookWritesOnlyItsChain: persisting a fast proposal leaves wallet.json
// alone and writes the chain's own store, alternating its two slots; the newest comes
// back after a restart.
func TestFastProposalHookWritesOnlyItsChain(t *testing.T) {
	w, dir := create(t)
	id, alice := ownedChain(t, w, 0)
	jsonPath := filepath.Join(dir, walletFile)
	before, _ := os.ReadFile(jsonPath)
	fiBefore, _ := os.Stat(jsonPath)
	var last *protocol.BlockProposal
	for h := base.BlockHeight(1); h <= 3; h++ {
		last = fastProposal(t, alice, id, h, 1)
		if err := w.FastProposalHook(id)(last); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := os.ReadFile(jsonPath)
	fiAfter, _ := os.Stat(jsonPath)
	if !bytes.Equal(before, after) || !os.SameFile(fiBefore, fiAfter) {
		t.Fatalf("the hook rewrote wallet.json")
	}
	for slot := range 2 {
		if _, err := os.Stat(filepath.Join(dir, proposalsDir, fmt.Sprintf("%s.%d", id, slot))); err != nil {
			t.Fatalf("slot %d: %v", slot, err)
		}
	}
	w2 := reopen(t, w)
	samePending(t, w2, id, last)
	if c, _ := w2.Chain(id); !c.HasPendingProposal {
		t.Fatal("chain does not report its pending proposal")
	}
}

// TestPendingProposalSurvivesInterruptedWrite: a write that fails half-way (a crash, a
// full disk) fails the hook, so the proposal is not sent, and leaves the previous record
// readable: after a restart the wallet holds the proposal that may be out.
func TestPendingProposalSurvivesInterruptedWrite(t *testing.T) {
	for _, cut := range []int{0, 10, proposalHeader - 1, proposalHeader + 5} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			w, _ := create(t)
			id, alice := ownedChain(t, w, 0)
			p1 := fastProposal(t, alice, id, 1, 2)
			if err := w.FastProposalHook(id)(p1); err != nil {
				t.Fatal(err)
			}
			w.mu.Lock()
			st := w.proposals[id].store
			w.mu.Unlock()
			st.wrap = func(f io.Writer) io.Writer { return &failingWriter{w: f, n: cut} }
			if err := w.FastProposalHook(id)(fastProposal(t, alice, id, 2, 3)); err == nil {
				t.Fatal("hook succeeded through a failing writer")
			}
			w2 := reopen(t, w)
			samePending(t, w2, id, p1)
			// The next write goes on after the torn slot.
			p3 := fastProposal(t, alice, id, 3, 1)
			if err := w2.FastProposalHook(id)(p3); err != nil {
				t.Fatal(err)
			}
			samePending(t, reopen(t, w2), id, p3)
		})
	}
}

// TestPendingProposalIgnoresDamagedSlot: a slot holding garbage, or a record whose
// checksum fails (a torn write the file system kept), does not hide the other slot's.
func TestPendingProposalIgnoresDamagedSlot(t *testing.T) {
	w, dir := create(t)
	id, alice := ownedChain(t, w, 0)
	p1 := fastProposal(t, alice, id, 1, 1)
	if err := w.FastProposalHook(id)(p1); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, proposalsDir, id.String()+".1")
	rec := encodeRecord(7, codec.Marshal(fastProposal(t, alice, id, 2, 1)))
	rec[len(rec)-1] ^= 1
	for _, b := range [][]byte{[]byte("garbage"), rec, rec[:proposalHeader+3]} {
		if err := os.WriteFile(other, b, 0o600); err != nil {
			t.Fatal(err)
		}
		w2, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		samePending(t, w2, id, p1)
		if err := w2.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// A record that verifies but is not a proposal of the chain is damage, not a torn
	// write: the wallet refuses to open rather than forget a proposal.
	if err := os.WriteFile(other, encodeRecord(9, []byte{1, 2, 3}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrDamaged) {
		t.Fatalf("open with a bad record: %v, want ErrDamaged", err)
	}
}

// TestClearedProposalRemovedBySave: a cleared proposal's records go at the next Save,
// and so do those of a chain that left the wallet.
func TestClearedProposalRemovedBySave(t *testing.T) {
	w, dir := create(t)
	id, alice := ownedChain(t, w, 0)
	if err := w.FastProposalHook(id)(fastProposal(t, alice, id, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := w.ClearPendingProposal(id); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, proposalsDir)); len(ents) != 0 {
		t.Fatalf("records left after the proposal was cleared: %v", ents)
	}
	w2 := reopen(t, w)
	samePending(t, w2, id, nil)

	if err := w2.FastProposalHook(id)(fastProposal(t, alice, id, 2, 1)); err != nil {
		t.Fatal(err)
	}
	if err := w2.ForgetChain(id); err != nil {
		t.Fatal(err)
	}
	if err := w2.Save(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, proposalsDir)); len(ents) != 0 {
		t.Fatalf("records left after the chain left the wallet: %v", ents)
	}
}

// TestReaddedChainFindsItsProposal: a chain whose proposal was persisted but that is
// not in the saved wallet.json (added in a session that crashed before saving; or
// forgotten, then added again) gets its proposal back when it is added: re-added, it
// re-sends that proposal instead of signing another at its height.
func TestReaddedChainFindsItsProposal(t *testing.T) {
	w, _ := create(t)
	alice := prototest.Key("alice")
	owner := alice.Public().Owner()
	if err := w.ImportKey(alice); err != nil {
		t.Fatal(err)
	}
	id := testGenesis().ChainIDs()[0]
	if err := w.AddChain(id, &owner); err != nil {
		t.Fatal(err)
	}
	p := fastProposal(t, alice, id, 4, 1)
	if err := w.FastProposalHook(id)(p); err != nil {
		t.Fatal(err)
	}
	w2 := reopen(t, w) // never saved: the chain is not in wallet.json
	if _, ok := w2.Chain(id); ok {
		t.Fatal("unsaved chain in the wallet")
	}
	if err := w2.AddChain(id, &owner); err != nil {
		t.Fatal(err)
	}
	samePending(t, w2, id, p)

	if err := w2.ForgetChain(id); err != nil {
		t.Fatal(err)
	}
	if err := w2.FollowChain(id); err != nil {
		t.Fatal(err)
	}
	samePending(t, w2, id, p)
}

// TestMigrateVersion1: a wallet.json of format version 1 holding pending proposals is
// migrated when opened: the proposals move to their stores and wallet.json becomes
// version 2 without them. Where both hold one (an older mica used the wallet after an
// interrupted migration), the higher proposal wins.
func TestMigrateVersion1(t *testing.T) {
	w, dir := create(t)
	id0, alice := ownedChain(t, w, 0)
	id1, _ := ownedChain(t, w, 1)
	p0 := fastProposal(t, alice, id0, 5, 2)
	p1 := fastProposal(t, alice, id1, 8, 1)
	// A stale record of chain 1 in its store, below the proposal wallet.json holds.
	if err := w.FastProposalHook(id1)(fastProposal(t, alice, id1, 7, 1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, walletFile)
	b, _ := os.ReadFile(path)
	var f fileJSON
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	f.Version = 1
	for i := range f.Chains {
		switch f.Chains[i].ChainID {
		case id0.String():
			f.Chains[i].PendingProposal = codec.Marshal(p0)
		case id1.String():
			f.Chains[i].PendingProposal = codec.Marshal(p1)
		}
	}
	v1, _ := json.Marshal(&f)
	if err := os.WriteFile(path, v1, 0o600); err != nil {
		t.Fatal(err)
	}

	w2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	samePending(t, w2, id0, p0)
	samePending(t, w2, id1, p1)
	b, _ = os.ReadFile(path)
	var g map[string]any
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if g["version"] != float64(FormatVersion) || bytes.Contains(b, []byte("pending_proposal")) {
		t.Fatalf("wallet.json after migration:\n%s", b)
	}
	w3 := reopen(t, w2)
	samePending(t, w3, id0, p0)
	samePending(t, w3, id1, p1)
}

// TestConcurrentHooksAndSaves: chains persist in parallel while Save runs; every
// chain's last proposal is what a restart finds (an older snapshot written by a Save
// never replaces a newer proposal).
func TestConcurrentHooksAndSaves(t *testing.T) {
	w, _ := create(t)
	alice := prototest.Key("alice")
	owner := alice.Public().Owner()
	if err := w.ImportKey(alice); err != nil {
		t.Fatal(err)
	}
	ids := testGenesis().ChainIDs()
	for _, id := range ids {
		if err := w.AddChain(id, &owner); err != nil {
			t.Fatal(err)
		}
	}
	const heights = 20
	props := make([][]*protocol.BlockProposal, len(ids))
	for i, id := range ids {
		for h := range heights {
			props[i] = append(props[i], fastProposal(t, alice, id, base.BlockHeight(h+1), 1))
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := w.Save(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var hooks sync.WaitGroup
	for i, id := range ids {
		hooks.Go(func() {
			hook := w.FastProposalHook(id)
			for _, p := range props[i] {
				if err := hook(p); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	hooks.Wait()
	close(stop)
	wg.Wait()
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	w2 := reopen(t, w)
	for i, id := range ids {
		samePending(t, w2, id, props[i][heights-1])
	}
}

// BenchmarkPersistFastProposal: what persisting one fast proposal costs, in a wallet
// of 16 chains each with a pending proposal of the same size: "wallet.json" is the
// former way (SetPendingProposal, then Save rewrites wallet.json with every chain's
// proposal), "store" is FastProposalHook. Sub-benchmarks by transfers per block and by
// chains persisting at once; cpu-µs/op is the process's CPU time per proposal.
func BenchmarkPersistFastProposal(b *testing.B) {
	const chains = 16
	for _, n := range []int{1, 100} {
		for _, par := range []int{1, chains} {
			for _, how := range []string{"wallet.json", "store"} {
				b.Run(fmt.Sprintf("tx=%d/parallel=%d/%s", n, par, how), func(b *testing.B) {
					benchPersist(b, chains, n, par, how == "store")
				})
			}
		}
	}
}

func benchPersist(b *testing.B, chains, n, par int, store bool) {
	w, err := Create(filepath.Join(b.TempDir(), "w"), testGenesis())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	alice := prototest.Key("alice")
	owner := alice.Public().Owner()
	if err := w.ImportKey(alice); err != nil {
		b.Fatal(err)
	}
	ids := make([]base.ChainID, chains)
	props := make([]*protocol.BlockProposal, chains)
	for i := range ids {
		ids[i] = base.ChainID{byte(i), 1}
		if err := w.AddChain(ids[i], &owner); err != nil {
			b.Fatal(err)
		}
		props[i] = fastProposal(b, alice, ids[i], 1, n)
		if err := w.SetPendingProposal(ids[i], props[i]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Save(); err != nil {
		b.Fatal(err)
	}
	persist := func(i int) error {
		if store {
			return w.FastProposalHook(ids[i])(props[i])
		}
		if err := w.SetPendingProposal(ids[i], props[i]); err != nil {
			return err
		}
		return w.Save()
	}
	b.ResetTimer()
	cpu0 := cputime.Process()
	var wg sync.WaitGroup
	for g := range par {
		wg.Go(func() {
			for k := g; k < b.N; k += par {
				if err := persist(k % chains); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
