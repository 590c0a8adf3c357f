package chain

import (
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

func bundle(h base.BlockHeight, tx uint32, kind protocol.MessageKind) protocol.MessageBundle {
	return protocol.MessageBundle{Height: h, TransactionIndex: tx, Timestamp: base.Timestamp(h),
		Messages: []protocol.PostedMessage{{Kind: kind, Message: protocol.Message{System: &protocol.Credit{Amount: base.Tokens(1)}}}}}
}

func TestInboxExactlyOnce(t *testing.T) {
	var in Inbox
	b := bundle(1, 0, protocol.Tracked)
	if added, err := in.AddBundle(b); !added || err != nil {
		t.Fatalf("first delivery: %v %v", added, err)
	}
	if added, err := in.AddBundle(b); added || err != nil {
		t.Fatalf("duplicate delivery was added again: %v %v", added, err)
	}
	if err := in.RemoveBundle(&b, true); err != nil {
		t.Fatal(err)
	}
	if added, _ := in.AddBundle(b); added {
		t.Fatal("delivery after receipt was added again")
	}
	if err := in.RemoveBundle(&b, true); !errors.Is(err, ErrBundleOutOfOrder) {
		t.Fatalf("receiving twice: %v", err)
	}
}

func TestInboxMissingAndAnticipation(t *testing.T) {
	var in Inbox
	b := bundle(2, 1, protocol.Tracked)
	if err := in.RemoveBundle(&b, true); !errors.Is(err, ErrMissingBundle) {
		t.Fatalf("voting without the bundle: %v", err)
	}
	var in2 Inbox
	if err := in2.RemoveBundle(&b, false); err != nil {
		t.Fatalf("certified block consuming an undelivered bundle: %v", err)
	}
	if added, err := in2.AddBundle(b); !added || err != nil || len(in2.Added) != 0 || len(in2.Removed) != 0 {
		t.Fatalf("late delivery of an anticipated bundle: %v %v %+v", added, err, in2)
	}
	var in3 Inbox
	_ = in3.RemoveBundle(&b, false)
	other := b
	other.Messages = nil
	if _, err := in3.AddBundle(other); !errors.Is(err, ErrBundleMismatch) {
		t.Fatalf("delivery differing from the consumed bundle: %v", err)
	}
}

func TestInboxSkipping(t *testing.T) {
	var in Inbox
	simple, tracked, later := bundle(1, 0, protocol.Simple), bundle(1, 1, protocol.Tracked), bundle(2, 0, protocol.Tracked)
	for _, b := range []protocol.MessageBundle{simple, tracked, later} {
		if _, err := in.AddBundle(b); err != nil {
			t.Fatal(err)
		}
	}
	saved := codec.Marshal(&in)
	// Skipping a tracked bundle is refused.
	if err := in.RemoveBundle(&later, true); !errors.Is(err, ErrUnskippableBundle) {
		t.Fatalf("skipped a tracked bundle: %v", err)
	}
	var fresh Inbox
	if err := codec.Unmarshal(saved, &fresh); err != nil {
		t.Fatal(err)
	}
	// Skipping a simple one is allowed.
	if err := fresh.RemoveBundle(&tracked, true); err != nil {
		t.Fatalf("skipping a simple bundle: %v", err)
	}
	if len(fresh.Added) != 1 || fresh.Added[0].Height != 2 {
		t.Fatalf("inbox after skip: %+v", fresh.Added)
	}
}
