//go:build invariants

package kv

import (
	"bytes"
	"fmt"
)

// ownedChecks keeps, with the invariants tag (which CI sets), a copy of every value
// PutOwned took, and Ops compares the ops' values with them: a caller that modified a
// value it handed over is caught at the next Write (every store reads the ops through
// Ops), not by a store holding other bytes than the batch was given.
type ownedChecks struct {
	taken []ownedValue
}

type ownedValue struct {
	op   int
	copy []byte
}

func (c *ownedChecks) record(op int, value []byte) {
	c.taken = append(c.taken, ownedValue{op: op, copy: bytes.Clone(value)})
}

// append adds o's records for ops that now start at index first.
func (c *ownedChecks) append(o *ownedChecks, first int) {
	for _, t := range o.taken {
		c.taken = append(c.taken, ownedValue{op: first + t.op, copy: t.copy})
	}
}

func (c *ownedChecks) reset() { c.taken = nil }

func (c *ownedChecks) check(ops []Op) {
	for _, t := range c.taken {
		if !bytes.Equal(ops[t.op].Value, t.copy) {
			panic(fmt.Sprintf("kv: the value of op %d (key %x) was modified after PutOwned took it", t.op, ops[t.op].Key))
		}
	}
}
