package sdk

import (
	"bytes"
	"slices"
	"strings"
)

// stagedWrites holds a Runtime's pending writes by key: a slice in the order the keys
// were first written, with an index by key once it holds more than stagedIndexAt
// entries. Most runs write one to a few keys, where a scan is cheaper than a map, and
// a map's first insertion allocates a group of slots that a run starting from the
// module's snapshot never finds free: a tenth of a small contract run's instructions.
type stagedWrites struct {
	entries []stagedEntry
	index   map[string]int // key → position in entries; nil until entries outgrows stagedIndexAt
}

type stagedEntry struct {
	key     string
	value   []byte // owned by the entry
	deleted bool
}

const stagedIndexAt = 16

func (s *stagedWrites) len() int { return len(s.entries) }

// find returns the position of key's entry, or -1.
func (s *stagedWrites) find(key []byte) int {
	if s.index != nil {
		if i, ok := s.index[string(key)]; ok {
			return i
		}
		return -1
	}
	for i := range s.entries {
		if s.entries[i].key == string(key) {
			return i
		}
	}
	return -1
}

// put stages key = value (which the entry keeps), or key's deletion.
func (s *stagedWrites) put(key []byte, value []byte, deleted bool) {
	if i := s.find(key); i >= 0 {
		s.entries[i].value, s.entries[i].deleted = value, deleted
		return
	}
	s.entries = append(s.entries, stagedEntry{key: string(key), value: value, deleted: deleted})
	if s.index != nil {
		s.index[s.entries[len(s.entries)-1].key] = len(s.entries) - 1
	} else if len(s.entries) > stagedIndexAt {
		s.reindex()
	}
}

func (s *stagedWrites) reindex() {
	if len(s.entries) <= stagedIndexAt {
		s.index = nil
		return
	}
	s.index = make(map[string]int, len(s.entries))
	for i, e := range s.entries {
		s.index[e.key] = i
	}
}

// dropPrefix forgets the entries whose key starts with prefix.
func (s *stagedWrites) dropPrefix(prefix []byte) {
	s.entries = slices.DeleteFunc(s.entries, func(e stagedEntry) bool { return strings.HasPrefix(e.key, string(prefix)) })
	s.reindex()
}

// sorted sorts the entries by key and returns them; the index is dropped (the
// writes are about to be flushed).
func (s *stagedWrites) sorted() []stagedEntry {
	slices.SortFunc(s.entries, func(a, b stagedEntry) int { return strings.Compare(a.key, b.key) })
	s.index = nil
	return s.entries
}

func (s *stagedWrites) reset() { s.entries, s.index = s.entries[:0], nil }

// valueCopy returns a copy of entry i's value.
func (s *stagedWrites) valueCopy(i int) []byte { return bytes.Clone(s.entries[i].value) }
