// Package views holds typed persistent collections over a kv.Reader: Register, Map, Queue
// and Log. Each view reads lazily from the store, caches what it read, stages changes in
// memory, and on Flush appends them to a kv.Batch that the caller writes atomically
// together with the other views of the same state (the design of the reference system's
// linera-views, simplified).
//
// # Life cycle
//
// The execution layer holds a chain's state as a struct of views, each on its own
// sub-context of the chain's prefix:
//
//	root := views.NewContext(store, chainPrefix)
//	balance := views.NewRegister(root.Sub(0), views.AmountCodec{}, base.Amount{})
//	inbox := views.NewQueue(root.Sub(1), views.CanonicalCodec[protocol.Message]())
//
// During a block it reads and mutates them; afterwards it either calls Rollback on every
// view (the block failed) or Flush on every view into one kv.Batch and writes that batch.
// Flush makes the staged changes the views' new clean state at once, so if writing the
// batch fails the in-memory views are ahead of the store: drop them and load afresh.
//
// Register and Map also split Flush in two: Emit appends the staged changes to a batch
// and leaves them staged, Commit makes them the clean state (only once the emitted batch
// is being written). TakeStaged takes a view's staged changes out, leaving it as
// stored, and PutStaged stages them again, on the same view or another over the same
// keys while the stored state has not changed: a block is executed on a state kept in
// memory and its changes set aside until its certificate arrives.
//
// # Caches
//
// A view keeps what it read and what it flushed, across Flush and Rollback, for as long
// as it lives: a Rollback drops only staged changes, never a clean value, which is still
// the stored one. A state kept in memory between requests therefore reads each key once.
// The caches hold only entries the store holds under the view, plus a bounded number
// of known absent keys (anyone may ask about any key: a Map remembers at most 256), and
// they do not take in a long sequence at once: a whole-map scan is kept for maps of at
// most 256 entries, a Log range read for at most 64 entries, a Queue range read for at
// most 256, and a Queue's Flush keeps the entries it pushed only within 256 of its
// front; a Queue's cache also stays under 1 MiB of values.
//
// # Determinism
//
// The flushed batch is hashed into the chain's state, so its bytes must be identical on
// every validator for the same changes. Two rules guarantee that:
//
//   - Each view emits its operations in ascending key order; staged map entries are sorted
//     by encoded key, never taken in Go map order. Flush the views of a struct in ascending
//     order of their sub-context tags and the whole batch is in ascending key order.
//   - What a view emits depends only on the stored state and the operations applied since
//     the last Flush, never on what happens to be cached. For example Map.Delete emits a
//     delete even for a key that is known to be missing, and Register.Set emits a put even
//     when the value is unchanged.
//
// # Key layout
//
// A view owns every key that starts with its context's prefix; give each view its own
// context (Sub or SubKey), and never put a view on a context whose sub-contexts are in use.
// With P the context prefix and BE64 the 8-byte big-endian encoding:
//
//	Register  P                      the value
//	Map       P || key               one entry per key (KeyCodec encoding)
//	Queue     P || 0x00              front and back indices (u64 little-endian each)
//	          P || 0x01 || BE64(i)   entries front <= i < back
//	Log       P || 0x00              count (u64 little-endian)
//	          P || 0x01 || BE64(i)   entries 0 <= i < count
//
// Values use the canonical encoding of package codec and are decoded strictly; stored
// bytes that do not decode give errors of class base.ErrCorrupt, never panics.
//
// # Concurrency and ownership
//
// Views are not safe for concurrent use: the caller serialises access (the per-chain lock).
// The underlying kv.Reader may be shared. Values returned by a view may share memory with
// its cache (a []byte value, a struct holding slices): treat them as read-only and Set a new
// value to change one.
package views
