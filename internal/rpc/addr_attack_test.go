package rpc

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
)

// TestAttackIPv6HostsOfOnePrefixShareTheAddressBound: a stranger with one IPv6 /64 (what
// an ISP or a cloud gives every host) opens heavy requests from as many of its 2^64
// addresses as it likes. They count as one address, so it holds at most
// MaxInFlightPerAddr heavy slots and MaxInFlightPerAddr batch items, as an IPv4 host
// does, and cannot take every slot of the validator from one network (the faucet counts
// IPv6 peers per /64 for the same reason). A host of another /64 is still admitted.
func TestAttackIPv6HostsOfOnePrefixShareTheAddressBound(t *testing.T) {
	l := DefaultLimits(protocol.NoFeesPolicy())
	f := &inFlight{l: &l, slots: make(chan struct{}, l.MaxInFlight), perAddr: map[netip.Addr]int{}}
	heavy := &tap.Info{FullMethodName: pb.ValidatorNode_HandleBlockProposal_FullMethodName}
	var admitted []context.Context
	defer func() {
		for _, ctx := range admitted {
			releaseSlot(ctx)
		}
	}()
	var refused error
	for i := range l.MaxInFlight {
		ctx, err := f.admit(fromAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1)), heavy)
		if err != nil {
			refused = err
			break
		}
		admitted = append(admitted, ctx)
	}
	if len(admitted) != l.MaxInFlightPerAddr {
		t.Fatalf("one /64 holds %d heavy slots of %d, want its address share %d", len(admitted), l.MaxInFlight, l.MaxInFlightPerAddr)
	}
	if status.Code(refused) != codes.ResourceExhausted || !errors.Is(fromStatus(refused), ErrBusy) {
		t.Errorf("refusal %v, want ResourceExhausted carrying ErrBusy", refused)
	}
	ctx, err := f.admit(fromAddr("2001:db8:1:3::1"), heavy)
	if err != nil {
		t.Fatalf("a host of another /64 refused: %v", err)
	}
	admitted = append(admitted, ctx)

	// The batch items' share: one /64's hosts together wait for one address's share.
	slots := newBatchSlots(maxBatchItemsInFlight, maxBatchItemsPerAddr)
	var grants []slotGrant
	defer func() {
		for _, g := range grants {
			slots.release(g)
		}
	}()
	for i := range maxBatchItemsPerAddr {
		ctx := fromAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1))
		g, err := slots.acquire(ctx, remoteIP(ctx), 1)
		if err != nil {
			t.Fatal(err)
		}
		grants = append(grants, g)
	}
	if len(slots.addrs) != 1 {
		t.Fatalf("the batch items of %d hosts of one /64 hold %d address shares, want 1", maxBatchItemsPerAddr, len(slots.addrs))
	}
}
