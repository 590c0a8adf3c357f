package sdk

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Register is one JSON-encoded value of type T stored under a key.
//
//	var total = sdk.NewRegister[int]("total")
//
//	n, err := total.GetOr(rt, 0)
//	if err != nil {
//		return nil, err
//	}
//	err = total.Set(rt, n+1)
type Register[T any] struct{ key []byte }

// NewRegister returns the register stored under key.
func NewRegister[T any](key string) Register[T] { return Register[T]{key: []byte(key)} }

// Key returns the register's storage key.
func (r Register[T]) Key() []byte { return r.key }

// Get returns the stored value and true, or the zero T and false when unset.
func (r Register[T]) Get(rt *Runtime) (T, bool, error) {
	var v T
	b, ok := rt.Get(r.key)
	if !ok {
		return v, false, nil
	}
	if err := unmarshalJSON(b, &v); err != nil {
		return v, false, fmt.Errorf("sdk: register %q: %w", r.key, err)
	}
	return v, true, nil
}

// GetOr returns the stored value, or def when unset.
func (r Register[T]) GetOr(rt *Runtime, def T) (T, error) {
	v, ok, err := r.Get(rt)
	if err != nil || !ok {
		return def, err
	}
	return v, nil
}

// Set stores v.
func (r Register[T]) Set(rt *Runtime, v T) error {
	b, err := marshalValue(&v)
	if err != nil {
		return fmt.Errorf("sdk: register %q: %w", r.key, err)
	}
	rt.setOwned(r.key, b)
	return nil
}

// Delete removes the value.
func (r Register[T]) Delete(rt *Runtime) { rt.Delete(r.key) }

// Map is a set of JSON-encoded values of type V stored under prefix+key. Choose
// prefixes that are not prefixes of one another's keys (e.g. end them with "/").
//
//	var balances = sdk.NewMap[uint64]("balances/")
//
//	b, _, err := balances.Get(rt, owner.String())
//	if err == nil {
//		err = balances.Set(rt, owner.String(), b+amount)
//	}
type Map[V any] struct{ prefix string }

// NewMap returns the map stored under prefix.
func NewMap[V any](prefix string) Map[V] { return Map[V]{prefix: prefix} }

// MapEntry is one entry of a Map.
type MapEntry[V any] struct {
	Key   string
	Value V
}

func (m Map[V]) storageKey(key string) []byte { return []byte(m.prefix + key) }

// Get returns the value under key and true, or the zero V and false.
func (m Map[V]) Get(rt *Runtime, key string) (V, bool, error) {
	var v V
	b, ok := rt.Get(m.storageKey(key))
	if !ok {
		return v, false, nil
	}
	if err := unmarshalJSON(b, &v); err != nil {
		return v, false, fmt.Errorf("sdk: map %q key %q: %w", m.prefix, key, err)
	}
	return v, true, nil
}

// Set stores v under key.
func (m Map[V]) Set(rt *Runtime, key string, v V) error {
	b, err := marshalValue(&v)
	if err != nil {
		return fmt.Errorf("sdk: map %q key %q: %w", m.prefix, key, err)
	}
	rt.setOwned(m.storageKey(key), b)
	return nil
}

// Delete removes key.
func (m Map[V]) Delete(rt *Runtime, key string) { rt.Delete(m.storageKey(key)) }

// Clear removes every entry.
func (m Map[V]) Clear(rt *Runtime) { rt.DeletePrefix([]byte(m.prefix)) }

// Entries returns all entries sorted by key.
func (m Map[V]) Entries(rt *Runtime) ([]MapEntry[V], error) {
	kvs := rt.Scan([]byte(m.prefix))
	out := make([]MapEntry[V], 0, len(kvs))
	for _, kv := range kvs {
		e := MapEntry[V]{Key: strings.TrimPrefix(string(kv.Key), m.prefix)}
		if err := unmarshalJSON(kv.Value, &e.Value); err != nil {
			return nil, fmt.Errorf("sdk: map %q key %q: %w", m.prefix, e.Key, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// header is the stored position of a Queue or a Log: entries [Front, Back) exist.
type header struct {
	Front uint64 `json:"front"`
	Back  uint64 `json:"back"`
}

func readHeader(rt *Runtime, key []byte, what string) (header, error) {
	var h header
	b, ok := rt.Get(key)
	if !ok {
		return h, nil
	}
	if err := json.Unmarshal(b, &h); err != nil || h.Front > h.Back {
		if err == nil {
			err = fmt.Errorf("front %d after back %d", h.Front, h.Back)
		}
		return h, fmt.Errorf("sdk: %s header %q: %w", what, key, err)
	}
	return h, nil
}

func writeHeader(rt *Runtime, key []byte, h header) {
	b, _ := json.Marshal(h) // two integers: cannot fail
	rt.Set(key, b)
}

// entryKey is prefix "e" and the index as 16 hex digits, so keys sort by index.
func entryKey(prefix string, i uint64) []byte {
	return fmt.Appendf([]byte(prefix), "e%016x", i)
}

func getEntry[T any](rt *Runtime, prefix string, i uint64, what string) (T, error) {
	var v T
	k := entryKey(prefix, i)
	b, ok := rt.Get(k)
	if !ok {
		return v, fmt.Errorf("sdk: %s %q: entry %d missing", what, prefix, i)
	}
	if err := unmarshalJSON(b, &v); err != nil {
		return v, fmt.Errorf("sdk: %s %q entry %d: %w", what, prefix, i, err)
	}
	return v, nil
}

func putEntry[T any](rt *Runtime, prefix string, i uint64, v T, what string) error {
	b, err := marshalValue(&v)
	if err != nil {
		return fmt.Errorf("sdk: %s %q: %w", what, prefix, err)
	}
	rt.setOwned(entryKey(prefix, i), b)
	return nil
}

// Queue is a FIFO queue of JSON-encoded values of type T stored under prefix: a
// header at prefix+"h" holding the front and back indexes, and each entry at prefix+"e"
// followed by its index in 16 hex digits. Popping deletes the entry, so storage holds
// only the queued values. Choose a prefix that is not a prefix of other keys (end it
// with "/").
//
//	var jobs = sdk.NewQueue[string]("jobs/")
//
//	err := jobs.PushBack(rt, "resize image 7")
//	next, ok, err := jobs.PopFront(rt) // "resize image 7", true
type Queue[T any] struct{ prefix string }

// NewQueue returns the queue stored under prefix.
func NewQueue[T any](prefix string) Queue[T] { return Queue[T]{prefix: prefix} }

func (q Queue[T]) headerKey() []byte { return []byte(q.prefix + "h") }

// Len returns the number of queued values.
func (q Queue[T]) Len(rt *Runtime) (int, error) {
	h, err := readHeader(rt, q.headerKey(), "queue")
	return int(h.Back - h.Front), err
}

// PushBack appends v at the back of the queue.
func (q Queue[T]) PushBack(rt *Runtime, v T) error {
	h, err := readHeader(rt, q.headerKey(), "queue")
	if err != nil {
		return err
	}
	if err := putEntry(rt, q.prefix, h.Back, v, "queue"); err != nil {
		return err
	}
	h.Back++
	writeHeader(rt, q.headerKey(), h)
	return nil
}

// Front returns the value at the front and true, or the zero T and false when the
// queue is empty.
func (q Queue[T]) Front(rt *Runtime) (T, bool, error) {
	var zero T
	h, err := readHeader(rt, q.headerKey(), "queue")
	if err != nil || h.Front == h.Back {
		return zero, false, err
	}
	v, err := getEntry[T](rt, q.prefix, h.Front, "queue")
	if err != nil {
		return zero, false, err
	}
	return v, true, nil
}

// PopFront removes and returns the value at the front and true, or the zero T and
// false when the queue is empty.
func (q Queue[T]) PopFront(rt *Runtime) (T, bool, error) {
	v, ok, err := q.Front(rt)
	if !ok || err != nil {
		return v, ok, err
	}
	h, _ := readHeader(rt, q.headerKey(), "queue")
	rt.Delete(entryKey(q.prefix, h.Front))
	h.Front++
	if h.Front == h.Back {
		rt.Delete(q.headerKey()) // an empty queue leaves nothing in storage
	} else {
		writeHeader(rt, q.headerKey(), h)
	}
	return v, true, nil
}

// Log is an append-only sequence of JSON-encoded values of type T stored under
// prefix: a header at prefix+"h" holding the length, and entry i at prefix+"e"
// followed by i in 16 hex digits. Choose a prefix that is not a prefix of other keys
// (end it with "/").
//
//	var history = sdk.NewLog[string]("history/")
//
//	i, err := history.Append(rt, "bid 5 by alice") // i is the entry's index
//	last10, err := history.Range(rt, i-9, i+1)
type Log[T any] struct{ prefix string }

// NewLog returns the log stored under prefix.
func NewLog[T any](prefix string) Log[T] { return Log[T]{prefix: prefix} }

func (l Log[T]) headerKey() []byte { return []byte(l.prefix + "h") }

// Len returns the number of entries.
func (l Log[T]) Len(rt *Runtime) (int, error) {
	h, err := readHeader(rt, l.headerKey(), "log")
	return int(h.Back), err
}

// Append adds v at the end and returns its index.
func (l Log[T]) Append(rt *Runtime, v T) (int, error) {
	h, err := readHeader(rt, l.headerKey(), "log")
	if err != nil {
		return 0, err
	}
	if err := putEntry(rt, l.prefix, h.Back, v, "log"); err != nil {
		return 0, err
	}
	h.Back++
	writeHeader(rt, l.headerKey(), h)
	return int(h.Back - 1), nil
}

// Get returns entry i and true, or the zero T and false when i is out of range.
func (l Log[T]) Get(rt *Runtime, i int) (T, bool, error) {
	var zero T
	n, err := l.Len(rt)
	if err != nil || i < 0 || i >= n {
		return zero, false, err
	}
	v, err := getEntry[T](rt, l.prefix, uint64(i), "log")
	if err != nil {
		return zero, false, err
	}
	return v, true, nil
}

// Range returns entries [start, end), with start and end clamped to [0, Len].
func (l Log[T]) Range(rt *Runtime, start, end int) ([]T, error) {
	n, err := l.Len(rt)
	if err != nil {
		return nil, err
	}
	start, end = max(start, 0), min(end, n)
	if start >= end {
		return []T{}, nil
	}
	out := make([]T, 0, end-start)
	for i := start; i < end; i++ {
		v, err := getEntry[T](rt, l.prefix, uint64(i), "log")
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
