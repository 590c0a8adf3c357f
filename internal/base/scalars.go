package base

import (
	"fmt"
	"math"
	"time"
)

// Timestamp is a point in time in microseconds since the Unix epoch.
type Timestamp uint64

// TimeDelta is a duration in microseconds.
type TimeDelta uint64

// TimestampFromTime converts a wall-clock time. Only composition roots and clocks call it.
func TimestampFromTime(t time.Time) Timestamp { return Timestamp(t.UnixMicro()) }

// Time converts back to a time.Time in UTC.
func (t Timestamp) Time() time.Time { return time.UnixMicro(int64(t)).UTC() }

// Add returns t + d, saturating at the maximum.
func (t Timestamp) Add(d TimeDelta) Timestamp {
	if uint64(t) > math.MaxUint64-uint64(d) {
		return Timestamp(math.MaxUint64)
	}
	return t + Timestamp(d)
}

func (t Timestamp) String() string { return t.Time().Format(time.RFC3339Nano) }

// Duration converts to a time.Duration, saturating.
func (d TimeDelta) Duration() time.Duration {
	if d > math.MaxInt64/1000 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d) * time.Microsecond
}

// DeltaFromDuration converts a non-negative duration.
func DeltaFromDuration(d time.Duration) TimeDelta {
	if d < 0 {
		return 0
	}
	return TimeDelta(d / time.Microsecond)
}

// BlockHeight is the number of blocks preceding a block on its chain.
type BlockHeight uint64

// Next returns h+1, or an error at the maximum.
func (h BlockHeight) Next() (BlockHeight, error) {
	if h == math.MaxUint64 {
		return 0, Invalidf("block height overflows")
	}
	return h + 1, nil
}

// Epoch is the index of a committee in the admin chain's history.
type Epoch uint32

// Clock gives the current time. It is injected everywhere below the composition root.
type Clock interface {
	Now() Timestamp
}

// RoundKind orders the four kinds of consensus rounds.
type RoundKind uint8

const (
	RoundFast RoundKind = iota
	RoundMultiLeader
	RoundSingleLeader
	RoundValidator
)

// Round is a consensus round within one (chain, height) instance. Rounds are totally
// ordered: Fast < MultiLeader(n) < SingleLeader(n) < Validator(n), numbers within a kind.
type Round struct {
	Kind   RoundKind
	Number uint32
}

// FastRound is the single fast round.
var FastRound = Round{Kind: RoundFast}

func MultiLeader(n uint32) Round  { return Round{Kind: RoundMultiLeader, Number: n} }
func SingleLeader(n uint32) Round { return Round{Kind: RoundSingleLeader, Number: n} }
func ValidatorRound(n uint32) Round {
	return Round{Kind: RoundValidator, Number: n}
}

// Compare returns -1, 0 or +1.
func (r Round) Compare(o Round) int {
	switch {
	case r.Kind < o.Kind:
		return -1
	case r.Kind > o.Kind:
		return 1
	case r.Number < o.Number:
		return -1
	case r.Number > o.Number:
		return 1
	}
	return 0
}

// Less reports r < o.
func (r Round) Less(o Round) bool { return r.Compare(o) < 0 }

// IsFast reports whether r is the fast round.
func (r Round) IsFast() bool { return r.Kind == RoundFast }

// Valid reports whether the kind is known and Fast carries no number.
func (r Round) Valid() bool {
	return r.Kind <= RoundValidator && (r.Kind != RoundFast || r.Number == 0)
}

func (r Round) String() string {
	switch r.Kind {
	case RoundFast:
		return "fast"
	case RoundMultiLeader:
		return fmt.Sprintf("multi-leader(%d)", r.Number)
	case RoundSingleLeader:
		return fmt.Sprintf("single-leader(%d)", r.Number)
	case RoundValidator:
		return fmt.Sprintf("validator(%d)", r.Number)
	}
	return fmt.Sprintf("round(kind=%d,%d)", r.Kind, r.Number)
}
