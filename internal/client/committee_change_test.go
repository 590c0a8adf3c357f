package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// TestCommitteeChangeWithNewValidator walks a committee change end to end in process: a
// fifth validator that starts empty joins in epoch 1, the client reaches it through
// the address of the verified committee (Config.Dial), catches it up on the chain's
// history and the admin chain, and it votes; an original validator leaves in epoch 2
// and stops; a chain left in a removed epoch is refused with EpochRemovedError until it
// migrates.
func TestCommitteeChangeWithNewValidator(t *testing.T) {
	ctx := context.Background()
	alice, bob, carol := prototest.Key("alice"), prototest.Key("bob"), prototest.Key("carol")
	n := newNet(t, []*crypto.PrivateKey{alice, bob, carol}, base.Tokens(100))

	// The new validator: a key outside the genesis committee and an empty store.
	newKey := prototest.Key("validator-new")
	newWorker := worker.New(worker.Config{Storage: newStore(t, n.genesis), Signer: newKey, Clock: n.clock})
	newNode := &deliveringNode{w: newWorker}
	dialed := 0
	mk := func() *client.Client {
		local := worker.New(worker.Config{Storage: newStore(t, n.genesis), Clock: n.clock})
		return client.New(client.Config{Local: local, Committee: n.committee, Validators: n.validators, Clock: n.clock, Sequential: true,
			Dial: func(_ context.Context, v protocol.ValidatorState) (client.ValidatorNode, error) {
				if v.PublicKey.Compare(newKey.Public()) != 0 || v.NetworkAddress != "127.0.0.1:14000" {
					t.Errorf("dialed %s at %s, want the new validator", v.PublicKey, v.NetworkAddress)
					return nil, errors.New("unknown")
				}
				dialed++
				return newNode, nil
			}})
	}
	cl := mk()
	admin := cl.Chain(n.chains[0], alice, nil)
	b := cl.Chain(n.chains[1], bob, nil)
	c := cl.Chain(n.chains[2], carol, nil)
	// History before the change, so that the new validator must be caught up.
	for range 2 {
		if _, err := b.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[2]}, base.Tokens(1)); err != nil {
			t.Fatal(err)
		}
	}

	if dialed != 0 {
		t.Fatalf("dialed %d validators before any committee named one", dialed)
	}
	// Epoch 1: the genesis committee plus the new validator.
	vs := append([]protocol.ValidatorState(nil), n.committee.Validators...)
	vs = append(vs, protocol.ValidatorState{PublicKey: newKey.Public(), NetworkAddress: "127.0.0.1:14000", Votes: 1})
	e1, err := protocol.NewCommittee(vs, n.committee.Policy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.CreateCommittee{Epoch: 1, Committee: *e1})}, nil); err != nil {
		t.Fatalf("create committee 1: %v", err)
	}
	cert, st, err := b.MigrateEpochs(ctx)
	if err != nil || cert == nil {
		t.Fatalf("migrate B: %v (cert %v)", err, cert)
	}
	if st.Epoch != 0 || st.AdminEpoch != 1 {
		t.Fatalf("status before migration: epoch %d, admin epoch %d; want 0, 1", st.Epoch, st.AdminEpoch)
	}
	// Nothing left to do: a second call commits nothing.
	if cert, _, err := b.MigrateEpochs(ctx); err != nil || cert != nil {
		t.Fatalf("second migration: %v, %v; want nothing", cert, err)
	}
	cert, err = b.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(1))
	if err != nil {
		t.Fatalf("transfer in epoch 1: %v", err)
	}
	if cert.Epoch() != 1 {
		t.Fatalf("block in epoch %d, want 1", cert.Epoch())
	}
	if dialed != 1 {
		t.Fatalf("dialed the new validator %d times, want 1", dialed)
	}
	info, err := newWorker.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: n.chains[1]})
	if err != nil || info.NextBlockHeight != cert.Height()+1 || info.Epoch != 1 {
		t.Fatalf("the new validator has B at height %v epoch %v (%v), want %d in epoch 1", info.NextBlockHeight, info.Epoch, err, cert.Height()+1)
	}

	// Epoch 2: without the first original validator, which then stops.
	gone := n.committee.Validators[0].PublicKey
	e2, err := protocol.NewCommittee(vs[1:], n.committee.Policy)
	if err != nil {
		t.Fatal(err)
	}
	if e2.Weight(gone) != 0 {
		t.Fatal("test setup: the removed validator is still in epoch 2")
	}
	if _, err := admin.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.CreateCommittee{Epoch: 2, Committee: *e2})}, nil); err != nil {
		t.Fatalf("create committee 2: %v", err)
	}
	n.node(0).off.Store(true)
	if _, _, err := b.MigrateEpochs(ctx); err != nil {
		t.Fatalf("migrate B to epoch 2: %v", err)
	}
	if _, err := admin.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.RemoveCommittee{Epoch: 0})}, nil); err != nil {
		t.Fatalf("remove epoch 0: %v", err)
	}
	// B migrates again: it stops trusting epoch 0.
	if cert, _, err := b.MigrateEpochs(ctx); err != nil || cert == nil {
		t.Fatalf("B processes the removed epoch: %v, %v", cert, err)
	}
	st, err = cl.EpochStatus(ctx, n.chains[1])
	if err != nil || st.Epoch != 2 || len(st.Trusted) != 2 || st.Trusted[0] != 1 {
		t.Fatalf("B's status: %+v, %v; want epoch 2 trusting 1 and 2", st, err)
	}
	if _, err := b.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(1)); err != nil {
		t.Fatalf("transfer in epoch 2 without the removed validator: %v", err)
	}

	// C never migrated: it is in removed epoch 0 and is told what to do.
	_, err = c.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(1))
	var removed *client.EpochRemovedError
	if !errors.As(err, &removed) || removed.Epoch != 0 || removed.AdminEpoch != 2 || !base.IsInvalid(err) {
		t.Fatalf("transfer from a chain in a removed epoch: %v, want EpochRemovedError", err)
	}
	// Migrating is allowed and fixes it.
	if cert, _, err := c.MigrateEpochs(ctx); err != nil || cert == nil {
		t.Fatalf("migrate C: %v, %v", cert, err)
	}
	if _, err := c.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(1)); err != nil {
		t.Fatalf("transfer after migrating C: %v", err)
	}
	// A fresh client learns the new validator from the admin chain's committees.
	cl2 := mk()
	if _, err := cl2.SyncChain(ctx, n.chains[0]); err != nil {
		t.Fatal(err)
	}
	if err := cl2.LearnValidators(ctx, n.chains[1]); err != nil {
		t.Fatal(err)
	}
	if got := len(cl2.Validators()); got != 5 {
		t.Fatalf("a fresh client's pool has %d validators, want 5", got)
	}
}

// TestCommitteeOpsRefusedOffAdmin: a chain other than the admin chain cannot change the
// committee (the execution refuses; the client reports it).
func TestCommitteeOpsRefusedOffAdmin(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	b := n.client().Chain(n.chains[1], bob, nil)
	_, err := b.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.CreateCommittee{Epoch: 1, Committee: *n.committee})}, nil)
	if err == nil {
		t.Fatal("a user chain created a committee")
	}
}

func TestEpochStatusMigration(t *testing.T) {
	var a, x base.ChainID
	a[0], x[0] = 1, 2
	live := func(es ...base.Epoch) []protocol.EpochCommittee {
		var out []protocol.EpochCommittee
		for _, e := range es {
			out = append(out, protocol.EpochCommittee{Epoch: e})
		}
		return out
	}
	type op struct {
		newEpoch bool
		e        base.Epoch
	}
	for _, tc := range []struct {
		name    string
		st      client.EpochStatus
		want    []op
		removed bool
	}{
		{"up to date", client.EpochStatus{Chain: x, Admin: a, Epoch: 1, Trusted: []base.Epoch{0, 1}, AdminEpoch: 1, AdminTrusted: live(0, 1)}, nil, false},
		{"new epoch", client.EpochStatus{Chain: x, Admin: a, Epoch: 0, Trusted: []base.Epoch{0}, AdminEpoch: 2, AdminTrusted: live(0, 1, 2)}, []op{{true, 2}}, false},
		{"new epoch, old removed", client.EpochStatus{Chain: x, Admin: a, Epoch: 0, Trusted: []base.Epoch{0}, AdminEpoch: 2, AdminTrusted: live(1, 2)}, []op{{true, 2}, {false, 0}}, true},
		{"only removals", client.EpochStatus{Chain: x, Admin: a, Epoch: 2, Trusted: []base.Epoch{0, 1, 2}, AdminEpoch: 2, AdminTrusted: live(2)}, []op{{false, 0}, {false, 1}}, false},
		{"admin chain", client.EpochStatus{Chain: a, Admin: a, Epoch: 2, Trusted: []base.Epoch{0, 2}, AdminEpoch: 2, AdminTrusted: live(2)}, nil, false},
		// The local replica of the admin chain lags the chain: nothing to do, not removed.
		{"admin replica behind", client.EpochStatus{Chain: x, Admin: a, Epoch: 3, Trusted: []base.Epoch{3}, AdminEpoch: 0, AdminTrusted: live(0)}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := tc.st.Migration()
			if len(ops) != len(tc.want) {
				t.Fatalf("%d operations, want %d", len(ops), len(tc.want))
			}
			for i, o := range ops {
				switch s := o.System.(type) {
				case *protocol.ProcessNewEpoch:
					if !tc.want[i].newEpoch || s.Epoch != tc.want[i].e {
						t.Fatalf("op %d: new epoch %d, want %+v", i, s.Epoch, tc.want[i])
					}
				case *protocol.ProcessRemovedEpoch:
					if tc.want[i].newEpoch || s.Epoch != tc.want[i].e {
						t.Fatalf("op %d: removed epoch %d, want %+v", i, s.Epoch, tc.want[i])
					}
				default:
					t.Fatalf("op %d: %T", i, s)
				}
			}
			if tc.st.Removed() != tc.removed {
				t.Fatalf("Removed() = %v, want %v", tc.st.Removed(), tc.removed)
			}
		})
	}
}
