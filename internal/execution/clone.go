package execution

import (
	"bytes"
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// Values that enter the state or an outcome are deep-copied, so that neither the caller's
// transaction nor a later mutation of the outcome can alias staged state.

func cloneOwnerPtr(o *base.Owner) *base.Owner {
	if o == nil {
		return nil
	}
	c := *o
	return &c
}

func cloneOwnership(o protocol.ChainOwnership) protocol.ChainOwnership {
	o.SuperOwners = slices.Clone(o.SuperOwners)
	o.Owners = slices.Clone(o.Owners)
	if d := o.Timeouts.FastRoundDuration; d != nil {
		v := *d
		o.Timeouts.FastRoundDuration = &v
	}
	return o
}

func cloneAppIDs(p *[]base.ApplicationID) *[]base.ApplicationID {
	if p == nil {
		return nil
	}
	s := slices.Clone(*p)
	if s == nil {
		s = []base.ApplicationID{}
	}
	return &s
}

func clonePermissions(p protocol.ApplicationPermissions) protocol.ApplicationPermissions {
	return protocol.ApplicationPermissions{
		ExecuteOperations:     cloneAppIDs(p.ExecuteOperations),
		MandatoryApplications: slices.Clone(p.MandatoryApplications),
		ManageChain:           cloneAppIDs(p.ManageChain),
	}
}

func cloneStream(s protocol.StreamID) protocol.StreamID {
	out := protocol.StreamID{Name: bytes.Clone(nonNil(s.Name))}
	if s.App != nil {
		a := *s.App
		out.App = &a
	}
	return out
}

// cloneMessage deep-copies a message through its canonical encoding.
func cloneMessage(m protocol.Message) protocol.Message {
	var out protocol.Message
	if err := codec.Unmarshal(codec.Marshal(&m), &out); err != nil {
		// Only a message that does not survive its own encoding gets here; keep the value.
		return m
	}
	return out
}

// encodedLen returns the length of v's canonical encoding.
func encodedLen(v codec.Encoder) int {
	var w codec.Writer
	v.Encode(&w)
	return w.Len()
}
