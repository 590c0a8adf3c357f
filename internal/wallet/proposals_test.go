package wallet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
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
// alone and appends to the log; the newest comes back after a restart.
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
	if _, err := os.Stat(filepath.Join(dir, proposalsDir, proposalLogFile)); err != nil {
		t.Fatal(err)
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
	for _, cut := range []int{0, 10, logHeader - 1, logHeader + 5} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			w, _ := create(t)
			id, alice := ownedChain(t, w, 0)
			p1 := fastProposal(t, alice, id, 1, 2)
			if err := w.FastProposalHook(id)(p1); err != nil {
				t.Fatal(err)
			}
			w.plog.mu.Lock()
			w.plog.wrap = func(f io.Writer) io.Writer { return &failingWriter{w: f, n: cut} }
			w.plog.mu.Unlock()
			if err := w.FastProposalHook(id)(fastProposal(t, alice, id, 2, 3)); err == nil {
				t.Fatal("hook succeeded through a failing writer")
			}
			w2 := reopen(t, w)
			samePending(t, w2, id, p1)
			// The next write goes on after the torn record.
			p3 := fastProposal(t, alice, id, 3, 1)
			if err := w2.FastProposalHook(id)(p3); err != nil {
				t.Fatal(err)
			}
			samePending(t, reopen(t, w2), id, p3)
		})
	}
}

// TestPendingProposalIgnoresTornRecord: whatever a crash leaves after the records (a
// torn record, garbage, a record whose checksum fails, a record out of sequence) is not
// read, and the log is rewritten before anything is appended after it, so that the
// leftovers are never read after a new record.
func TestPendingProposalIgnoresTornRecord(t *testing.T) {
	w, dir := create(t)
	id, alice := ownedChain(t, w, 0)
	p1 := fastProposal(t, alice, id, 1, 1)
	if err := w.FastProposalHook(id)(p1); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, proposalsDir, proposalLogFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end, seq := scanLog(good, func(base.ChainID, []byte) {})
	later := encodeLogRecord(seq+1, id, codec.Marshal(fastProposal(t, alice, id, 2, 1)))
	bad := bytes.Clone(later)
	bad[len(bad)-1] ^= 1
	outOfSeq := encodeLogRecord(seq+2, id, codec.Marshal(fastProposal(t, alice, id, 3, 1)))
	// A torn record followed by one that verifies (written, not synced, before the
	// crash): a record of the torn one's size appended in its place would make the
	// next one readable.
	tornThenValid := append(bytes.Clone(bad), outOfSeq...)
	for i, tail := range [][]byte{[]byte("garbage"), bad, later[:logHeader+3], outOfSeq, tornThenValid} {
		b := bytes.Clone(good)
		copy(b[end:], tail)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		w2, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		samePending(t, w2, id, p1)
		// A shorter record appended now must not make the leftovers readable.
		p4 := fastProposal(t, alice, id, base.BlockHeight(4+i), 1)
		if err := w2.FastProposalHook(id)(p4); err != nil {
			t.Fatal(err)
		}
		w3 := reopen(t, w2)
		samePending(t, w3, id, p4)
		if err := w3.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, good, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A record that verifies but is not a proposal of the chain is damage, not a torn
	// write: the wallet refuses to open rather than forget a proposal.
	b := bytes.Clone(good)
	copy(b[end:], encodeLogRecord(seq+1, id, []byte{1, 2, 3}))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrDamaged) {
		t.Fatalf("open with a bad record: %v, want ErrDamaged", err)
	}
}

// TestClearedProposalRemovedBySave: a cleared proposal's record is removed at the next
// Save, and so is that of a chain that left the wallet.
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
	if live := logLive(t, dir); len(live) != 0 {
		t.Fatalf("records left after the proposal was cleared: %v", live)
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
	if live := logLive(t, dir); len(live) != 0 {
		t.Fatalf("records left after the chain left the wallet: %v", live)
	}
}

// logLive returns the chains with a proposal in the log of the wallet in dir.
func logLive(t *testing.T, dir string) map[base.ChainID][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, proposalsDir, proposalLogFile))
	if err != nil {
		t.Fatal(err)
	}
	live := map[base.ChainID][]byte{}
	scanLog(b, func(id base.ChainID, p []byte) {
		if len(p) == 0 {
			delete(live, id)
		} else {
			live[id] = p
		}
	})
	return live
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

// editWalletJSON rewrites the wallet.json of the closed wallet in dir as edit changes
// it, and returns its path.
func editWalletJSON(t *testing.T, dir string, edit func(*fileJSON)) string {
	t.Helper()
	path := filepath.Join(dir, walletFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f fileJSON
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	edit(&f)
	if b, err = json.Marshal(&f); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMigrateVersion1: a wallet.json of format version 1 holding pending proposals is
// migrated when opened: the proposals move to the log and wallet.json becomes
// version 3 without them. Where both hold one (an older mica used the wallet after an
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
	path := editWalletJSON(t, dir, func(f *fileJSON) {
		f.Version = 1
		for i := range f.Chains {
			switch f.Chains[i].ChainID {
			case id0.String():
				f.Chains[i].PendingProposal = codec.Marshal(p0)
			case id1.String():
				f.Chains[i].PendingProposal = codec.Marshal(p1)
			}
		}
	})

	w2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	samePending(t, w2, id0, p0)
	samePending(t, w2, id1, p1)
	b, _ := os.ReadFile(path)
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
	cpu0, syncs0 := cputime.Process(), w.ProposalSyncs()
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
	if store {
		b.ReportMetric(float64(w.ProposalSyncs()-syncs0)/float64(b.N), "syncs/op")
	}
}

// encodeSlot is a record of a format version 2 slot file.
func encodeSlot(seq uint64, payload []byte) []byte {
	b := make([]byte, slotHeader, slotHeader+len(payload))
	copy(b, slotMagic[:])
	binary.LittleEndian.PutUint64(b[8:], seq)
	binary.LittleEndian.PutUint64(b[16:], uint64(len(payload)))
	h := sha256.New()
	h.Write(b[:24])
	h.Write(payload)
	h.Sum(b[24:24])
	return append(b, payload...)
}

// TestMigrateVersion2: a wallet of format version 2 keeps each chain's proposal in two
// slot files; opened, its proposals move into the log (the newer slot of each chain,
// and a slot's over a log record an interrupted migration left), wallet.json becomes
// version 3 and the slots are deleted.
func TestMigrateVersion2(t *testing.T) {
	w, dir := create(t)
	id0, alice := ownedChain(t, w, 0)
	id1, _ := ownedChain(t, w, 1)
	// A log record of chain 1 from an interrupted migration; an older mica went on
	// with its slots.
	if err := w.FastProposalHook(id1)(fastProposal(t, alice, id1, 3, 1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := editWalletJSON(t, dir, func(f *fileJSON) { f.Version = 2 })
	p0, p1 := fastProposal(t, alice, id0, 5, 2), fastProposal(t, alice, id1, 4, 1)
	slot := func(id base.ChainID, i int) string {
		return filepath.Join(dir, proposalsDir, fmt.Sprintf("%s.%d", id, i))
	}
	for _, s := range []struct {
		path string
		rec  []byte
	}{
		{slot(id0, 0), encodeSlot(1, codec.Marshal(fastProposal(t, alice, id0, 4, 2)))},
		{slot(id0, 1), encodeSlot(2, codec.Marshal(p0))},
		{slot(id1, 0), encodeSlot(6, codec.Marshal(p1))},
		{slot(id1, 1), []byte("torn")},
	} {
		if err := os.WriteFile(s.path, s.rec, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	samePending(t, w2, id0, p0)
	samePending(t, w2, id1, p1)
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte(`"version": 3`)) && !bytes.Contains(b, []byte(`"version":3`)) {
		t.Fatalf("wallet.json after migration:\n%s", b)
	}
	for _, p := range []string{slot(id0, 0), slot(id0, 1), slot(id1, 0), slot(id1, 1)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("slot %s left after the migration: %v", p, err)
		}
	}
	w3 := reopen(t, w2)
	samePending(t, w3, id0, p0)
	samePending(t, w3, id1, p1)
}

// manyChains imports alice's key and adds n chains owned by her, each with proposals
// at heights 1..heights signed ahead.
func manyChains(t *testing.T, w *Wallet, n, heights int) ([]base.ChainID, [][]*protocol.BlockProposal) {
	t.Helper()
	alice := prototest.Key("alice")
	owner := alice.Public().Owner()
	if err := w.ImportKey(alice); err != nil {
		t.Fatal(err)
	}
	ids := make([]base.ChainID, n)
	props := make([][]*protocol.BlockProposal, n)
	for i := range ids {
		ids[i] = base.ChainID{byte(i), 7}
		if err := w.AddChain(ids[i], &owner); err != nil {
			t.Fatal(err)
		}
		for h := range heights {
			props[i] = append(props[i], fastProposal(t, alice, ids[i], base.BlockHeight(h+1), 1+h%3))
		}
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	return ids, props
}

// TestConcurrentWritersDurable: many chains persist proposals at once, sharing syncs.
// The log as it stood when the last completed sync began is what a crash leaves (torn
// records included): whenever a hook returns, that image holds the chain's proposal or
// a later one; and a restart finds each chain's last proposal.
func TestConcurrentWritersDurable(t *testing.T) {
	w, dir := create(t)
	const chains, heights = 24, 15
	ids, props := manyChains(t, w, chains, heights)
	index := map[base.ChainID]int{}
	for i, id := range ids {
		index[id] = i
	}
	// The first proposal creates the log (a rewrite, synced without the hook below).
	if err := w.FastProposalHook(ids[0])(props[0][0]); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	durable := make([]int, chains) // heights in the crash image, per chain
	durable[0] = 1
	w.plog.mu.Lock()
	w.plog.sync = func(f *os.File) error {
		image, err := os.ReadFile(filepath.Join(dir, proposalsDir, proposalLogFile))
		if err != nil {
			return err
		}
		if err := datasync(f); err != nil {
			return err
		}
		got := make([]int, chains)
		scanLog(image, func(id base.ChainID, p []byte) {
			if i, ok := index[id]; ok && len(p) > 0 {
				got[i] = int(proposalHeight(p))
			}
		})
		mu.Lock()
		durable = got
		mu.Unlock()
		return nil
	}
	w.plog.mu.Unlock()
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			hook := w.FastProposalHook(id)
			for h, p := range props[i] {
				if err := hook(p); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				d := durable[i]
				mu.Unlock()
				if d < h+1 {
					t.Errorf("chain %d: proposal at height %d acknowledged, a crash now leaves height %d", i, h+1, d)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d proposals, %d syncs", chains*heights, w.ProposalSyncs())
	w2 := reopen(t, w)
	for i, id := range ids {
		samePending(t, w2, id, props[i][heights-1])
	}
}

// blockSync makes the wallet's next sync wait until n records are appended after
// it began, then return err (nil: sync for real); later syncs are real.
func blockSync(w *Wallet, n uint64, err error) {
	w.plog.mu.Lock()
	defer w.plog.mu.Unlock()
	start := w.plog.seq
	var once sync.Once
	w.plog.sync = func(f *os.File) error {
		first := false
		once.Do(func() { first = true })
		if !first {
			return datasync(f)
		}
		for {
			w.plog.mu.Lock()
			seq := w.plog.seq
			w.plog.mu.Unlock()
			if seq >= start+n {
				break
			}
			runtime.Gosched()
		}
		if err != nil {
			return err
		}
		return datasync(f)
	}
}

// TestGroupCommitSharesSync: proposals appended while a sync runs share the next one:
// 16 chains persisting at once while the first sync waits for all of them take two
// syncs, not 16.
func TestGroupCommitSharesSync(t *testing.T) {
	w, _ := create(t)
	const chains = 16
	ids, props := manyChains(t, w, chains, 2)
	// The first proposal creates the log (a rewrite, one sync).
	if err := w.FastProposalHook(ids[0])(props[0][0]); err != nil {
		t.Fatal(err)
	}
	blockSync(w, chains, nil)
	before := w.ProposalSyncs()
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			if err := w.FastProposalHook(id)(props[i][1]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := w.ProposalSyncs() - before; got != 2 {
		t.Fatalf("%d proposals persisted at once took %d syncs, want 2", chains, got)
	}
	w2 := reopen(t, w)
	for i, id := range ids {
		samePending(t, w2, id, props[i][1])
	}
}

// TestSyncErrorReachesEveryWaiter: when the sync that was to cover several chains'
// proposals fails, every one of their hooks fails (none is sent); the next proposal
// starts a fresh log, durable, and nothing acknowledged before is lost.
func TestSyncErrorReachesEveryWaiter(t *testing.T) {
	w, _ := create(t)
	const chains = 8
	ids, props := manyChains(t, w, chains, 3)
	for i, id := range ids {
		if err := w.FastProposalHook(id)(props[i][0]); err != nil {
			t.Fatal(err)
		}
	}
	eio := errors.New("input/output error")
	blockSync(w, chains, eio)
	errs := make([]error, chains)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { errs[i] = w.FastProposalHook(id)(props[i][1]) })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, eio) {
			t.Errorf("chain %d: hook returned %v, want the sync's error", i, err)
		}
	}
	// Chain 0 goes on; the others' failed proposals may or may not be on disk (never
	// sent, so either is safe), but never anything older than what was acknowledged.
	if err := w.FastProposalHook(ids[0])(props[0][2]); err != nil {
		t.Fatal(err)
	}
	w2 := reopen(t, w)
	samePending(t, w2, ids[0], props[0][2])
	for i := 1; i < chains; i++ {
		if h := w2.PendingProposal(ids[i]).Content.Block.Height; h < 1 {
			t.Errorf("chain %d: pending proposal at height %d after the failed sync", i, h)
		}
	}
}

// TestLogGrowsAndCompacts: with a small write-ahead and compaction size, proposals of
// varied sizes make the log grow and be compacted many times; after each chain's
// proposals (and at the end, with one chain's cleared) a restart finds every chain's
// last proposal, and the file stays within the compaction bound.
func TestLogGrowsAndCompacts(t *testing.T) {
	w, dir := create(t)
	const chains, heights = 3, 40
	w.plog.mu.Lock()
	w.plog.growBy, w.plog.compactAt = 4<<10, 16<<10
	w.plog.mu.Unlock()
	alice := prototest.Key("alice")
	owner := alice.Public().Owner()
	if err := w.ImportKey(alice); err != nil {
		t.Fatal(err)
	}
	ids := make([]base.ChainID, chains)
	for i := range ids {
		ids[i] = base.ChainID{byte(i), 9}
		if err := w.AddChain(ids[i], &owner); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	last := make([]*protocol.BlockProposal, chains)
	path := filepath.Join(dir, proposalsDir, proposalLogFile)
	var maxSize int64
	for h := 1; h <= heights; h++ {
		for i, id := range ids {
			last[i] = fastProposal(t, alice, id, base.BlockHeight(h), 1+(h*7+i*3)%20)
			if err := w.FastProposalHook(id)(last[i]); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err == nil && fi.Size() > maxSize {
				maxSize = fi.Size()
			}
		}
	}
	// Compacted when the log reached 16 KiB holding mostly superseded records: at most
	// that, the three live records of up to 20 transfers (~2 KiB each) and 4 KiB more.
	if maxSize > 16<<10+3*(4<<10)+4<<10 {
		t.Fatalf("the log grew to %d bytes", maxSize)
	}
	if err := w.ClearPendingProposal(ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	w2 := reopen(t, w)
	samePending(t, w2, ids[0], last[0])
	samePending(t, w2, ids[1], nil)
	samePending(t, w2, ids[2], last[2])
}

// BenchmarkProposalLogBackToBack: one chain persisting 100-transfer proposals back to
// back (each replacing the last), through many compactions of the log. written-B/op is
// what the log wrote per proposal (records, zeros ahead, compactions), zeros-B/op the
// zeros among them, io-write-B/op the process's write_bytes from /proc/self/io (Linux).
//
// "reopened" starts from a wallet reopened after 1,000 such proposals (a client that
// restarts reads its log, and appends over what it read), "new" from a new wallet.
func BenchmarkProposalLogBackToBack(b *testing.B) {
	for _, reopened := range []bool{false, true} {
		b.Run(map[bool]string{false: "new", true: "reopened"}[reopened], func(b *testing.B) {
			benchBackToBack(b, reopened)
		})
	}
}

func benchBackToBack(b *testing.B, reopened bool) {
	dir := filepath.Join(b.TempDir(), "w")
	w, err := Create(dir, testGenesis())
	if err != nil {
		b.Fatal(err)
	}
	id, alice := ownedChain(b, w, 0)
	props := make([]*protocol.BlockProposal, 8)
	for i := range props {
		props[i] = fastProposal(b, alice, id, base.BlockHeight(i+1), 100)
	}
	if reopened {
		for i := range 1000 {
			if err := w.FastProposalHook(id)(props[i%len(props)]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		if w, err = Open(dir); err != nil {
			b.Fatal(err)
		}
	}
	defer w.Close()
	hook := w.FastProposalHook(id)
	b.ResetTimer()
	cpu0, io0 := cputime.Process(), writeBytes(b)
	written0, zeroed0 := w.plog.written.Load(), w.plog.zeroed.Load()
	for i := range b.N {
		if err := hook(props[i%len(props)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(w.plog.written.Load()-written0)/float64(b.N), "written-B/op")
	b.ReportMetric(float64(w.plog.zeroed.Load()-zeroed0)/float64(b.N), "zeros-B/op")
	if io := writeBytes(b); io >= 0 {
		b.ReportMetric(float64(io-io0)/float64(b.N), "io-write-B/op")
	}
}

// writeBytes returns the process's write_bytes from /proc/self/io, or -1 where there is
// none.
func writeBytes(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	return -1
}

// TestCompactionReusesSpace: once the log and the file its compaction replaced have
// reached their size, a chain writing proposals back to back writes no more zeros ahead:
// each compaction writes the live records over the former log's space. After every
// record, the file on disk reads as the chain's last proposal, and nothing after the
// records (zeros, or the former log's records) could be read after a later one.
func TestCompactionReusesSpace(t *testing.T) {
	w, dir := create(t)
	id, alice := ownedChain(t, w, 0)
	w.plog.mu.Lock()
	w.plog.growBy, w.plog.compactAt = 4<<10, 16<<10
	w.plog.mu.Unlock()
	path := filepath.Join(dir, proposalsDir, proposalLogFile)
	hook := w.FastProposalHook(id)
	var zeroedWarm uint64
	const heights = 300
	for h := 1; h <= heights; h++ {
		if h == heights/3 {
			w.plog.mu.Lock()
			if w.plog.spare == nil {
				w.plog.mu.Unlock()
				t.Skip("this file system cannot exchange two names: every compaction writes a new file")
			}
			w.plog.mu.Unlock()
			zeroedWarm = w.plog.zeroed.Load()
		}
		p := fastProposal(t, alice, id, base.BlockHeight(h), 1+(h*7)%20)
		if err := hook(p); err != nil {
			t.Fatal(err)
		}
		image, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var last []byte
		end, seq := scanLog(image, func(c base.ChainID, b []byte) {
			if c == id {
				last = b
			}
		})
		if !bytes.Equal(last, codec.Marshal(p)) {
			t.Fatalf("height %d: the log on disk does not end with its proposal", h)
		}
		if laterRecordAfter(image[end:], seq) {
			t.Fatalf("height %d: a record after the last one read could follow a later one", h)
		}
	}
	if z := w.plog.zeroed.Load() - zeroedWarm; z != 0 {
		t.Fatalf("%d bytes of zeros written after the warm-up, want 0", z)
	}
	samePending(t, reopen(t, w), id, fastProposal(t, alice, id, heights, 1+(heights*7)%20))
}

// FuzzProposalLogRead: whatever bytes the log file holds (a crash image, an edited or
// damaged file), opening it does not panic, and a record appended then is read back
// after a reopen, with every other chain's proposal as the first open read it: nothing
// left after the records read becomes readable.
func FuzzProposalLogRead(f *testing.F) {
	a, b := base.ChainID{1}, base.ChainID{2}
	r1 := encodeLogRecord(1, a, []byte("one"))
	r2 := encodeLogRecord(2, b, []byte("two"))
	r3 := encodeLogRecord(3, a, []byte("three"))
	f.Add(slices.Concat(r1, r2))
	f.Add(slices.Concat(r1, r2[:len(r2)-1], r3))
	f.Add(slices.Concat(r1, []byte("garbage"), r3))
	f.Add(slices.Concat(r1, make([]byte, 40), r3, r2))
	f.Add(slices.Concat(r1, r2, encodeLogRecord(1, b, []byte("stale"))))
	f.Fuzz(func(t *testing.T, data []byte) {
		walletDir := t.TempDir()
		dir := filepath.Join(walletDir, proposalsDir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, proposalLogFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := openProposalLog(walletDir, false)
		if err != nil {
			t.Fatal(err)
		}
		want := maps.Clone(l.live)
		l.sync = func(*os.File) error { return nil } // the page cache is what reopening reads
		l.growBy = 4 << 10
		if err := l.put(a, []byte("new")); err != nil {
			t.Fatal(err)
		}
		want[a] = []byte("new")
		if err := l.close(); err != nil {
			t.Fatal(err)
		}
		l2, err := openProposalLog(walletDir, false)
		if err != nil {
			t.Fatal(err)
		}
		defer l2.close()
		if !maps.EqualFunc(l2.live, want, bytes.Equal) {
			t.Fatalf("reopened log holds %q, want %q", l2.live, want)
		}
	})
}

// TestFastProposalEncodedHookKeepsTheClientsEncoding: the encoded hook stores the bytes
// it is given (no encoding of its own: the client made them with the signature), and
// the proposal comes back from them, after a restart too.
func TestFastProposalEncodedHookKeepsTheClientsEncoding(t *testing.T) {
	w, _ := create(t)
	id, alice := ownedChain(t, w, 0)
	p := fastProposal(t, alice, id, 1, 1)
	enc := codec.Marshal(p)
	if err := w.FastProposalEncodedHook(id)(p, enc); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	kept := w.chains[id].pending
	w.mu.Unlock()
	if len(kept) != len(enc) || &kept[0] != &enc[0] {
		t.Fatal("the hook stored another encoding than the one it was given")
	}
	samePending(t, w, id, p)
	w = reopen(t, w)
	samePending(t, w, id, p)
	// Without an encoding it makes one, as FastProposalHook does.
	p2 := fastProposal(t, alice, id, 2, 1)
	if err := w.FastProposalEncodedHook(id)(p2, nil); err != nil {
		t.Fatal(err)
	}
	samePending(t, w, id, p2)
}
