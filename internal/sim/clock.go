package sim

import (
	"sync"

	"github.com/micachain/mica/internal/base"
)

// ManualClock is a base.Clock that moves only when told to. It is safe for concurrent use.
type ManualClock struct {
	mu  sync.Mutex
	now base.Timestamp
}

// NewManualClock returns a clock showing start.
func NewManualClock(start base.Timestamp) *ManualClock { return &ManualClock{now: start} }

// Now implements base.Clock.
func (c *ManualClock) Now() base.Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d base.TimeDelta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// AdvanceTo moves the clock forward to t; it never moves it back.
func (c *ManualClock) AdvanceTo(t base.Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t > c.now {
		c.now = t
	}
}

var _ base.Clock = (*ManualClock)(nil)
