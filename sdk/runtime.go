package sdk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/micachain/mica/sdk/internal/abi"
)

// hostABI is the "mica" host module as the SDK sees it: the Wasm imports on wasip1,
// or sdktest's in-process host.
type hostABI = abi.Host

// ErrReadOnly is the error of a storage write from a service.
var ErrReadOnly = errors.New("sdk: services cannot write to storage")

// Runtime is an entry point's access to the chain. It is valid only during the call
// that received it.
//
// Storage writes (Set, Delete, DeletePrefix) are staged in the Runtime and visible to
// its own reads at once; they reach the host as one write batch when the contract
// entry point returns successfully. A failed entry point writes nothing.
//
// Methods without an error result panic when the host refuses a request (for
// instance a contract-only request from a service); the SDK turns the panic into the
// entry point's error.
type Runtime struct {
	host    hostABI
	service bool

	pending  stagedWrites
	prefixes [][]byte // prefixes deleted by DeletePrefix, in order
}

func newRuntime(h hostABI, service bool) *Runtime {
	return &Runtime{host: h, service: service}
}

// IsService reports whether the runtime belongs to a service (read-only, unmetered).
//
//	if rt.IsService() {
//		return nil, errors.New("contracts only")
//	}
func (rt *Runtime) IsService() bool { return rt.service }

func (rt *Runtime) call(kind uint32, req []byte) ([]byte, error) {
	resp, code := rt.host.Call(kind, req)
	if code < 0 {
		return nil, &HostError{Kind: kind, Code: code}
	}
	return resp, nil
}

func (rt *Runtime) mustCall(kind uint32, req []byte) *abi.Decoder {
	resp, err := rt.call(kind, req)
	if err != nil {
		panic(err)
	}
	return abi.NewDecoder(resp)
}

func finish(kind uint32, d *abi.Decoder) {
	if err := d.Finish(); err != nil {
		panic(fmt.Errorf("mica host request %d: bad response: %w", kind, err))
	}
}

// ChainID returns the chain the application runs on.
//
//	chain := rt.ChainID()
//	rt.Logf(sdk.LevelInfo, "running on %s", chain)
func (rt *Runtime) ChainID() ChainID {
	d := rt.mustCall(abi.KindChainID, nil)
	c := d.Fixed32()
	finish(abi.KindChainID, d)
	return c
}

// ApplicationID returns the running application's id.
//
//	self := rt.ApplicationID()
//	// the application's own account on this chain:
//	mine := rt.OwnerBalance(self.Owner())
func (rt *Runtime) ApplicationID() ApplicationID {
	d := rt.mustCall(abi.KindApplicationID, nil)
	a := d.Fixed32()
	finish(abi.KindApplicationID, d)
	return a
}

// BlockHeight returns the height of the block being executed (services: the next
// block's height).
//
//	if rt.BlockHeight() == 0 {
//		// the chain's first block
//	}
func (rt *Runtime) BlockHeight() uint64 {
	d := rt.mustCall(abi.KindBlockHeight, nil)
	h := d.U64()
	finish(abi.KindBlockHeight, d)
	return h
}

// Timestamp returns the block's timestamp (services: the local time).
//
//	if rt.Timestamp() >= deadline { // microseconds since the Unix epoch
//		return nil, errors.New("too late")
//	}
func (rt *Runtime) Timestamp() Timestamp {
	d := rt.mustCall(abi.KindTimestamp, nil)
	t := d.U64()
	finish(abi.KindTimestamp, d)
	return Timestamp(t)
}

// AuthenticatedOwner returns the owner that signed the block, when the operation or
// message is authenticated (contracts only).
//
//	signer, ok := rt.AuthenticatedOwner()
//	if !ok {
//		return nil, errors.New("operation must be signed")
//	}
func (rt *Runtime) AuthenticatedOwner() (Owner, bool) {
	d := rt.mustCall(abi.KindAuthenticatedOwner, nil)
	var o Owner
	ok := d.Bool()
	if ok {
		o = decodeOwner(d)
	}
	finish(abi.KindAuthenticatedOwner, d)
	return o, ok
}

// AuthenticatedCaller returns the application that called this one with
// authentication, if any (contracts only).
//
//	caller, ok := rt.AuthenticatedCaller()
//	if !ok || caller != trusted {
//		return nil, errors.New("only the trusted application may call")
//	}
func (rt *Runtime) AuthenticatedCaller() (ApplicationID, bool) {
	d := rt.mustCall(abi.KindAuthenticatedCaller, nil)
	var a ApplicationID
	ok := d.Bool()
	if ok {
		a = d.Fixed32()
	}
	finish(abi.KindAuthenticatedCaller, d)
	return a, ok
}

// MessageInfo describes the message being executed (contracts, in ExecuteMessage).
//
//	info, ok := rt.MessageInfo()
//	if ok && info.IsBouncing {
//		// our own message came back rejected: refund the sender
//	}
func (rt *Runtime) MessageInfo() (MessageInfo, bool) {
	d := rt.mustCall(abi.KindMessageInfo, nil)
	var m MessageInfo
	ok := d.Bool()
	if ok {
		m.Origin = d.Fixed32()
		m.OriginHeight = d.U64()
		m.OriginTimestamp = Timestamp(d.U64())
		m.IsBouncing = d.Bool()
	}
	finish(abi.KindMessageInfo, d)
	return m, ok
}

// Get reads a key, seeing this entry point's staged writes.
//
//	v, ok := rt.Get([]byte("greeting"))
//	if !ok {
//		v = []byte("hello")
//	}
func (rt *Runtime) Get(key []byte) ([]byte, bool) {
	if i := rt.pending.find(key); i >= 0 {
		if rt.pending.entries[i].deleted {
			return nil, false
		}
		v := rt.pending.valueCopy(i)
		if v == nil {
			v = []byte{}
		}
		return v, true
	}
	if rt.prefixDeleted(key) {
		return nil, false
	}
	e := abi.Encoder{Buf: make([]byte, 0, len(key)+binary.MaxVarintLen32)}
	e.VarBytes(key)
	d := rt.mustCall(abi.KindReadValue, e.Buf)
	var v []byte
	ok := d.Bool()
	if ok {
		v = d.VarBytes()
		if v == nil {
			v = []byte{}
		}
	}
	finish(abi.KindReadValue, d)
	return v, ok
}

// Contains reports whether key holds a value.
//
//	if rt.Contains([]byte("config")) {
//		return errors.New("already configured")
//	}
func (rt *Runtime) Contains(key []byte) bool {
	_, ok := rt.Get(key)
	return ok
}

func (rt *Runtime) prefixDeleted(key []byte) bool {
	for _, p := range rt.prefixes {
		if bytes.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Scan returns the entries whose key starts with prefix, sorted by key, seeing this
// entry point's staged writes.
//
//	for _, kv := range rt.Scan([]byte("users/")) {
//		rt.Logf(sdk.LevelInfo, "%s = %s", kv.Key, kv.Value)
//	}
func (rt *Runtime) Scan(prefix []byte) []KeyValue {
	var e abi.Encoder
	e.VarBytes(prefix)
	d := rt.mustCall(abi.KindFindKeyValues, e.Buf)
	n := d.Length(2)
	out := make([]KeyValue, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		k := d.VarBytes()
		v := d.VarBytes()
		if rt.pending.find(k) >= 0 || rt.prefixDeleted(k) {
			continue
		}
		out = append(out, KeyValue{Key: k, Value: v})
	}
	finish(abi.KindFindKeyValues, d)
	for i, p := range rt.pending.entries {
		if !p.deleted && strings.HasPrefix(p.key, string(prefix)) {
			out = append(out, KeyValue{Key: []byte(p.key), Value: rt.pending.valueCopy(i)})
		}
	}
	slices.SortFunc(out, func(a, b KeyValue) int { return bytes.Compare(a.Key, b.Key) })
	return out
}

func (rt *Runtime) checkWritable() {
	if rt.service {
		panic(ErrReadOnly)
	}
}

// Set stages key = value.
//
//	rt.Set([]byte("greeting"), []byte("hello"))
func (rt *Runtime) Set(key, value []byte) {
	rt.setOwned(key, bytes.Clone(value))
}

// setOwned stages key = value, keeping value.
func (rt *Runtime) setOwned(key, value []byte) {
	rt.checkWritable()
	if value == nil {
		value = []byte{}
	}
	rt.pending.put(key, value, false)
}

// Delete stages the removal of key.
//
//	rt.Delete([]byte("greeting"))
func (rt *Runtime) Delete(key []byte) {
	rt.checkWritable()
	rt.pending.put(key, nil, true)
}

// DeletePrefix stages the removal of every key starting with prefix.
//
//	rt.DeletePrefix([]byte("users/")) // every key under users/
func (rt *Runtime) DeletePrefix(prefix []byte) {
	rt.checkWritable()
	rt.pending.dropPrefix(prefix)
	rt.prefixes = append(rt.prefixes, bytes.Clone(prefix))
}

// flush sends the staged writes as one write batch: the prefix deletions in order,
// then the surviving puts and deletes sorted by key. Nothing is sent when nothing is
// staged.
func (rt *Runtime) flush() error {
	if rt.pending.len() == 0 && len(rt.prefixes) == 0 {
		return nil
	}
	entries := rt.pending.sorted()
	size := binary.MaxVarintLen64
	for _, p := range rt.prefixes {
		size += 1 + binary.MaxVarintLen32 + len(p)
	}
	for _, p := range entries {
		size += 1 + 2*binary.MaxVarintLen32 + len(p.key) + len(p.value)
	}
	e := abi.Encoder{Buf: make([]byte, 0, size)}
	e.Uleb(uint64(len(rt.prefixes) + len(entries)))
	for _, p := range rt.prefixes {
		e.Uleb(abi.OpDeletePrefix)
		e.VarBytes(p)
	}
	for _, p := range entries {
		if p.deleted {
			e.Uleb(abi.OpDelete)
			e.Uleb(uint64(len(p.key)))
			e.Buf = append(e.Buf, p.key...)
		} else {
			e.Uleb(abi.OpPut)
			e.Uleb(uint64(len(p.key)))
			e.Buf = append(e.Buf, p.key...)
			e.VarBytes(p.value)
		}
	}
	if _, err := rt.call(abi.KindWriteBatch, e.Buf); err != nil {
		return err
	}
	rt.pending.reset()
	rt.prefixes = nil
	return nil
}

// SendMessage sends msg to this application on chain (contracts only). A tracked
// message bounces back if the receiver rejects it; an authenticated one carries the
// authenticated owner.
//
//	// tracked: bounces back if the receiver's contract rejects it
//	err := rt.SendMessage(target, []byte(`{"credit":5}`), true, false)
func (rt *Runtime) SendMessage(chain ChainID, msg []byte, tracked, authenticated bool) error {
	var e abi.Encoder
	e.Fixed(chain[:])
	e.Bool(authenticated)
	e.Bool(tracked)
	e.VarBytes(msg)
	_, err := rt.call(abi.KindSendMessage, e.Buf)
	return err
}

// Transfer moves amount from source's account on this chain to recipient (contracts
// only). The host aborts the run if the source lacks the funds or the permission.
//
//	signer, _ := rt.AuthenticatedOwner()
//	err := rt.Transfer(signer, sdk.Account{Chain: rt.ChainID(), Owner: rt.ApplicationID().Owner()}, sdk.NewAmount(1e18)) // 1 token (18 decimals)
func (rt *Runtime) Transfer(source Owner, recipient Account, amount Amount) error {
	var e abi.Encoder
	encodeOwner(&e, source)
	e.Fixed(recipient.Chain[:])
	encodeOwner(&e, recipient.Owner)
	e.U128(amount.Lo, amount.Hi)
	_, err := rt.call(abi.KindTransfer, e.Buf)
	return err
}

// OpenChain opens a child chain whose single super owner is owner (so its blocks commit
// in the fast round), funded with balance from this application's own account
// (contracts only), and returns the child's id.
//
//	child, err := rt.OpenChain(seller, sdk.NewAmount(0))
//	if err != nil {
//		return nil, err
//	}
//	err = rt.SendMessage(child, []byte(`{"start":{}}`), false, false)
func (rt *Runtime) OpenChain(owner Owner, balance Amount) (ChainID, error) {
	var e abi.Encoder
	// protocol.ChainOwnership as protocol.SingleSuperOwner builds it: one super owner,
	// no regular owners, 2 multi-leader rounds, closed, no fast-round timeout, 10 s base
	// timeout, 1 s increment.
	e.Uleb(1)
	encodeOwner(&e, owner)
	e.Uleb(0)
	e.U32(2)
	e.Bool(false)
	e.Bool(false)
	e.U64(10_000_000)
	e.U64(1_000_000)
	e.U128(balance.Lo, balance.Hi)
	resp, err := rt.call(abi.KindOpenChain, e.Buf)
	if err != nil {
		return ChainID{}, err
	}
	var id ChainID
	if len(resp) != len(id) {
		return ChainID{}, &HostError{Kind: abi.KindOpenChain, Code: -3}
	}
	copy(id[:], resp)
	return id, nil
}

// Claim withdraws amount from source, an account of the block's authenticated owner
// (or of this application) on another chain, and credits recipient (contracts only).
// The withdrawal travels as an authenticated message to source's chain.
//
//	// pull 2 tokens from the signer's account on its home chain to this chain's account
//	err := rt.Claim(sdk.Account{Chain: home, Owner: signer}, sdk.Account{Chain: rt.ChainID()}, sdk.NewAmount(2e18))
func (rt *Runtime) Claim(source, recipient Account, amount Amount) error {
	var e abi.Encoder
	e.Fixed(source.Chain[:])
	encodeOwner(&e, source.Owner)
	e.Fixed(recipient.Chain[:])
	encodeOwner(&e, recipient.Owner)
	e.U128(amount.Lo, amount.Hi)
	_, err := rt.call(abi.KindClaim, e.Buf)
	return err
}

// CallApplication calls another application on this chain synchronously (contracts
// only) and returns its response.
//
//	resp, err := rt.CallApplication(true, token, []byte(`{"balance":{}}`))
func (rt *Runtime) CallApplication(authenticated bool, app ApplicationID, argument []byte) ([]byte, error) {
	var e abi.Encoder
	e.Bool(authenticated)
	e.Fixed(app[:])
	e.VarBytes(argument)
	return rt.call(abi.KindCallApplication, e.Buf)
}

// ScheduleOperation asks the client to commit an operation of this application in a
// block (services only): this is how a GraphQL mutation becomes a block.
//
//	// in a service's HandleQuery, for a mutation:
//	rt.ScheduleOperation([]byte(`{"increment":1}`))
func (rt *Runtime) ScheduleOperation(operation []byte) {
	var e abi.Encoder
	e.VarBytes(operation)
	rt.mustCall(abi.KindScheduleOperation, e.Buf)
}

// ReadDataBlob returns the data blob with the given hash.
//
//	// hash from mica publish-data-blob, e.g. stored by Instantiate
//	description := rt.ReadDataBlob(hash)
func (rt *Runtime) ReadDataBlob(hash [32]byte) []byte {
	resp, err := rt.call(abi.KindReadDataBlob, hash[:])
	if err != nil {
		panic(err)
	}
	return resp
}

// Parameters returns the application's parameters: the bytes given when it was
// created (`mica create-application --json-parameters`), the same on every chain;
// empty when none were given. ParametersOf decodes them. A validator older than SDK
// v0.2.0's host API answers with a *HostError (unknown request kind).
//
//	p, err := rt.Parameters() // e.g. []byte(`{"ticker_symbol":"MICA"}`)
func (rt *Runtime) Parameters() ([]byte, error) {
	p, err := rt.call(abi.KindApplicationParameters, nil)
	if err != nil {
		return nil, fmt.Errorf("sdk: application parameters: %w", err)
	}
	return p, nil
}

// ChainBalance returns the chain account's balance.
//
//	if rt.ChainBalance() == (sdk.Amount{}) {
//		return nil, errors.New("the chain has no funds")
//	}
func (rt *Runtime) ChainBalance() Amount {
	d := rt.mustCall(abi.KindChainBalance, nil)
	lo, hi := d.U128()
	finish(abi.KindChainBalance, d)
	return Amount{Lo: lo, Hi: hi}
}

// OwnerBalance returns an owner's balance on this chain.
//
//	signer, _ := rt.AuthenticatedOwner()
//	bal := rt.OwnerBalance(signer)
func (rt *Runtime) OwnerBalance(o Owner) Amount {
	var e abi.Encoder
	encodeOwner(&e, o)
	d := rt.mustCall(abi.KindOwnerBalance, e.Buf)
	lo, hi := d.U128()
	finish(abi.KindOwnerBalance, d)
	return Amount{Lo: lo, Hi: hi}
}

// Log logs msg at level through the host.
//
//	rt.Log(sdk.LevelWarn, "bid below the minimum")
func (rt *Runtime) Log(level LogLevel, msg string) { rt.host.Log(int32(level), msg) }

// Logf logs a formatted message at level.
//
//	rt.Logf(sdk.LevelInfo, "bid %s from %s", amount, bidder)
func (rt *Runtime) Logf(level LogLevel, format string, args ...any) {
	rt.Log(level, fmt.Sprintf(format, args...))
}

// Sha256 returns the SHA-256 digest of data, computed by the host (much faster than
// hashing inside the Wasm guest; it costs fuel per byte of data).
//
//	commit := rt.Sha256(append(secret, salt...))
func (rt *Runtime) Sha256(data []byte) [32]byte { return rt.hash(abi.KindSha256, data) }

// Keccak256 returns the legacy Keccak-256 digest of data (Ethereum's, not SHA3-256),
// computed by the host.
//
//	digest := rt.Keccak256([]byte("transfer(address,uint256)"))
func (rt *Runtime) Keccak256(data []byte) [32]byte { return rt.hash(abi.KindKeccak256, data) }

func (rt *Runtime) hash(kind uint32, data []byte) [32]byte {
	var e abi.Encoder
	e.VarBytes(data)
	d := rt.mustCall(kind, e.Buf)
	h := d.Fixed32()
	finish(kind, d)
	return h
}

// VerifySignature reports whether signature is a valid signature of msg under
// publicKey, checked by the host as Mica checks block signatures (Ed25519 under
// ZIP-215; secp256k1 ECDSA over Ethereum's personal-message digest of msg, r||s||v;
// ML-DSA-65).
//
// publicKey and signature are canonical encodings, the bytes the main module's
// crypto.PublicKey.Encode and crypto.Signature.Encode write: a ULEB128 scheme tag (0
// Ed25519, 1 secp256k1, 2 ML-DSA-65) followed by the length-prefixed (ULEB128) key or
// signature bytes. A key or signature that does not decode (unknown scheme, wrong
// length, invalid point), or of another scheme than the key, makes VerifySignature
// return false. Each call costs a fixed amount of fuel (3,000 units) on top of the
// per-byte charge.
//
//	digest := rt.Sha256(payload)
//	if !rt.VerifySignature(publicKey, digest, signature) {
//		return nil, errors.New("bad signature")
//	}
func (rt *Runtime) VerifySignature(publicKey []byte, msg [32]byte, signature []byte) bool {
	// The request is the concatenation of the three encodings: each must be exactly
	// one tag and one length-prefixed string, or bytes of one could be read as part
	// of the next.
	if !isTaggedBytes(publicKey) || !isTaggedBytes(signature) {
		return false
	}
	var e abi.Encoder
	e.Fixed(publicKey)
	e.Fixed(msg[:])
	e.Fixed(signature)
	resp, err := rt.call(abi.KindVerifySignature, e.Buf)
	var he *HostError
	if errors.As(err, &he) && he.Code == abi.CodeMalformed {
		return false
	}
	if err != nil {
		panic(err)
	}
	d := abi.NewDecoder(resp)
	ok := d.Bool()
	finish(abi.KindVerifySignature, d)
	return ok
}

// isTaggedBytes reports whether b is exactly a ULEB128 tag followed by a ULEB128
// length and that many bytes.
func isTaggedBytes(b []byte) bool {
	d := abi.NewDecoder(b)
	d.Uleb()
	d.VarBytes()
	return d.Finish() == nil
}
