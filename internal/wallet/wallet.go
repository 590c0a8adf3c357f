// Package wallet keeps a user's wallet on disk: the network it belongs to, the chains it
// follows, the pending fast proposal of each, and the private keys of their owners.
//
// A wallet is a directory:
//
//	DIR/wallet.json   format version, network (genesis config), chains, default chain
//	DIR/keys/0x…      one private key per owner, named by the owner address (mode 0600)
//	DIR/.lock         held (flock) by the process that has the wallet open; it records
//	                  who that is (Holder, JSON), for the error of a second opener
//
// wallet.json is human-readable and never holds a secret. Every file is replaced
// atomically (WriteFileAtomic), so a crash leaves the previous version or the new one.
// Keys are written as soon as they are generated; other changes are kept in memory until
// Save.
//
// One process at a time: Create and Open take an exclusive lock on DIR/.lock and fail at
// once with ErrInUse if another Wallet holds it (in this process or another); the lock
// lasts until Close. They do not wait: the caller decides, from the Holder the lock file
// records (ReadHolder), whether to retry (a command that holds the wallet for a moment)
// or to give up at once (a long-running `mica service`). Long-running commands that do
// not need the wallet all the time (`mica watch`) open it only for the moments they use
// it, so that other commands can run in between.
//
// The pending fast proposal of a chain is what makes the fast round safe across restarts:
// the client must never sign two different blocks at one height in the fast round, so a
// fast proposal is saved (FastProposalHook, or SetPendingProposal then Save) before it
// is sent, and re-sent unchanged after a restart. The pending proposals are appended to
// a log, DIR/proposals/log (proposals.go), without rewriting wallet.json; chains that
// persist at the same time share one fdatasync.
package wallet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/micachain/mica/internal/atomicfile"
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
)

// FormatVersion is the version of wallet.json this package writes: the pending
// proposals are in the log DIR/proposals/log. It also reads version 1, whose chains
// carry their pending proposals inside wallet.json, and version 2, which kept them in
// two slot files per chain under DIR/proposals/, and migrates them when it opens them:
// the proposals move to the log and wallet.json is rewritten as version 3, which an
// older mica refuses instead of overlooking the proposals.
const FormatVersion = 3

// formatV1 kept pending proposals in wallet.json, formatV2 in slot files per chain.
const (
	formatV1 = 1
	formatV2 = 2
)

const (
	walletFile = "wallet.json"
	keysDir    = "keys"
	lockName   = ".lock"
)

// Errors. Each matches one class of base errors where one fits.
var (
	// ErrNoWallet: the directory holds no wallet. Class base.ErrNotFound.
	ErrNoWallet = fmt.Errorf("%w: no wallet", base.ErrNotFound)
	// ErrExists: Create found a wallet already there. Class base.ErrInvalid.
	ErrExists = fmt.Errorf("%w: a wallet already exists", base.ErrInvalid)
	// ErrInUse: another Wallet (in this process or another) has the directory open.
	// Class base.ErrRetryable.
	ErrInUse = fmt.Errorf("%w: wallet in use", base.ErrRetryable)
	// ErrDamaged: wallet.json or a key file cannot be read back. Class base.ErrCorrupt.
	ErrDamaged = fmt.Errorf("%w: wallet damaged", base.ErrCorrupt)
	// ErrVersion: wallet.json has another format version. Class base.ErrInvalid.
	ErrVersion = fmt.Errorf("%w: unsupported wallet format version", base.ErrInvalid)
	// ErrUnknownChain: the wallet does not follow the chain. Class base.ErrNotFound.
	ErrUnknownChain = fmt.Errorf("%w: chain not in the wallet", base.ErrNotFound)
	// ErrNoKey: the wallet holds no key for the owner. Class base.ErrNotFound.
	ErrNoKey = fmt.Errorf("%w: no key for the owner", base.ErrNotFound)
	// ErrClosed: the wallet was closed. Class base.ErrInvalid.
	ErrClosed = fmt.Errorf("%w: wallet closed", base.ErrInvalid)
)

// errLocked is what lockFile returns when the lock is held elsewhere.
var errLocked = errors.New("lock held")

// ErrLocked is what LockFile returns when another open file holds the lock.
var ErrLocked = errLocked

// LockFile takes an exclusive advisory lock on path (created if missing) without
// waiting, as a wallet locks its directory: it returns ErrLocked if another process
// (or another open file of this one) holds it. The lock lasts until release is called
// or the process exits, so a crashed holder leaves no stale lock. Other commands use it
// for directories of their own (`mica net up` for its network directory).
func LockFile(path string) (release func() error, err error) {
	f, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	return func() error { return unlockFile(f) }, nil
}

// DefaultDir returns the wallet directory to use when no --wallet flag is given:
// $MICA_WALLET if set, else $XDG_CONFIG_HOME/mica/wallet, else ~/.config/mica/wallet.
// getenv is os.Getenv in the CLI.
func DefaultDir(getenv func(string) string) (string, error) {
	if d := getenv("MICA_WALLET"); d != "" {
		return d, nil
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "mica", "wallet"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("no wallet directory: set --wallet or MICA_WALLET (%w)", err)
		}
	}
	return filepath.Join(home, ".config", "mica", "wallet"), nil
}

// Chain is what the wallet knows about a chain it follows.
type Chain struct {
	ID base.ChainID
	// Owner is the owner that signs the chain's blocks from this wallet; nil if the
	// wallet only follows the chain.
	Owner *base.Owner
	// PublicKey is Owner's public key when the wallet holds the key, else zero.
	PublicKey crypto.PublicKey
	// NextHeight is the chain's next block height as last seen (informational).
	NextHeight base.BlockHeight
	// HasPendingProposal says a fast proposal is pending (see PendingProposal).
	HasPendingProposal bool
}

// chainEntry is a chain in memory.
type chainEntry struct {
	owner *base.Owner
	pub   crypto.PublicKey
	next  base.BlockHeight
	// pending is the canonical encoding of the pending fast proposal, or nil.
	// Invariant: it decodes to a BlockProposal whose block is on this chain.
	pending []byte
}

// Wallet is an open wallet. It is safe for concurrent use. It holds no private key in
// memory: Key reads the key file each time.
type Wallet struct {
	dir string

	mu     sync.Mutex
	lock   *os.File // nil once closed
	name   string
	config []byte // canonical genesis config
	chains map[base.ChainID]*chainEntry
	def    *base.ChainID // Invariant: nil or a key of chains.
	// proposals are the pending-proposal stores on disk, by chain: every chain of the
	// wallet's, and those of chains that left it (their records are removed by Save).
	proposals map[base.ChainID]*chainProposals
	// plog is the log of pending proposals, DIR/proposals/log (proposals.go).
	plog *proposalLog
	// saveMu serializes Save (not the chains' FastProposalHook): a later Save writes
	// what the wallet held later.
	saveMu sync.Mutex

	// wrapWriter, if set, wraps the writer of wallet.json saves (tests: crash mid-write).
	wrapWriter func(io.Writer) io.Writer
}

// Create makes a new wallet for the network of genesis in dir (created with mode 0700 if
// needed). It refuses with ErrExists if dir already holds a wallet. The wallet is saved
// and open: Close it when done.
func Create(dir string, genesis *protocol.GenesisConfig) (*Wallet, error) {
	if genesis == nil {
		return nil, base.Invalidf("create wallet at %s: no genesis config", dir)
	}
	if err := genesis.Validate(); err != nil {
		return nil, fmt.Errorf("create wallet at %s: genesis config: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create wallet at %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	w := &Wallet{dir: dir, lock: lock, name: genesis.NetworkName, config: codec.Marshal(genesis), chains: map[base.ChainID]*chainEntry{}, proposals: map[base.ChainID]*chainProposals{}}
	fail := func(err error) (*Wallet, error) {
		return nil, errors.Join(err, unlockFile(lock))
	}
	if w.plog, err = openProposalLog(dir, false); err != nil {
		return fail(fmt.Errorf("create wallet at %s: %w", dir, err))
	}
	if _, err := os.Stat(filepath.Join(dir, walletFile)); err == nil {
		return fail(fmt.Errorf("%w at %s: open it, or choose another directory", ErrExists, dir))
	} else if !os.IsNotExist(err) {
		return fail(fmt.Errorf("create wallet at %s: %w", dir, err))
	}
	if err := os.MkdirAll(filepath.Join(dir, keysDir), 0o700); err != nil {
		return fail(fmt.Errorf("create wallet at %s: %w", dir, err))
	}
	if err := w.saveLocked(); err != nil {
		return fail(err)
	}
	return w, nil
}

// Open opens the wallet in dir. It fails with ErrNoWallet if there is none, ErrInUse if
// another Wallet has it open, ErrVersion if wallet.json has another format version and
// ErrDamaged if wallet.json cannot be read back. Close it when done.
func Open(dir string) (*Wallet, error) {
	path := filepath.Join(dir, walletFile)
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil, fmt.Errorf("%w at %s: run `mica wallet init`", ErrNoWallet, dir)
	} else if err != nil {
		return nil, fmt.Errorf("open wallet %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	w, err := load(dir, path)
	if err != nil {
		return nil, errors.Join(err, unlockFile(lock))
	}
	w.lock = lock
	return w, nil
}

func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := lockFile(path)
	if errors.Is(err, errLocked) {
		who := "another mica process"
		if h, ok := ReadHolder(dir); ok {
			who = h.String()
		}
		return nil, fmt.Errorf("%w: wallet %s is in use by %s (it holds %s); stop it or use another --wallet", ErrInUse, dir, who, path)
	}
	if err != nil {
		return nil, fmt.Errorf("lock wallet %s: %w", dir, err)
	}
	if err := writeHolder(f, Holder{PID: os.Getpid()}); err != nil {
		return nil, errors.Join(fmt.Errorf("lock wallet %s: %w", dir, err), unlockFile(f))
	}
	return f, nil
}

// Holder is who has a wallet open, as recorded in its lock file.
type Holder struct {
	PID int `json:"pid"`
	// Command is what the holder runs, such as "mica transfer"; empty if it did not say.
	Command string `json:"command,omitempty"`
	// LongRunning says the holder keeps the wallet until it is stopped (`mica service`):
	// waiting for it is pointless.
	LongRunning bool `json:"long_running,omitempty"`
	// Detail says more, such as the URL a service listens on.
	Detail string `json:"detail,omitempty"`
}

// String describes the holder for an error message: "`mica service` (pid 12, at URL)".
func (h Holder) String() string {
	s := "another mica process"
	if h.Command != "" {
		s = "`" + h.Command + "`"
	}
	s += fmt.Sprintf(" (pid %d", h.PID)
	if h.Detail != "" {
		s += ", " + h.Detail
	}
	return s + ")"
}

// maxHolderBytes bounds what ReadHolder reads of a lock file.
const maxHolderBytes = 4 << 10

// ReadHolder returns the holder the lock file of the wallet in dir records, and false if
// it records none that can be read. The record is advisory: it may be one left by a
// holder that has exited (Open tells whether the wallet is in use), or half written.
func ReadHolder(dir string) (Holder, bool) {
	f, err := os.Open(filepath.Join(dir, lockName))
	if err != nil {
		return Holder{}, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHolderBytes))
	if err != nil {
		return Holder{}, false
	}
	var h Holder
	if err := json.Unmarshal(b, &h); err != nil || h.PID <= 0 {
		return Holder{}, false
	}
	return h, true
}

// writeHolder replaces the lock file's record.
func writeHolder(f *os.File, h Holder) error {
	b, err := json.Marshal(&h)
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err = f.WriteAt(append(b, '\n'), 0)
	return err
}

// SetHolder records what holds the wallet (its PID is this process's), for the error
// that another opener gets while this Wallet is open.
func (w *Wallet) SetHolder(h Holder) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lock == nil {
		return ErrClosed
	}
	h.PID = os.Getpid()
	if err := writeHolder(w.lock, h); err != nil {
		return fmt.Errorf("record the holder of wallet %s: %w", w.dir, err)
	}
	return nil
}

// The JSON form of wallet.json.
type fileJSON struct {
	Version int         `json:"version"`
	Network networkJSON `json:"network"`
	Default string      `json:"default,omitempty"`
	Chains  []chainJSON `json:"chains"`
}

type networkJSON struct {
	Name        string `json:"name"`
	GenesisHash string `json:"genesis_hash"`
	// GenesisConfig is the canonical encoding of the genesis config, base64.
	GenesisConfig []byte `json:"genesis_config"`
}

type chainJSON struct {
	ChainID    string `json:"chain_id"`
	Owner      string `json:"owner,omitempty"`
	PublicKey  string `json:"public_key,omitempty"`
	NextHeight uint64 `json:"next_height"`
	// PendingProposal is the canonical encoding of the pending fast proposal, base64.
	// Only in version 1: later versions keep it in DIR/proposals/.
	PendingProposal []byte `json:"pending_proposal,omitempty"`
}

func load(dir, path string) (*Wallet, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w at %s: run `mica wallet init`", ErrNoWallet, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open wallet %s: %w", dir, err)
	}
	w, version, err := parse(b)
	if err != nil {
		if errors.Is(err, ErrVersion) {
			return nil, fmt.Errorf("wallet %s: %w", path, err)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrDamaged, path, err)
	}
	w.dir = dir
	if w.plog, err = openProposalLog(dir, version < FormatVersion); err != nil {
		return nil, fmt.Errorf("open wallet %s: %w", dir, err)
	}
	fail := func(err error) (*Wallet, error) {
		return nil, errors.Join(err, w.plog.close())
	}
	if err := w.loadProposals(); err != nil {
		return fail(err)
	}
	if version < FormatVersion {
		// Move the proposals out of wallet.json (version 1) into the log (the slots of
		// version 2 are in it already, durably), and mark the file as version 3, before
		// anything else may change; then delete the slots.
		if err := w.saveLocked(); err != nil {
			return fail(fmt.Errorf("migrate wallet %s to format version %d: %w", dir, FormatVersion, err))
		}
		w.plog.removeLegacy()
	}
	return w, nil
}

// parse decodes and checks wallet.json and returns its format version. Its errors say
// what is wrong (without the path).
func parse(b []byte) (*Wallet, int, error) {
	var v struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, 0, fmt.Errorf("not valid JSON: %v", err)
	}
	if v.Version == nil {
		return nil, 0, errors.New("no format version")
	}
	if *v.Version != FormatVersion && *v.Version != formatV1 && *v.Version != formatV2 {
		return nil, 0, fmt.Errorf("%w: the file has version %d, this mica reads versions %d to %d", ErrVersion, *v.Version, formatV1, FormatVersion)
	}
	var f fileJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, 0, fmt.Errorf("not a wallet: %v", err)
	}
	if dec.More() {
		return nil, 0, errors.New("trailing data after the wallet")
	}
	var g protocol.GenesisConfig
	if err := codec.Unmarshal(f.Network.GenesisConfig, &g); err != nil {
		return nil, 0, fmt.Errorf("genesis config: %v", err)
	}
	// What Create checks: the file may have been edited since (callers take chain 0 as
	// the admin chain).
	if err := g.Validate(); err != nil {
		return nil, 0, fmt.Errorf("genesis config: %v", err)
	}
	if h := g.Hash().String(); h != f.Network.GenesisHash {
		return nil, 0, fmt.Errorf("genesis config hashes to %s, not to the recorded genesis_hash %q", h, f.Network.GenesisHash)
	}
	if g.NetworkName != f.Network.Name {
		return nil, 0, fmt.Errorf("network name %q differs from the genesis config's %q", f.Network.Name, g.NetworkName)
	}
	w := &Wallet{name: g.NetworkName, config: f.Network.GenesisConfig, chains: map[base.ChainID]*chainEntry{}}
	for i := range f.Chains {
		id, e, err := parseChain(&f.Chains[i])
		if err != nil {
			return nil, 0, fmt.Errorf("chain %d: %v", i, err)
		}
		if _, dup := w.chains[id]; dup {
			return nil, 0, fmt.Errorf("chain %s is listed twice", id)
		}
		w.chains[id] = e
	}
	if f.Default != "" {
		id, err := base.ParseChainID(f.Default)
		if err != nil {
			return nil, 0, fmt.Errorf("default chain: %v", err)
		}
		if _, ok := w.chains[id]; !ok {
			return nil, 0, fmt.Errorf("default chain %s is not one of the wallet's chains", id)
		}
		w.def = &id
	}
	return w, *v.Version, nil
}

func parseChain(c *chainJSON) (base.ChainID, *chainEntry, error) {
	id, err := base.ParseChainID(c.ChainID)
	if err != nil {
		return id, nil, err
	}
	e := &chainEntry{next: base.BlockHeight(c.NextHeight)}
	if c.Owner != "" {
		o, err := base.ParseOwner(c.Owner)
		if err != nil {
			return id, nil, err
		}
		e.owner = &o
	}
	if c.PublicKey != "" {
		pk, err := crypto.ParsePublicKey(c.PublicKey)
		if err != nil {
			return id, nil, err
		}
		if e.owner == nil || pk.Owner() != *e.owner {
			return id, nil, fmt.Errorf("public key %s is not the key of the chain's owner", pk)
		}
		e.pub = pk
	}
	if c.PendingProposal != nil {
		if err := checkProposal(id, c.PendingProposal); err != nil {
			return id, nil, fmt.Errorf("pending proposal: %v", err)
		}
		e.pending = c.PendingProposal
	}
	return id, e, nil
}

// checkProposal checks that b is a fast proposal's canonical encoding for chain id.
func checkProposal(id base.ChainID, b []byte) error {
	var p protocol.BlockProposal
	if err := codec.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.Content.Block.ChainID != id {
		return fmt.Errorf("the proposal is for chain %s", p.Content.Block.ChainID)
	}
	return nil
}

// encode returns the JSON form of the wallet. The caller holds w.mu.
func (w *Wallet) encode() ([]byte, error) {
	var g protocol.GenesisConfig
	if err := codec.Unmarshal(w.config, &g); err != nil {
		panic(fmt.Sprintf("wallet: stored genesis config does not decode: %v", err)) // checked when loaded or created
	}
	f := fileJSON{
		Version: FormatVersion,
		Network: networkJSON{Name: w.name, GenesisHash: g.Hash().String(), GenesisConfig: w.config},
		Chains:  []chainJSON{},
	}
	if w.def != nil {
		f.Default = w.def.String()
	}
	for _, id := range w.sortedIDs() {
		e := w.chains[id]
		c := chainJSON{ChainID: id.String(), NextHeight: uint64(e.next)}
		if e.owner != nil {
			c.Owner = e.owner.String()
		}
		if !e.pub.IsZero() {
			c.PublicKey = e.pub.String()
		}
		f.Chains = append(f.Chains, c)
	}
	b, err := json.MarshalIndent(&f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func (w *Wallet) sortedIDs() []base.ChainID {
	ids := make([]base.ChainID, 0, len(w.chains))
	for id := range w.chains {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, base.ChainID.Compare)
	return ids
}

// Save writes wallet.json atomically, and each chain's pending proposal that is not on
// disk yet (SetPendingProposal); it removes those cleared. It holds the wallet's lock
// only to take a snapshot: chains persisting proposals meanwhile (FastProposalHook) are
// not held up.
func (w *Wallet) Save() error {
	w.saveMu.Lock()
	defer w.saveMu.Unlock()
	w.mu.Lock()
	if w.lock == nil {
		w.mu.Unlock()
		return ErrClosed
	}
	b, ops, err := w.snapshotLocked()
	w.mu.Unlock()
	if err != nil {
		return err
	}
	return w.write(b, ops)
}

// saveLocked is Save for a wallet no other goroutine has yet (Create, Open).
func (w *Wallet) saveLocked() error {
	b, ops, err := w.snapshotLocked()
	if err != nil {
		return err
	}
	return w.write(b, ops)
}

// proposalOp brings a chain's proposal store to generation gen: pending written, or
// the records removed if it is nil.
type proposalOp struct {
	store   *proposalStore
	gen     uint64
	pending []byte
}

// snapshotLocked returns what Save writes. The caller holds w.mu.
func (w *Wallet) snapshotLocked() ([]byte, []proposalOp, error) {
	b, err := w.encode()
	if err != nil {
		return nil, nil, fmt.Errorf("save wallet %s: %w", w.dir, err)
	}
	var ops []proposalOp
	for id, cp := range w.proposals {
		if cp.gen == 0 {
			continue // unchanged since the wallet was opened
		}
		var pending []byte
		if e := w.chains[id]; e != nil {
			pending = e.pending
		}
		ops = append(ops, proposalOp{store: cp.store, gen: cp.gen, pending: pending})
	}
	return b, ops, nil
}

// write applies a snapshot: the proposal stores first (a version 1 wallet's proposals
// are on disk before wallet.json stops holding them), then wallet.json.
func (w *Wallet) write(b []byte, ops []proposalOp) error {
	for _, op := range ops {
		var err error
		if op.pending != nil {
			err = op.store.write(op.gen, op.pending)
		} else {
			err = op.store.remove(op.gen)
		}
		if err != nil {
			return fmt.Errorf("save wallet: %w", err)
		}
	}
	if err := atomicfile.WriteWrapped(filepath.Join(w.dir, walletFile), b, 0o600, w.wrapWriter); err != nil {
		return fmt.Errorf("save wallet: %w", err)
	}
	return nil
}

// Close releases the wallet's lock. It does not save: call Save first to keep changes
// (proposals persisted by FastProposalHook are on disk already). Closing twice is a
// no-op.
func (w *Wallet) Close() error {
	w.saveMu.Lock()
	defer w.saveMu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lock == nil {
		return nil
	}
	var errs []error
	if err := w.plog.close(); err != nil {
		errs = append(errs, fmt.Errorf("close wallet %s: %w", w.dir, err))
	}
	if err := unlockFile(w.lock); err != nil {
		errs = append(errs, fmt.Errorf("unlock wallet %s: %w", w.dir, err))
	}
	w.lock = nil
	return errors.Join(errs...)
}

// ProposalSyncs returns how many syncs the log of pending proposals ran since the
// wallet was opened (fdatasyncs of appended records, and rewrites of the log): with
// chains persisting at once, fewer than the proposals persisted.
func (w *Wallet) ProposalSyncs() uint64 { return w.plog.syncs.Load() }

// Dir returns the wallet directory.
func (w *Wallet) Dir() string { return w.dir }

// String names the wallet's directory and network; it never shows a key.
func (w *Wallet) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("wallet %s (network %q, %d chains)", w.dir, w.name, len(w.chains))
}

// Genesis returns the genesis config of the wallet's network (a fresh copy).
func (w *Wallet) Genesis() *protocol.GenesisConfig {
	var g protocol.GenesisConfig
	if err := codec.Unmarshal(w.config, &g); err != nil {
		panic(fmt.Sprintf("wallet: stored genesis config does not decode: %v", err)) // checked when loaded or created
	}
	return &g
}

// editable returns the chain entry to change, or an error if the wallet is closed or
// does not follow the chain. The caller holds w.mu.
func (w *Wallet) editable(id base.ChainID) (*chainEntry, error) {
	if w.lock == nil {
		return nil, ErrClosed
	}
	e, ok := w.chains[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s (add it with `mica wallet follow-chain %s`)", ErrUnknownChain, id, id)
	}
	return e, nil
}

// AddChain adds a chain signed for by owner (nil: only followed), or sets the owner of a
// chain already in the wallet. If the wallet holds owner's key, the chain's PublicKey is
// set. The first chain added becomes the default.
func (w *Wallet) AddChain(id base.ChainID, owner *base.Owner) error {
	var pub crypto.PublicKey
	if owner != nil {
		if owner.Kind() == base.OwnerReserved {
			return base.Invalidf("add chain %s: %s is not a key owner", id.Short(), owner)
		}
		k, err := w.Key(*owner)
		switch {
		case err == nil:
			pub = k.Public()
		case !errors.Is(err, ErrNoKey):
			return err
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lock == nil {
		return ErrClosed
	}
	e := w.chains[id]
	if e == nil {
		e = &chainEntry{}
		if err := w.loadProposal(id, e); err != nil {
			return err
		}
		w.chains[id] = e
	}
	if owner != nil {
		o := *owner
		e.owner, e.pub = &o, pub
	}
	if w.def == nil {
		w.def = &id
	}
	return nil
}

// FollowChain adds a chain the wallet follows without signing for it. A chain already
// in the wallet keeps its owner.
func (w *Wallet) FollowChain(id base.ChainID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lock == nil {
		return ErrClosed
	}
	if _, ok := w.chains[id]; !ok {
		e := &chainEntry{}
		if err := w.loadProposal(id, e); err != nil {
			return err
		}
		w.chains[id] = e
	}
	if w.def == nil {
		w.def = &id
	}
	return nil
}

// ForgetChain removes a chain (and its pending proposal) from the wallet; its owner's key
// stays in keys/. If it was the default, there is no default any more.
func (w *Wallet) ForgetChain(id base.ChainID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.editable(id); err != nil {
		return err
	}
	delete(w.chains, id)
	w.proposalsOf(id).gen++ // Save removes its records
	if w.def != nil && *w.def == id {
		w.def = nil
	}
	return nil
}

// Chain returns what the wallet knows about a chain.
func (w *Wallet) Chain(id base.ChainID) (Chain, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.chains[id]
	if !ok {
		return Chain{}, false
	}
	return e.public(id), true
}

// Chains returns the wallet's chains sorted by id.
func (w *Wallet) Chains() []Chain {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Chain, 0, len(w.chains))
	for _, id := range w.sortedIDs() {
		out = append(out, w.chains[id].public(id))
	}
	return out
}

// ParseRecipient parses the account a transfer or claim pays (CHAIN or OWNER@CHAIN, as
// base.ParseAccount) and refuses one whose owner is, byte for byte, the id of the
// account's chain or of a chain this wallet follows: a chain id pasted where the owner
// goes reads as an owner address (64 hex digits, the 0x optional), and tokens sent there
// reach an account no key controls. An owner is a hash of a public key and a chain id a
// hash of a chain's description, so an honest owner never equals one. Errors are of
// class base.ErrInvalid.
func (w *Wallet) ParseRecipient(text string) (base.Account, error) {
	a, err := base.ParseAccount(text)
	if err != nil || a.Owner.IsChain() {
		return a, err
	}
	ids := []base.ChainID{a.Chain}
	w.mu.Lock()
	for id := range w.chains {
		ids = append(ids, id)
	}
	w.mu.Unlock()
	for _, id := range ids {
		if bytes.Equal(a.Owner.Bytes(), id[:]) {
			return base.Account{}, base.Invalidf("account %q: %s is the id of chain %s, not an owner (an owner is its key's address); to pay that chain's own account, name the chain alone: %s", text, a.Owner, id.Short(), id)
		}
	}
	return a, nil
}

func (e *chainEntry) public(id base.ChainID) Chain {
	c := Chain{ID: id, PublicKey: e.pub, NextHeight: e.next, HasPendingProposal: e.pending != nil}
	if e.owner != nil {
		o := *e.owner
		c.Owner = &o
	}
	return c
}

// SetDefault makes a chain of the wallet the default one.
func (w *Wallet) SetDefault(id base.ChainID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.editable(id); err != nil {
		return err
	}
	w.def = &id
	return nil
}

// Default returns the default chain, and false if there is none.
func (w *Wallet) Default() (base.ChainID, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.def == nil {
		return base.ChainID{}, false
	}
	return *w.def, true
}

// SetNextHeight records the chain's next block height as last seen.
func (w *Wallet) SetNextHeight(id base.ChainID, h base.BlockHeight) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, err := w.editable(id)
	if err != nil {
		return err
	}
	e.next = h
	return nil
}

// SetPendingProposal records the fast proposal signed for the chain's next height; nil
// clears it. Call Save before sending the proposal, or use FastProposalHook, which
// writes only this chain's proposal.
func (w *Wallet) SetPendingProposal(id base.ChainID, p *protocol.BlockProposal) error {
	_, err := w.setPending(id, p, nil)
	return err
}

// setPending is SetPendingProposal; it returns how to persist the change: the chain's
// proposal store, the generation of the change and the encoded proposal. enc is p's
// canonical encoding if the caller holds it (nil: p is encoded here); the wallet keeps
// it and never modifies it.
func (w *Wallet) setPending(id base.ChainID, p *protocol.BlockProposal, enc []byte) (proposalOp, error) {
	var b []byte
	if p != nil {
		if p.Content.Block.ChainID != id {
			return proposalOp{}, base.Invalidf("pending proposal for chain %s is for chain %s", id.Short(), p.Content.Block.ChainID.Short())
		}
		b = enc
		if b == nil {
			b = codec.Marshal(p)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	e, err := w.editable(id)
	if err != nil {
		return proposalOp{}, err
	}
	e.pending = b
	cp := w.proposalsOf(id)
	cp.gen++
	return proposalOp{store: cp.store, gen: cp.gen, pending: b}, nil
}

// ClearPendingProposal forgets the chain's pending fast proposal (once it is committed).
func (w *Wallet) ClearPendingProposal(id base.ChainID) error {
	return w.SetPendingProposal(id, nil)
}

// PendingProposal returns the chain's pending fast proposal (a fresh copy), or nil. Its
// canonical encoding is exactly the one that was set.
func (w *Wallet) PendingProposal(id base.ChainID) *protocol.BlockProposal {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.chains[id]
	if !ok || e.pending == nil {
		return nil
	}
	var p protocol.BlockProposal
	if err := codec.Unmarshal(e.pending, &p); err != nil {
		panic(fmt.Sprintf("wallet: pending proposal of %s does not decode: %v", id, err)) // checked when set or loaded
	}
	return &p
}

// FastProposalHook returns a function for client.ChainClient.OnFastProposal: it records
// the proposal as the chain's pending one and writes it durably to the chain's proposal
// store before the proposal is sent. It writes nothing else (not wallet.json), and
// holds the wallet's lock only to record it: hooks of different chains write in
// parallel.
func (w *Wallet) FastProposalHook(id base.ChainID) func(*protocol.BlockProposal) error {
	hook := w.FastProposalEncodedHook(id)
	return func(p *protocol.BlockProposal) error { return hook(p, nil) }
}

// FastProposalEncodedHook is FastProposalHook for client.ChainClient.OnFastProposalEncoded:
// it stores the encoding the client made (nil: it encodes the proposal), which must be
// the proposal's canonical encoding.
func (w *Wallet) FastProposalEncodedHook(id base.ChainID) func(*protocol.BlockProposal, []byte) error {
	return func(p *protocol.BlockProposal, enc []byte) error {
		if p == nil {
			return base.Invalidf("persist a fast proposal of chain %s: none given", id.Short())
		}
		op, err := w.setPending(id, p, enc)
		if err != nil {
			return err
		}
		if err := op.store.write(op.gen, op.pending); err != nil {
			return fmt.Errorf("persist the fast proposal of chain %s: %w", id.Short(), err)
		}
		return nil
	}
}

// GenerateKey generates a key of the given scheme from crypto/rand and stores it.
func (w *Wallet) GenerateKey(scheme crypto.Scheme) (*crypto.PrivateKey, error) {
	k, err := crypto.GenerateKey(scheme, nil)
	if err != nil {
		return nil, err
	}
	if err := w.ImportKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

// ImportKey stores a key in keys/, named by its owner address, with mode 0600.
func (w *Wallet) ImportKey(k *crypto.PrivateKey) error {
	b, err := k.MarshalBinary()
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lock == nil {
		return ErrClosed
	}
	dir := filepath.Join(w.dir, keysDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store key: %w", err)
	}
	owner := k.Public().Owner()
	text := []byte(hex.EncodeToString(b) + "\n")
	if err := atomicfile.Write(filepath.Join(dir, owner.String()), text, 0o600); err != nil {
		return fmt.Errorf("store key of %s: %w", owner, err)
	}
	// A chain added before its key was imported learns its public key now.
	for _, e := range w.chains {
		if e.owner != nil && *e.owner == owner {
			e.pub = k.Public()
		}
	}
	return nil
}

// Key reads the private key of owner. It fails with ErrNoKey if the wallet has none,
// and refuses a key file that other users may read.
func (w *Wallet) Key(owner base.Owner) (*crypto.PrivateKey, error) {
	path := filepath.Join(w.dir, keysDir, owner.String())
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w %s in wallet %s", ErrNoKey, owner, w.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read key of %s: %w", owner, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && atomicfile.PermissionsEnforced() {
		return nil, fmt.Errorf("key file %s is accessible by other users (mode %04o): run chmod 600 on it", path, perm)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key of %s: %w", owner, err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		return nil, fmt.Errorf("%w: key file %s is not hex", ErrDamaged, path)
	}
	k, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: key file %s: %v", ErrDamaged, path, err)
	}
	if k.Public().Owner() != owner {
		return nil, fmt.Errorf("%w: key file %s holds the key of another owner", ErrDamaged, path)
	}
	return k, nil
}

// Keys returns the owners whose keys the wallet holds, sorted.
func (w *Wallet) Keys() ([]base.Owner, error) {
	entries, err := os.ReadDir(filepath.Join(w.dir, keysDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	var out []base.Owner
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue // temporary files of interrupted writes
		}
		o, err := base.ParseOwner(e.Name())
		if err != nil || o.IsChain() {
			continue
		}
		out = append(out, o)
	}
	slices.SortFunc(out, base.Owner.Compare)
	return out, nil
}
