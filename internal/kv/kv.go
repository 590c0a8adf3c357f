// Package kv is Mica's storage abstraction: an ordered byte-key store with point reads,
// multi-reads, prefix scans and atomic batch writes. Everything above it (views, storage)
// depends only on these interfaces; backends live in sub-packages (memkv for tests, pebblekv
// for the embedded default) and all pass the conformance suite in kv/kvtest.
//
// Keys are compared as unsigned byte strings (bytes.Compare). The empty key is a valid key;
// an empty value is a present value, distinct from a missing key.
package kv

import (
	"bytes"
	"context"
	"errors"
)

// ErrClosed is returned by every operation on a store after Close. It is a sentinel of its
// own: it belongs to none of the base error classes, because it reports a programming or
// shutdown-ordering condition of this process rather than anything about the data.
var ErrClosed = errors.New("kv: store closed")

// Reader is the read side of an ordered byte-key store.
//
// Implementations are safe for concurrent use. Slices passed in are not retained. Slices
// returned by Get and MultiGet are owned by the caller (fresh copies). Errors are ErrClosed
// after Close, ctx.Err() when ctx is done before the operation starts (long scans also
// check it as they go), or a backend error (of class base.ErrCorrupt when the backend
// detects corruption).
type Reader interface {
	// Get returns the value stored under key. A missing key is (nil, false, nil); a present
	// empty value is a non-nil empty slice and true.
	Get(ctx context.Context, key []byte) (value []byte, ok bool, err error)
	// MultiGet returns one entry per key, in the order of keys, all read from one consistent
	// point in time. A nil entry means the key is missing; a present empty value is a non-nil
	// empty slice.
	MultiGet(ctx context.Context, keys [][]byte) ([][]byte, error)
	// Scan calls fn for every key that starts with prefix, in ascending byte order, over a
	// consistent snapshot taken when Scan starts (writes that complete during the scan are not
	// seen). An empty prefix scans every key. The key and value passed to fn are only valid
	// during the call. If fn returns an error the scan stops and Scan returns that error
	// unchanged.
	Scan(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error
}

// Writer is the write side of a store.
type Writer interface {
	// Write applies the batch atomically: after a crash either all of its operations are
	// visible or none. When Write returns nil the batch is durable (fsynced for disk backends)
	// and visible to every later read. An empty batch is a no-op. Write does not retain b.
	// If ctx is done before Write starts, it returns ctx.Err() and applies nothing; once
	// the commit has started it is not interrupted.
	Write(ctx context.Context, b *Batch) error
}

// LazyWriter is implemented by stores that can apply a batch without waiting for it to
// be durable. It is an optional capability, discovered by type assertion; a store
// without it is written with Write (durable), which is always correct.
type LazyWriter interface {
	// WriteLazy applies the batch atomically and makes it visible to every later read,
	// like Write, but may return before it is durable. Its place among the store's
	// writes is fixed when it returns: a crash loses a suffix of the writes, never a
	// write without every write after it, so a Write (durable) that returns after
	// WriteLazy returned makes the lazy batch durable too. A process that exits
	// normally (or crashes without the machine losing power) keeps it.
	WriteLazy(ctx context.Context, b *Batch) error
}

// Store is a Reader and Writer that must be closed. Close is idempotent; every operation
// after Close returns ErrClosed.
type Store interface {
	Reader
	Writer
	Close() error
}

// OpKind tells the operations of a batch apart.
type OpKind uint8

const (
	// OpPut stores Value under Key, replacing any previous value.
	OpPut OpKind = iota + 1
	// OpDelete removes Key (a no-op when missing).
	OpDelete
	// OpDeletePrefix removes every key that starts with Key (all keys when Key is empty).
	OpDeletePrefix
)

// String returns the operation's name.
func (k OpKind) String() string {
	switch k {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpDeletePrefix:
		return "delete-prefix"
	default:
		return "unknown"
	}
}

// Op is one operation of a batch. Value is nil unless Kind is OpPut.
type Op struct {
	Kind  OpKind
	Key   []byte
	Value []byte
}

// Batch is an ordered list of operations, applied in order by Writer.Write: a Put followed
// by a Delete of the same key leaves the key missing, a DeletePrefix followed by a Put
// under that prefix leaves the new key present.
//
// The zero value is an empty batch ready to use. A Batch is not safe for concurrent use.
// The bytes of an op are never modified after it is added (Put copies its arguments,
// PutOwned's caller gives up the right to modify the value, Reset drops ops without
// reusing their bytes), so ops may be shared between batches by Append.
// Small ops' bytes share larger allocations: a store that keeps an op's key or value
// beyond Write copies it, or it keeps the batch's chunk alive with it.
type Batch struct {
	ops  []Op
	size int
	// arena is the chunk that small ops' bytes are copied into, one after the other
	// (len: the bytes handed out). Bytes once handed out are never written again: a full
	// chunk is replaced by a new one, never reused.
	arena []byte
	// owned checks, in builds with the invariants tag, that the values PutOwned took
	// are not modified afterwards (an empty struct otherwise).
	owned ownedChecks
}

// Arena sizes: ops of up to arenaMaxOp bytes share chunks of up to arenaChunk bytes, so that a
// batch of many small keys (a block's queue entries, registers and indexes) costs a few
// allocations instead of one per op; a larger op gets an allocation of its own.
const (
	arenaFirst = 256
	arenaChunk = 4 << 10
	arenaMaxOp = 512
)

// alloc returns n bytes (non-nil, capacity n) for an op's bytes.
func (b *Batch) alloc(n int) []byte {
	if n > arenaMaxOp {
		return make([]byte, n)
	}
	if cap(b.arena)-len(b.arena) < n || b.arena == nil {
		// Chunks double from arenaFirst to arenaChunk: a batch of a few keys stays small.
		b.arena = make([]byte, 0, max(n, min(2*cap(b.arena), arenaChunk), arenaFirst))
	}
	start := len(b.arena)
	b.arena = b.arena[:start+n]
	return b.arena[start : start+n : start+n]
}

// Put adds an operation that stores value under key. Both are copied. A nil value stores
// an empty value.
func (b *Batch) Put(key, value []byte) {
	buf := b.alloc(len(key) + len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	b.ops = append(b.ops, Op{Kind: OpPut, Key: buf[:len(key):len(key)], Value: buf[len(key):]})
	b.size += len(key) + len(value)
}

// PutOwned adds an operation that stores value under key, like Put, but takes value
// without copying it: the caller hands the value's bytes over and neither it nor anyone
// sharing them may modify them afterwards, for as long as the batch or a batch it was
// appended to holds the op (stores read an op's bytes when the batch is written, and a
// store that keeps them beyond Write copies them). For values that are already a fresh
// or immutable encoding (a certificate, a register's value, an inbox's bundle): it saves
// a copy of the value and, above 512 B, an allocation of its size (tens of KB per
// 100-transfer block). The key is copied. A nil value stores an empty value. Builds with
// the invariants tag check, whenever Ops is called, that the values taken are unchanged.
func (b *Batch) PutOwned(key, value []byte) {
	k := b.alloc(len(key))
	copy(k, key)
	if value == nil {
		value = []byte{}
	}
	// The capacity is cut so that nobody appending to the op's value writes into the
	// caller's spare capacity.
	b.ops = append(b.ops, Op{Kind: OpPut, Key: k, Value: value[:len(value):len(value)]})
	b.size += len(key) + len(value)
	b.owned.record(len(b.ops)-1, value)
}

// Delete adds an operation that removes key. The key is copied.
func (b *Batch) Delete(key []byte) {
	k := b.alloc(len(key))
	copy(k, key)
	b.ops = append(b.ops, Op{Kind: OpDelete, Key: k})
	b.size += len(key)
}

// DeletePrefix adds an operation that removes every key starting with prefix; an empty
// prefix removes every key of the store. The prefix is copied.
func (b *Batch) DeletePrefix(prefix []byte) {
	p := b.alloc(len(prefix))
	copy(p, prefix)
	b.ops = append(b.ops, Op{Kind: OpDeletePrefix, Key: p})
	b.size += len(prefix)
}

// Len returns the number of operations.
func (b *Batch) Len() int { return len(b.ops) }

// Empty reports whether the batch has no operations.
func (b *Batch) Empty() bool { return len(b.ops) == 0 }

// Size returns the total number of key and value bytes in the batch.
func (b *Batch) Size() int { return b.size }

// Reset removes every operation, keeping the op slice's capacity.
func (b *Batch) Reset() {
	clear(b.ops)
	b.ops = b.ops[:0]
	b.size = 0
	b.owned.reset()
}

// Append adds the operations of o, in order, after those of b. o is unchanged; the two
// batches share the ops' (immutable) bytes.
func (b *Batch) Append(o *Batch) {
	b.owned.append(&o.owned, len(b.ops))
	b.ops = append(b.ops, o.ops...)
	b.size += o.size
}

// Ops returns the operations in order. The slice and the bytes it references belong to the
// batch: callers must not modify them, and the slice is valid until the next change to b.
// In builds with the invariants tag, Ops panics if a value that PutOwned took was modified.
func (b *Batch) Ops() []Op {
	b.owned.check(b.ops)
	return b.ops
}

// PrefixEnd returns the smallest key that is greater than every key starting with prefix,
// so that [prefix, PrefixEnd(prefix)) is exactly the keys with that prefix. It returns nil
// when there is no such key (prefix is empty or all 0xff bytes): the range is then
// unbounded above. The result is a new slice.
func PrefixEnd(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			end := bytes.Clone(prefix[:i+1])
			end[i]++
			return end
		}
	}
	return nil
}
