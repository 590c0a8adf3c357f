package wallet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/micachain/mica/internal/atomicfile"
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// Pending fast proposals are kept out of wallet.json, in one log shared by the wallet's
// chains:
//
//	DIR/proposals/log   records appended in order, then zeros (space written ahead)
//
// Persisting a proposal appends one record and waits for an fdatasync that covers it.
// The syncs are grouped: a writer that finds no sync running starts one at once (one
// chain alone waits for nothing but its own sync); writers arriving while a sync runs
// append their records and wait, and the next sync covers all of them. With many chains
// proposing at once, one fdatasync serves many proposals (docs/PERFORMANCE.md,
// clientio). The wallet's lock is held only to record the change; the log's lock only to
// append (a copy into the page cache), never across a sync.
//
// The space after the last record is written ahead of use, so appending rewrites blocks
// the file already has: the fdatasync has no allocation or size change to commit, like
// the in-place rewrite of the two slots per chain that the log replaced (format version
// 2 of wallet.json), which synced every chain's file on its own. A new file is written
// with zeros ahead (growLog at a time); a compaction reuses the space of the file the
// previous compaction replaced, which the log keeps open as its spare (see rewrite), so
// that a client writing proposals back to back writes zeros only until both files have
// reached their size.
//
// A record is
//
//	magic "mica-pl1" | seq u64 | chain [32]byte | length u64 | SHA-256(all before | payload) | payload
//
// (little-endian), where payload is the canonical encoding of the proposal, or empty
// when the chain's proposal is removed (committed, or the chain left the wallet), and
// seq grows by one with every record. Reading takes records from the start while they
// verify and their seq follows the previous one; for each chain the last one counts.
// A write interrupted by a crash leaves a record that does not verify: everything
// before it is intact, and everything a writer was told is durable lies before it
// (records are appended in order, and a sync covers every record appended before it
// started). The torn record's proposal was not sent (its hook had not returned). If a
// record that verifies with a seq after the last one read lies anywhere after the
// records read (written before the crash, out of order), the log is rewritten
// (compacted) before any new record goes after them: a new record could otherwise
// make it readable. What else follows the records is either zeros, a torn record, or
// records of the spare's former life, whose seqs are all lower than those of the
// records before them and so never follow one.
//
// When the written space is used up and the log holds mostly superseded records, it is
// compacted: the live records are written to a new file, synced, and renamed over the
// log (the directory synced). A failed write or sync makes the log untrustworthy (a
// failed fdatasync may have dropped pages that a later one would not write again): every
// writer waiting for that sync gets the error, and the next record starts a compacted
// file.
//
// A removal is appended without a sync: a crash that loses it leaves a stale proposal,
// which the client discards (its height has passed).
const proposalsDir = "proposals"

// proposalLogFile is the log's name in DIR/proposals.
const proposalLogFile = "log"

var logMagic = [8]byte{'m', 'i', 'c', 'a', '-', 'p', 'l', '1'}

const logHeader = 8 + 8 + 32 + 8 + sha256.Size

// maxProposalRecord bounds what a record may claim to hold (a proposal carrying the
// blobs it publishes: bytecode of a few MiB at most).
const maxProposalRecord = 1 << 30

// growLog is how much zeroed space the log writes ahead at a time.
const growLog = 1 << 20

// compactLog is the size of the log from which it is compacted rather than grown, when
// its live records take less than half of it.
const compactLog = 8 << 20

// proposalLog is the wallet's log of pending fast proposals. It is safe for concurrent
// use.
type proposalLog struct {
	dir string // DIR/proposals

	mu   sync.Mutex
	cond *sync.Cond // on mu: a sync ended
	// f is the open log (nil until the first record or when closed); size is the bytes
	// written to it (records, zeros, and a reused file's former records), end the offset
	// after the last record.
	f         *os.File
	size, end int64
	// spare, if not nil, is the log file the last compaction replaced (now named
	// proposalLogFile+".tmp"), of spareSize bytes: the next compaction writes over it
	// rather than writing a new file's zeros. Invariant: every record in spare has a
	// seq below that of every record in f.
	spare     *os.File
	spareSize int64
	// live is each chain's last proposal (payload) in the log. Invariant: the log read
	// from the start gives live.
	live map[base.ChainID][]byte
	// liveBytes is the size of live's records.
	liveBytes int64
	// seq is the seq of the last record appended; synced the last one known durable.
	// Invariant: synced <= seq.
	seq, synced uint64
	// syncing is set while a writer runs the sync for the others.
	syncing bool
	// failed is set when a write or sync failed: records up to failedUpTo get the
	// error, and the next record starts a compacted file.
	failed     error
	failedUpTo uint64
	// compact is set when the file must be rewritten before the next record (anything
	// but zeros after the records read, or a failure).
	compact bool
	closed  bool

	// syncs counts the fdatasyncs run for records (Wallet.ProposalSyncs); written the
	// bytes written to log files (records, zeros, compactions), zeroed those of zeros.
	syncs, written, zeroed atomic.Uint64

	// growBy and compactAt are growLog and compactLog (tests make them small).
	growBy, compactAt int64

	// Tests: wrap, if set, wraps the writer of records (a crash mid-write); sync, if
	// set, replaces datasync.
	wrap func(io.Writer) io.Writer
	sync func(*os.File) error

	// rec and sum are appendLocked's record buffer and hash, reused under mu (the
	// record is written before appendLocked returns).
	rec []byte
	sum hash.Hash
}

// maxKeptRecord is the largest record buffer a log keeps for the next record.
const maxKeptRecord = 64 << 10

// encodeLogRecord returns the record of chain id's payload with sequence number seq.
func encodeLogRecord(seq uint64, id base.ChainID, payload []byte) []byte {
	return appendLogRecord(make([]byte, 0, logHeader+len(payload)), sha256.New(), seq, id, payload)
}

// appendLogRecord appends the record encodeLogRecord returns to dst, hashing with h
// (a SHA-256, reset here).
func appendLogRecord(dst []byte, h hash.Hash, seq uint64, id base.ChainID, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, logHeader)...)
	b := dst[start:]
	copy(b, logMagic[:])
	binary.LittleEndian.PutUint64(b[8:], seq)
	copy(b[16:48], id[:])
	binary.LittleEndian.PutUint64(b[48:], uint64(len(payload)))
	h.Reset()
	h.Write(b[:56])
	h.Write(payload)
	h.Sum(b[56:56])
	return append(dst, payload...)
}

// decodeLogRecord decodes the record at the start of b: its seq, chain, payload and
// length, or false if none verifies.
func decodeLogRecord(b []byte) (uint64, base.ChainID, []byte, int, bool) {
	var id base.ChainID
	if len(b) < logHeader || !bytes.Equal(b[:8], logMagic[:]) {
		return 0, id, nil, 0, false
	}
	seq := binary.LittleEndian.Uint64(b[8:])
	copy(id[:], b[16:48])
	n := binary.LittleEndian.Uint64(b[48:])
	if n > uint64(len(b)-logHeader) || n > maxProposalRecord {
		return 0, id, nil, 0, false
	}
	payload := b[logHeader : logHeader+int(n)]
	h := sha256.New()
	h.Write(b[:56])
	h.Write(payload)
	if !bytes.Equal(h.Sum(nil), b[56:logHeader]) {
		return 0, id, nil, 0, false
	}
	return seq, id, payload, logHeader + int(n), true
}

// openProposalLog reads the log in walletDir. If legacy (wallet.json of a version
// before 3), each chain's slots of format version 2 (DIR/proposals/<chain>.0 and .1)
// take the place of its records, and the log is rewritten with them before this
// returns; removeLegacy deletes them once wallet.json says version 3. A version 3 wallet
// ignores slots (an interrupted migration left them) and deletes them.
func openProposalLog(walletDir string, legacy bool) (*proposalLog, error) {
	l := &proposalLog{dir: filepath.Join(walletDir, proposalsDir), live: map[base.ChainID][]byte{}, growBy: growLog, compactAt: compactLog}
	l.cond = sync.NewCond(&l.mu)
	if err := l.read(); err != nil {
		return nil, err
	}
	slots, err := readSlots(l.dir)
	if err != nil {
		return nil, err
	}
	if !legacy {
		if len(slots) > 0 {
			l.removeLegacy()
		}
		return l, nil
	}
	for id, p := range slots {
		l.setLive(id, p)
		l.compact = true
	}
	if l.compact {
		l.mu.Lock()
		defer l.mu.Unlock()
		if err := l.rewrite(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// read loads the log file, if there is one.
func (l *proposalLog) read() error {
	path := filepath.Join(l.dir, proposalLogFile)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open pending proposals: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return errors.Join(fmt.Errorf("read pending proposals: %w", err), f.Close())
	}
	off, seq := scanLog(b, l.setLive)
	l.seq, l.synced = seq, seq
	l.f, l.size, l.end = f, int64(len(b)), int64(off)
	// A record after the last one read that a later record could make readable: rewrite
	// the log first.
	l.compact = laterRecordAfter(b[off:], seq)
	return nil
}

// laterRecordAfter reports whether a record that verifies and has a seq above last
// starts anywhere in b. Records with a lower seq are harmless: seqs only grow, so none
// of them ever follows a record appended from now on.
func laterRecordAfter(b []byte, last uint64) bool {
	for {
		i := bytes.Index(b, logMagic[:])
		if i < 0 {
			return false
		}
		b = b[i:]
		if len(b) >= logHeader && binary.LittleEndian.Uint64(b[8:]) > last {
			if _, _, _, _, ok := decodeLogRecord(b); ok {
				return true
			}
		}
		b = b[1:]
	}
}

// scanLog calls fn with the chain and payload of each record of the log b, from the
// start while they verify and their seq follows, and returns the offset after the last
// one and its seq.
func scanLog(b []byte, fn func(base.ChainID, []byte)) (int, uint64) {
	var off int
	var last uint64
	for {
		seq, id, payload, n, ok := decodeLogRecord(b[off:])
		if !ok || (off > 0 && seq != last+1) {
			return off, last
		}
		fn(id, payload)
		last, off = seq, off+n
	}
}

// setLive records payload (empty: removal) as chain id's last record. The caller
// holds l.mu or has the only reference to l.
func (l *proposalLog) setLive(id base.ChainID, payload []byte) {
	if old, ok := l.live[id]; ok {
		l.liveBytes -= int64(logHeader + len(old))
		delete(l.live, id)
	}
	if len(payload) > 0 {
		l.live[id] = payload
		l.liveBytes += int64(logHeader + len(payload))
	}
}

// get returns chain id's proposal in the log, or nil.
func (l *proposalLog) get(id base.ChainID) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live[id]
}

// put appends chain id's proposal (payload) and returns when a sync covers it: a
// process reopening the wallet after a crash then reads payload or a later record of
// the chain. The caller serializes the records of one chain.
func (l *proposalLog) put(id base.ChainID, payload []byte) error {
	if len(payload) == 0 || len(payload) > maxProposalRecord {
		return base.Invalidf("pending proposal of %d bytes", len(payload))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	seq, err := l.appendLocked(id, payload)
	if err != nil {
		return err
	}
	return l.waitLocked(seq)
}

// drop appends the removal of chain id's proposal, without waiting for a sync.
func (l *proposalLog) drop(id base.ChainID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.live[id]; !ok {
		return nil // nothing to remove
	}
	_, err := l.appendLocked(id, nil)
	return err
}

// appendLocked appends a record of chain id and returns its seq. The caller holds l.mu.
func (l *proposalLog) appendLocked(id base.ChainID, payload []byte) (uint64, error) {
	if l.closed {
		return 0, ErrClosed
	}
	l.setLive(id, payload)
	n := int64(logHeader + len(payload))
	if l.f == nil || l.compact || l.failed != nil ||
		(l.end+n > l.size && l.size >= l.compactAt && 2*l.liveBytes < l.size) {
		// Rewrite the live records, this one included, into a new file: durable when
		// rewrite returns.
		for l.syncing {
			l.cond.Wait()
		}
		if err := l.rewrite(); err != nil {
			return 0, fmt.Errorf("persist the pending proposal of %s: %w", id.Short(), err)
		}
		return l.seq, nil
	}
	if l.end+n > l.size {
		if err := l.grow(l.end + n); err != nil {
			return 0, l.fail(fmt.Errorf("persist the pending proposal of %s: %w", id.Short(), err))
		}
	}
	if l.sum == nil {
		l.sum = sha256.New()
	}
	l.rec = appendLogRecord(l.rec[:0], l.sum, l.seq+1, id, payload)
	var wrote int
	var err error
	if l.wrap == nil {
		wrote, err = l.f.WriteAt(l.rec, l.end)
	} else {
		wrote, err = l.wrap(&offsetWriter{f: l.f, off: l.end}).Write(l.rec)
	}
	if cap(l.rec) > maxKeptRecord {
		l.rec = nil // a large proposal's buffer is not kept
	}
	l.written.Add(uint64(wrote))
	if err != nil {
		return 0, l.fail(fmt.Errorf("write the pending proposal of %s: %w", id.Short(), err))
	}
	l.seq++
	l.end += n
	return l.seq, nil
}

// waitLocked returns once the record seq is durable, or with the error of the sync
// that was to cover it. The first writer to find no sync running runs it for everyone.
// The caller holds l.mu.
func (l *proposalLog) waitLocked(seq uint64) error {
	for l.synced < seq {
		if l.failed != nil && seq <= l.failedUpTo {
			return l.failed
		}
		if l.syncing {
			l.cond.Wait()
			continue
		}
		l.syncing = true
		f, target := l.f, l.seq
		l.mu.Unlock()
		err := l.datasync(f)
		l.mu.Lock()
		l.syncing = false
		l.syncs.Add(1)
		if err != nil {
			l.fail(fmt.Errorf("sync pending proposals: %w", err))
		} else if target > l.synced {
			l.synced = target
		}
		l.cond.Broadcast()
	}
	return nil
}

// fail marks the log failed with err: every record not yet durable gets err, and the
// next one starts a new file. It returns err. The caller holds l.mu.
func (l *proposalLog) fail(err error) error {
	l.failed, l.failedUpTo = err, l.seq
	return err
}

func (l *proposalLog) datasync(f *os.File) error {
	if l.sync != nil {
		return l.sync(f)
	}
	return datasync(f)
}

// grow writes zeros after the file's written space until it holds end bytes, growBy
// at a time. The caller holds l.mu.
func (l *proposalLog) grow(end int64) error {
	size := l.size + l.growBy
	if size < end {
		size = end + l.growBy
	}
	return l.writeZeros(l.f, &l.size, size)
}

// writeZeros writes zeros in f from *size until it holds end bytes, advancing *size.
// It writes a page at a time: Linux (6.x) may cache a larger write in one large folio,
// and each record appended there later dirties (and counts as written) the whole
// folio: 64 KiB writes made BenchmarkProposalLogBackToBack count 33 KB of write_bytes
// per 6 KB proposal, 4 KiB writes 15 KB.
func (l *proposalLog) writeZeros(f *os.File, size *int64, end int64) error {
	if *size >= end {
		return nil
	}
	zeros := make([]byte, min(end-*size, 4<<10))
	for *size < end {
		n, err := f.WriteAt(zeros[:min(int64(len(zeros)), end-*size)], *size)
		*size += int64(n)
		l.written.Add(uint64(n))
		l.zeroed.Add(uint64(n))
		if err != nil {
			return err
		}
	}
	return nil
}

// rewrite writes the live records to a new file (the chains in order), syncs it and
// puts it in the log's place, and syncs the directory. Every record appended so far is
// then durable. The caller holds l.mu and no sync runs.
//
// The new file is the spare, if the log has one (its space already written: only the
// records are written, over its start), else a new one with growBy zeros after the
// records. Where the system can exchange two names atomically, the former log takes the
// spare's name and becomes the spare; it stays open. Its records all have lower seqs
// than the new file's (the invariant of spare). A spare whose rewrite failed is dropped:
// it may now hold records of any seq.
func (l *proposalLog) rewrite() error {
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return err
	}
	ids := make([]base.ChainID, 0, len(l.live))
	for id := range l.live {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, base.ChainID.Compare)
	var b []byte
	seq := l.seq
	for _, id := range ids {
		seq++
		b = append(b, encodeLogRecord(seq, id, l.live[id])...)
	}
	end := int64(len(b))
	tmp := filepath.Join(l.dir, proposalLogFile+".tmp")
	path := filepath.Join(l.dir, proposalLogFile)
	f, size := l.spare, l.spareSize
	l.spare, l.spareSize = nil, 0
	if f == nil {
		// A new file, not the one under tmp: that may be the former log, which is the
		// log again after a crash if a failed directory sync left the exchange undone.
		if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		var err error
		if f, err = os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return err
		}
		size = 0
	}
	var w io.Writer = &offsetWriter{f: f}
	if l.wrap != nil {
		w = l.wrap(w)
	}
	wrote, err := w.Write(b)
	l.written.Add(uint64(wrote))
	size = max(size, int64(wrote))
	if err == nil {
		err = l.writeZeros(f, &size, end+l.growBy)
	}
	if err == nil {
		err = f.Sync()
	}
	exchanged := false
	if err == nil && l.f != nil {
		// The log exists (this process opened or wrote it): swap it with the new file.
		exchanged, err = exchangeFiles(tmp, path)
	}
	if err == nil && !exchanged {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = errors.Join(atomicfile.SyncDir(l.dir), atomicfile.SyncDir(filepath.Dir(l.dir)))
	}
	if err != nil {
		if exchanged {
			// The former log is under the spare's name, and may be the log again after
			// a crash: not a spare to write over.
			err = errors.Join(err, l.f.Close())
			l.f = nil
		}
		return errors.Join(err, f.Close())
	}
	var cerr error
	if exchanged {
		l.spare, l.spareSize = l.f, l.size
	} else if l.f != nil {
		cerr = l.f.Close()
	}
	l.f, l.size, l.end = f, size, end
	l.seq, l.synced = seq, seq
	l.compact, l.failed, l.failedUpTo = false, nil, 0
	l.syncs.Add(1)
	if cerr != nil {
		return fmt.Errorf("close the former log: %w", cerr)
	}
	return nil
}

// close closes the log file once no sync runs; nothing is written any more.
func (l *proposalLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.syncing {
		l.cond.Wait()
	}
	l.closed = true
	var err error
	if l.spare != nil {
		err = l.spare.Close()
		l.spare = nil
	}
	if l.f != nil {
		err = errors.Join(l.f.Close(), err)
		l.f = nil
	}
	return err
}

// offsetWriter writes at off in a file, then on from there.
type offsetWriter struct {
	f   *os.File
	off int64
}

func (o *offsetWriter) Write(p []byte) (int, error) {
	n, err := o.f.WriteAt(p, o.off)
	o.off += int64(n)
	return n, err
}

// Format version 2 kept each chain's pending proposal in two slots of its own,
// DIR/proposals/<chain>.0 and .1, each holding one record
//
//	magic "mica-pp1" | seq u64 | length u64 | SHA-256(magic | seq | length | payload) | payload
//
// of which the valid one with the higher seq counted. They are read once, when a wallet
// of an older version is opened, and moved into the log.
var slotMagic = [8]byte{'m', 'i', 'c', 'a', '-', 'p', 'p', '1'}

const slotHeader = 8 + 8 + 8 + sha256.Size

// decodeSlot returns the sequence number and payload of the slot record at the start
// of b, or false if none verifies.
func decodeSlot(b []byte) (uint64, []byte, bool) {
	if len(b) < slotHeader || !bytes.Equal(b[:8], slotMagic[:]) {
		return 0, nil, false
	}
	seq := binary.LittleEndian.Uint64(b[8:])
	n := binary.LittleEndian.Uint64(b[16:])
	if seq == 0 || n > uint64(len(b)-slotHeader) {
		return 0, nil, false
	}
	payload := b[slotHeader : slotHeader+int(n)]
	h := sha256.New()
	h.Write(b[:24])
	h.Write(payload)
	if !bytes.Equal(h.Sum(nil), b[24:slotHeader]) {
		return 0, nil, false
	}
	return seq, payload, true
}

// readSlots returns the proposal of each chain that has slot files in dir (nil if its
// slots hold none that verifies).
func readSlots(dir string) (map[base.ChainID][]byte, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pending proposals: %w", err)
	}
	type best struct {
		seq     uint64
		payload []byte
	}
	found := map[base.ChainID]best{}
	for _, ent := range ents {
		id, ok := slotChain(ent.Name())
		if !ok {
			continue
		}
		b, err := readLimited(filepath.Join(dir, ent.Name()), maxProposalRecord+slotHeader)
		if err != nil {
			return nil, fmt.Errorf("read pending proposal of %s: %w", id.Short(), err)
		}
		cur := found[id]
		// A slot that does not verify holds a write a crash interrupted: ignored.
		if seq, payload, ok := decodeSlot(b); ok && seq > cur.seq {
			cur = best{seq, payload}
		}
		found[id] = cur
	}
	out := make(map[base.ChainID][]byte, len(found))
	for id, b := range found {
		out[id] = b.payload
	}
	return out, nil
}

// slotChain parses the name of a slot file, <chain>.0 or <chain>.1.
func slotChain(name string) (base.ChainID, bool) {
	var id base.ChainID
	stem, ok := strings.CutSuffix(name, ".0")
	if !ok {
		stem, ok = strings.CutSuffix(name, ".1")
	}
	if !ok || len(stem) != 2*len(id) {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(stem)); err != nil {
		return id, false
	}
	return id, true
}

// removeLegacy deletes the slot files of format version 2 (their proposals are in the
// log). A deletion a crash undoes leaves slots that a version 3 wallet ignores.
func (l *proposalLog) removeLegacy() {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return // nothing to delete; Open reported any error reading the directory
	}
	for _, ent := range ents {
		if _, ok := slotChain(ent.Name()); ok {
			// Best effort: a slot left behind is ignored and deleted at the next open.
			if err := os.Remove(filepath.Join(l.dir, ent.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				continue
			}
		}
	}
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}

// proposalStore applies the changes of one chain's pending proposal to the log, in the
// order of their generation. Its methods serialize on mu.
type proposalStore struct {
	log *proposalLog
	id  base.ChainID

	mu sync.Mutex
	// gen is the generation (chainProposals.gen) of the last write or removal applied:
	// operations reach the disk in the order the wallet's memory changed, whatever the
	// order of the goroutines applying them; an older one is skipped.
	gen uint64
}

// write makes payload, the pending proposal of generation gen, the chain's record,
// durably: when it returns nil, a process reopening the wallet after a crash reads
// payload or what a later generation wrote. A generation not newer than the last applied
// one is not written.
func (s *proposalStore) write(gen uint64, payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen <= s.gen {
		return nil
	}
	if err := s.log.put(s.id, payload); err != nil {
		return err
	}
	s.gen = gen
	return nil
}

// remove removes the chain's record (its proposal was committed, or the chain left the
// wallet) as generation gen, without a sync (a stale record is harmless).
func (s *proposalStore) remove(gen uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen <= s.gen {
		return nil
	}
	s.gen = gen
	if err := s.log.drop(s.id); err != nil {
		return fmt.Errorf("remove pending proposal of %s: %w", s.id.Short(), err)
	}
	return nil
}

// chainProposals is a chain's proposal store and the generation of the chain's pending
// proposal in memory (guarded by Wallet.mu): it grows at every change, and the store
// applies the changes in its order. When store.gen == gen, the log holds the pending
// proposal in memory (nothing if there is none, or the chain left the wallet).
type chainProposals struct {
	store *proposalStore
	gen   uint64
}

// proposalsOf returns the chain's proposal store. The caller holds w.mu.
func (w *Wallet) proposalsOf(id base.ChainID) *chainProposals {
	cp := w.proposals[id]
	if cp == nil {
		cp = &chainProposals{store: &proposalStore{log: w.plog, id: id}}
		w.proposals[id] = cp
	}
	return cp
}

// loadProposals reads each chain's pending proposal from the log. A proposal that
// wallet.json (version 1) also holds is replaced by the log's if that one is at the same
// height or higher: the slots were written only by version 2, and a wallet that an older
// mica used after a migration was interrupted holds its newer proposal in wallet.json.
func (w *Wallet) loadProposals() error {
	w.proposals = make(map[base.ChainID]*chainProposals, len(w.chains))
	for _, id := range w.sortedIDs() {
		if err := w.loadProposal(id, w.chains[id]); err != nil {
			return err
		}
	}
	return nil
}

// loadProposal reads the pending proposal of chain id from the log into e, when the
// chain joins the wallet (opened, or added). A chain added again after it left the
// wallet (or after a crash lost the wallet.json that listed it) finds the proposal its
// last session persisted, and re-sends it rather than signing another at its height.
// The caller holds w.mu or has the only reference to w.
func (w *Wallet) loadProposal(id base.ChainID, e *chainEntry) error {
	cp := w.proposalsOf(id)
	b := w.plog.get(id)
	if b != nil {
		if err := checkProposal(id, b); err != nil {
			return fmt.Errorf("%w: pending proposal of chain %s in %s: %v", ErrDamaged, id, w.plog.dir, err)
		}
	}
	switch {
	case b == nil && e.pending == nil:
	case e.pending == nil:
		e.pending = b
	case b == nil || proposalHeight(e.pending) > proposalHeight(b):
		cp.gen++ // from wallet.json (version 1): Save moves it to the log
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
