package wallet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/micachain/mica/internal/atomicfile"
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// Pending fast proposals are kept out of wallet.json, one store per chain:
//
//	DIR/proposals/<chain>.0, DIR/proposals/<chain>.1   two slots, written in turn
//
// Persisting a proposal writes one record into the slot that does not hold the newest
// one, in place, and syncs it (fdatasync): it costs O(this proposal), touches no other
// chain's files and holds no wallet-wide lock while it writes, so chains persist in
// parallel. wallet.json used to hold every pending proposal and was rewritten (with an
// fsync of the file and of the directory) for each one: O(wallet) and one lock for all
// chains. On this machine an atomic replace (temporary file, fsync, rename, fsync of the
// directory) cost 7–10 ms per write against 0.35–1.9 ms for an in-place write and
// fdatasync of an existing file (docs/PERFORMANCE.md).
//
// A record is
//
//	magic "mica-pp1" | seq u64 | length u64 | SHA-256(magic | seq | length | payload) | payload
//
// (little-endian), where payload is the canonical encoding of the proposal and seq grows
// with every write of the chain's store. Reading takes the valid record with the highest
// seq. A write interrupted by a crash leaves a slot that does not verify (ignored) next
// to the previous record, which is intact in the other slot: that proposal was not sent
// yet (the hook had not returned), so the previous one is what the chain may have
// out, and the client re-sends it or finds its height committed. A slot file is created
// once, with an fsync of the directory, so that a later record never depends on a
// directory entry that a crash could lose.
//
// A cleared proposal (its block committed) is removed from disk by the next Save; a
// stale record that survives a crash is harmless: the client discards a pending proposal
// whose height the chain has passed.
const proposalsDir = "proposals"

var proposalMagic = [8]byte{'m', 'i', 'c', 'a', '-', 'p', 'p', '1'}

const proposalHeader = 8 + 8 + 8 + sha256.Size

// maxProposalRecord bounds what a slot may claim to hold (a proposal carrying the blobs
// it publishes: bytecode of a few MiB at most).
const maxProposalRecord = 1 << 30

// proposalStore is the on-disk store of one chain's pending fast proposal. Its methods
// serialize on mu; different chains' stores are independent.
type proposalStore struct {
	dir string // DIR/proposals
	id  base.ChainID

	mu sync.Mutex
	// files are the open slot files (nil until first written or read).
	files [2]*os.File
	// seq is the sequence number of the newest record on disk (0: none), newest its
	// slot. Invariant: seq == 0 or the record in slot newest verifies and has seq.
	seq    uint64
	newest int
	// gen is the generation (chainEntry.gen) of the last write or removal applied:
	// operations reach the disk in the order the wallet's memory changed, whatever the
	// order of the goroutines applying them; an older one is skipped.
	gen uint64
	// closed is set by close (the wallet was closed): nothing is written any more.
	closed bool
	// wrap, if set, wraps the writer of records (tests: a crash mid-write).
	wrap func(io.Writer) io.Writer
}

func newProposalStore(walletDir string, id base.ChainID) *proposalStore {
	return &proposalStore{dir: filepath.Join(walletDir, proposalsDir), id: id}
}

func (s *proposalStore) path(slot int) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s.%d", s.id, slot))
}

// encodeRecord returns the record holding payload with sequence number seq.
func encodeRecord(seq uint64, payload []byte) []byte {
	b := make([]byte, proposalHeader, proposalHeader+len(payload))
	copy(b, proposalMagic[:])
	binary.LittleEndian.PutUint64(b[8:], seq)
	binary.LittleEndian.PutUint64(b[16:], uint64(len(payload)))
	h := sha256.New()
	h.Write(b[:24])
	h.Write(payload)
	h.Sum(b[24:24])
	return append(b, payload...)
}

// decodeRecord returns the sequence number and payload of the record at the start of
// b (trailing bytes are what a longer earlier record left), or false if none verifies.
func decodeRecord(b []byte) (uint64, []byte, bool) {
	if len(b) < proposalHeader || !bytes.Equal(b[:8], proposalMagic[:]) {
		return 0, nil, false
	}
	seq := binary.LittleEndian.Uint64(b[8:])
	n := binary.LittleEndian.Uint64(b[16:])
	if seq == 0 || n > uint64(len(b)-proposalHeader) {
		return 0, nil, false
	}
	payload := b[proposalHeader : proposalHeader+int(n)]
	h := sha256.New()
	h.Write(b[:24])
	h.Write(payload)
	if !bytes.Equal(h.Sum(nil), b[24:proposalHeader]) {
		return 0, nil, false
	}
	return seq, payload, true
}

// load reads the newest record that verifies, or nil if there is none. It remembers
// where it is, so that the next write goes to the other slot.
func (s *proposalStore) load() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best []byte
	var bestSeq uint64
	bestSlot := 0
	for slot := range 2 {
		b, err := readLimited(s.path(slot), maxProposalRecord+proposalHeader)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read pending proposal of %s: %w", s.id.Short(), err)
		}
		// A slot that does not verify holds a write a crash interrupted: ignored.
		if seq, payload, ok := decodeRecord(b); ok && seq > bestSeq {
			bestSeq, bestSlot, best = seq, slot, payload
		}
	}
	if bestSeq > s.seq {
		s.seq, s.newest = bestSeq, bestSlot
	}
	return best, nil
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}

// write makes payload, the pending proposal of generation gen, the newest record,
// durably: when it returns nil, a process reopening the wallet after a crash reads
// payload or what a later generation wrote. A generation not newer than the last applied
// one is not written.
func (s *proposalStore) write(gen uint64, payload []byte) error {
	if len(payload) > maxProposalRecord {
		return base.Invalidf("pending proposal of %d bytes", len(payload))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if apply, err := s.applies(gen); !apply {
		return err
	}
	slot := 0
	if s.seq != 0 {
		slot = 1 - s.newest
	}
	f, err := s.open(slot)
	if err != nil {
		return err
	}
	rec := encodeRecord(s.seq+1, payload)
	var w io.Writer = &offsetWriter{f: f}
	if s.wrap != nil {
		w = s.wrap(w)
	}
	if _, err := w.Write(rec); err != nil {
		return fmt.Errorf("write pending proposal of %s: %w", s.id.Short(), err)
	}
	if err := datasync(f); err != nil {
		return fmt.Errorf("sync pending proposal of %s: %w", s.id.Short(), err)
	}
	s.seq, s.newest, s.gen = s.seq+1, slot, gen
	return nil
}

// applies reports whether an operation of generation gen is to be applied: the store
// is open and gen is newer than the last applied. The caller holds s.mu.
func (s *proposalStore) applies(gen uint64) (bool, error) {
	if s.closed {
		return false, ErrClosed
	}
	return gen > s.gen, nil
}

// offsetWriter writes at the start of a file, then on from there.
type offsetWriter struct {
	f   *os.File
	off int64
}

func (o *offsetWriter) Write(p []byte) (int, error) {
	n, err := o.f.WriteAt(p, o.off)
	o.off += int64(n)
	return n, err
}

// open returns the slot's file, creating it (and the directory) durably if needed.
func (s *proposalStore) open(slot int) (*os.File, error) {
	if f := s.files[slot]; f != nil {
		return f, nil
	}
	path := s.path(slot)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		f, err = s.create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("open pending proposal file of %s: %w", s.id.Short(), err)
	}
	s.files[slot] = f
	return f, nil
}

// create makes an empty slot file whose directory entry is durable.
func (s *proposalStore) create(path string) (*os.File, error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(f.Sync(), atomicfile.SyncDir(s.dir), atomicfile.SyncDir(filepath.Dir(s.dir))); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return f, nil
}

// remove deletes the chain's records (its proposal was committed, or the chain left the
// wallet) as generation gen. A removal a crash undoes leaves a stale record, which the
// client discards, so nothing is synced.
func (s *proposalStore) remove(gen uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if apply, err := s.applies(gen); !apply {
		return err
	}
	s.gen = gen
	errs := []error{s.closeFiles()}
	for slot := range 2 {
		if err := os.Remove(s.path(slot)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	// seq keeps counting: a slot whose removal failed holds a lower one than any later
	// record.
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove pending proposal of %s: %w", s.id.Short(), err)
	}
	return nil
}

// close closes the open slot files.
func (s *proposalStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.closeFiles()
}

// closeFiles closes the open slot files. The caller holds s.mu.
func (s *proposalStore) closeFiles() error {
	var errs []error
	for slot, f := range s.files {
		if f != nil {
			errs = append(errs, f.Close())
			s.files[slot] = nil
		}
	}
	return errors.Join(errs...)
}

// chainProposals is a chain's proposal store and the generation of the chain's pending
// proposal in memory (guarded by Wallet.mu): it grows at every change, and the store
// applies the changes in its order. When store.gen == gen, the disk holds the pending
// proposal in memory (nothing if there is none, or the chain left the wallet).
type chainProposals struct {
	store *proposalStore
	gen   uint64
}

// proposalsOf returns the chain's proposal store. The caller holds w.mu.
func (w *Wallet) proposalsOf(id base.ChainID) *chainProposals {
	cp := w.proposals[id]
	if cp == nil {
		cp = &chainProposals{store: newProposalStore(w.dir, id)}
		w.proposals[id] = cp
	}
	return cp
}

// loadProposals reads each chain's pending proposal store. A proposal that wallet.json
// (version 1) also holds is replaced by the store's if that one is at the same height or
// higher: the store is written only by this version, and a wallet that an older mica
// used after a migration was interrupted holds its newer proposal in wallet.json.
func (w *Wallet) loadProposals() error {
	w.proposals = make(map[base.ChainID]*chainProposals, len(w.chains))
	for _, id := range w.sortedIDs() {
		if err := w.loadProposal(id, w.chains[id]); err != nil {
			return err
		}
	}
	return nil
}

// loadProposal reads the pending proposal store of chain id into e, when the chain
// joins the wallet (opened, or added). A chain added again after it left the wallet (or
// after a crash lost the wallet.json that listed it) finds the proposal its last
// session persisted, and re-sends it rather than signing another at its height. The
// caller holds w.mu or has the only reference to w.
func (w *Wallet) loadProposal(id base.ChainID, e *chainEntry) error {
	cp := w.proposalsOf(id)
	b, err := cp.store.load()
	if err != nil {
		return err
	}
	if b != nil {
		if err := checkProposal(id, b); err != nil {
			return fmt.Errorf("%w: pending proposal of chain %s in %s: %v", ErrDamaged, id, cp.store.dir, err)
		}
	}
	switch {
	case b == nil && e.pending == nil:
	case e.pending == nil:
		e.pending = b
	case b == nil || proposalHeight(e.pending) > proposalHeight(b):
		cp.gen++ // from wallet.json (version 1): Save moves it to the store
	default:
		e.pending = b
	}
	return nil
}

// proposalHeight is the height of a proposal checked by checkProposal.
func proposalHeight(b []byte) base.BlockHeight {
	var p protocol.BlockProposal
	if err := codec.Unmarshal(b, &p); err != nil {
		panic(fmt.Sprintf("wallet: checked proposal does not decode: %v", err))
	}
	return p.Content.Block.Height
}
