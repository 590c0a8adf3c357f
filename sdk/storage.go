package sdk

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Register is one JSON-encoded value of type T stored under a key.
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
	if err := json.Unmarshal(b, &v); err != nil {
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
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sdk: register %q: %w", r.key, err)
	}
	rt.Set(r.key, b)
	return nil
}

// Delete removes the value.
func (r Register[T]) Delete(rt *Runtime) { rt.Delete(r.key) }

// Map is a set of JSON-encoded values of type V stored under prefix+key. Choose
// prefixes that are not prefixes of one another's keys (e.g. end them with "/").
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
	if err := json.Unmarshal(b, &v); err != nil {
		return v, false, fmt.Errorf("sdk: map %q key %q: %w", m.prefix, key, err)
	}
	return v, true, nil
}

// Set stores v under key.
func (m Map[V]) Set(rt *Runtime, key string, v V) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sdk: map %q key %q: %w", m.prefix, key, err)
	}
	rt.Set(m.storageKey(key), b)
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
		if err := json.Unmarshal(kv.Value, &e.Value); err != nil {
			return nil, fmt.Errorf("sdk: map %q key %q: %w", m.prefix, e.Key, err)
		}
		out = append(out, e)
	}
	return out, nil
}
