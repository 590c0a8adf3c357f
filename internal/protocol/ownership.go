package protocol

import (
	"math"
	"math/bits"
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// TimeoutConfig sets how long each round lasts before clients may request a timeout.
type TimeoutConfig struct {
	// FastRoundDuration bounds the fast round when regular owners exist; nil means never.
	FastRoundDuration *base.TimeDelta
	BaseTimeout       base.TimeDelta
	TimeoutIncrement  base.TimeDelta
}

// DefaultTimeoutConfig is 10 s base timeout, +1 s per round, no fast-round timeout.
func DefaultTimeoutConfig() TimeoutConfig {
	return TimeoutConfig{BaseTimeout: 10_000_000, TimeoutIncrement: 1_000_000}
}

func (t *TimeoutConfig) Encode(w *codec.Writer) {
	encOptTimeDelta(w, t.FastRoundDuration)
	w.U64(uint64(t.BaseTimeout))
	w.U64(uint64(t.TimeoutIncrement))
}

func (t *TimeoutConfig) Decode(r *codec.Reader) {
	t.FastRoundDuration = decOptTimeDelta(r)
	t.BaseTimeout = base.TimeDelta(r.U64())
	t.TimeoutIncrement = base.TimeDelta(r.U64())
}

// OwnerWeight is a regular owner with its leader-election weight.
type OwnerWeight struct {
	Owner  base.Owner
	Weight uint64
}

// ChainOwnership says who may propose blocks on a chain, and in which rounds.
//
// Invariant: SuperOwners and Owners are strictly sorted by owner, without repeats.
type ChainOwnership struct {
	// SuperOwners may propose in the fast round and in any non-validator round.
	SuperOwners []base.Owner
	// Owners may propose in multi-leader rounds and when elected leader.
	Owners []OwnerWeight
	// MultiLeaderRounds is the number of multi-leader rounds before single-leader rounds.
	MultiLeaderRounds uint32
	// OpenMultiLeaderRounds lets anyone propose in multi-leader rounds.
	OpenMultiLeaderRounds bool
	Timeouts              TimeoutConfig
}

// SingleOwner returns the ownership of a chain with one regular owner (weight 100).
func SingleOwner(o base.Owner) ChainOwnership {
	return ChainOwnership{Owners: []OwnerWeight{{Owner: o, Weight: 100}}, MultiLeaderRounds: 2, Timeouts: DefaultTimeoutConfig()}
}

// SingleSuperOwner returns the ownership of a chain with one super owner: its blocks
// commit in the fast round.
func SingleSuperOwner(o base.Owner) ChainOwnership {
	return ChainOwnership{SuperOwners: []base.Owner{o}, MultiLeaderRounds: 2, Timeouts: DefaultTimeoutConfig()}
}

// MultiOwner returns an ownership with the given regular owners (equal weights) and
// multi-leader rounds. Owners are sorted and deduplicated.
func MultiOwner(owners []base.Owner, multiLeaderRounds uint32) ChainOwnership {
	s := slices.Clone(owners)
	slices.SortFunc(s, base.Owner.Compare)
	s = slices.Compact(s)
	ow := make([]OwnerWeight, len(s))
	for i, o := range s {
		ow[i] = OwnerWeight{Owner: o, Weight: 100}
	}
	return ChainOwnership{Owners: ow, MultiLeaderRounds: multiLeaderRounds, Timeouts: DefaultTimeoutConfig()}
}

// Validate checks the sorting invariant and weights.
func (o *ChainOwnership) Validate() error {
	for i := 1; i < len(o.SuperOwners); i++ {
		if o.SuperOwners[i-1].Compare(o.SuperOwners[i]) >= 0 {
			return base.Invalidf("super owners must be sorted and distinct")
		}
	}
	for i := range o.Owners {
		if i > 0 && o.Owners[i-1].Owner.Compare(o.Owners[i].Owner) >= 0 {
			return base.Invalidf("owners must be sorted and distinct")
		}
		if o.Owners[i].Weight == 0 {
			return base.Invalidf("owner %s has weight 0", o.Owners[i].Owner)
		}
	}
	return nil
}

// IsSuperOwner reports whether o is a super owner.
func (o *ChainOwnership) IsSuperOwner(x base.Owner) bool {
	_, ok := slices.BinarySearchFunc(o.SuperOwners, x, base.Owner.Compare)
	return ok
}

// IsOwner reports whether x is a regular owner.
func (o *ChainOwnership) IsOwner(x base.Owner) bool {
	_, ok := slices.BinarySearchFunc(o.Owners, x, func(a OwnerWeight, b base.Owner) int { return a.Owner.Compare(b) })
	return ok
}

// IsAnyOwner reports whether x is a super owner or a regular owner.
func (o *ChainOwnership) IsAnyOwner(x base.Owner) bool { return o.IsSuperOwner(x) || o.IsOwner(x) }

// IsActive reports whether anyone may propose blocks at all.
func (o *ChainOwnership) IsActive() bool { return len(o.SuperOwners) > 0 || len(o.Owners) > 0 }

// FirstRound is the round a new height starts in.
func (o *ChainOwnership) FirstRound() base.Round {
	switch {
	case len(o.SuperOwners) > 0:
		return base.FastRound
	case len(o.Owners) == 0:
		return base.ValidatorRound(0)
	case o.MultiLeaderRounds > 0:
		return base.MultiLeader(0)
	default:
		return base.SingleLeader(0)
	}
}

// NextRound returns the round after r, and false if there is none.
func (o *ChainOwnership) NextRound(r base.Round) (base.Round, bool) {
	switch r.Kind {
	case base.RoundFast:
		if o.MultiLeaderRounds > 0 {
			return base.MultiLeader(0), true
		}
		return base.SingleLeader(0), true
	case base.RoundMultiLeader:
		if r.Number+1 < o.MultiLeaderRounds {
			return base.MultiLeader(r.Number + 1), true
		}
		return base.SingleLeader(0), true
	case base.RoundSingleLeader:
		if r.Number == math.MaxUint32 {
			return base.ValidatorRound(0), true
		}
		return base.SingleLeader(r.Number + 1), true
	case base.RoundValidator:
		if r.Number == math.MaxUint32 {
			return r, false
		}
		return base.ValidatorRound(r.Number + 1), true
	}
	return r, false
}

// RoundTimeout returns how long round r lasts, and false if it never times out. Only the
// last multi-leader round times out; earlier ones are left by proposing in a later round.
func (o *ChainOwnership) RoundTimeout(r base.Round) (base.TimeDelta, bool) {
	tc := &o.Timeouts
	switch r.Kind {
	case base.RoundFast:
		if tc.FastRoundDuration == nil || len(o.Owners) == 0 {
			return 0, false
		}
		return *tc.FastRoundDuration, true
	case base.RoundMultiLeader:
		if r.Number+1 < o.MultiLeaderRounds {
			return 0, false
		}
		return tc.BaseTimeout, true
	default:
		// base + r × increment, saturating at the maximum: a wrapped sum would be a
		// short timeout that lets anyone leave the round right away.
		hi, inc := bits.Mul64(uint64(tc.TimeoutIncrement), uint64(r.Number))
		if hi != 0 {
			return base.TimeDelta(math.MaxUint64), true
		}
		sum, carry := bits.Add64(uint64(tc.BaseTimeout), inc, 0)
		if carry != 0 {
			return base.TimeDelta(math.MaxUint64), true
		}
		return base.TimeDelta(sum), true
	}
}

func (o *ChainOwnership) Encode(w *codec.Writer) {
	encOwners(w, o.SuperOwners)
	codec.EncodeSlice(w, o.Owners, func(w *codec.Writer, ow *OwnerWeight) { w.Owner(ow.Owner); w.U64(ow.Weight) })
	w.U32(o.MultiLeaderRounds)
	w.Bool(o.OpenMultiLeaderRounds)
	o.Timeouts.Encode(w)
}

func (o *ChainOwnership) Decode(r *codec.Reader) {
	o.SuperOwners = decSortedOwners(r)
	o.Owners = codec.DecodeSlice(r, 10, func(r *codec.Reader, ow *OwnerWeight) { ow.Owner = r.Owner(); ow.Weight = r.U64() })
	o.MultiLeaderRounds = r.U32()
	o.OpenMultiLeaderRounds = r.Bool()
	o.Timeouts.Decode(r)
	if r.Err() == nil {
		if err := o.Validate(); err != nil {
			r.Fail("%v", err)
		}
	}
}

// ApplicationPermissions restrict what a chain's blocks may do. The zero value allows
// everything.
type ApplicationPermissions struct {
	// ExecuteOperations, when set, lists the only applications whose operations blocks may
	// contain; system operations (other than epoch processing) are then refused.
	ExecuteOperations *[]base.ApplicationID
	// MandatoryApplications must each have an operation in every block.
	MandatoryApplications []base.ApplicationID
	// ManageChain, when set, lists the applications that may close the chain or change its
	// ownership or permissions; nil means owners do it directly.
	ManageChain *[]base.ApplicationID
}

func (p *ApplicationPermissions) Encode(w *codec.Writer) {
	encOptAppIDs(w, p.ExecuteOperations)
	encAppIDs(w, p.MandatoryApplications)
	encOptAppIDs(w, p.ManageChain)
}

func (p *ApplicationPermissions) Decode(r *codec.Reader) {
	p.ExecuteOperations = decOptAppIDs(r)
	p.MandatoryApplications = decAppIDs(r)
	p.ManageChain = decOptAppIDs(r)
}

// AllowsSystemOperations reports whether blocks may contain system operations that are
// not epoch processing.
func (p *ApplicationPermissions) AllowsSystemOperations() bool { return p.ExecuteOperations == nil }

// AllowsApplication reports whether operations of app are allowed.
func (p *ApplicationPermissions) AllowsApplication(app base.ApplicationID) bool {
	return p.ExecuteOperations == nil || slices.Contains(*p.ExecuteOperations, app)
}
