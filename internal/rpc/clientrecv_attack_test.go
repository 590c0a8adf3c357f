package rpc

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

// paddedField is the (unknown) protobuf field number a padding validator's padding goes
// in: the receiver's decoder accepts it and keeps its bytes.
const paddedField = 15

// paddingProxy is a Byzantine validator's service: it answers chain-info queries as an
// honest one would, with an unknown field of its padding codec's bytes appended (its
// header is set here, the bytes added by padCodec without copying them).
type paddingProxy struct {
	*Proxy
	header []byte
	served atomic.Int64
}

func (p *paddingProxy) HandleChainInfoQuery(ctx context.Context, m *pb.ChainInfoQuery) (*pb.ChainInfoResponse, error) {
	resp, err := p.Proxy.HandleChainInfoQuery(ctx, m)
	if err != nil {
		return nil, err
	}
	resp.ProtoReflect().SetUnknown(p.header)
	p.served.Add(1)
	return resp, nil
}

// padCodec is wireCodec, but for a chain-info answer with unknown fields (paddingProxy's
// header), which it sends followed by pad, referenced: the padding validator allocates
// none of it, so what a test measures is what its clients allocate.
type padCodec struct {
	wireCodec
	pad []byte
}

func (c padCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*pb.ChainInfoResponse)
	if !ok || len(m.ProtoReflect().GetUnknown()) == 0 {
		return c.wireCodec.Marshal(v)
	}
	head, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(head), mem.SliceBuffer(c.pad)}, nil
}

// replaceWithPadder stops validator i of n and puts in its place a Byzantine one with
// its key (over a fresh store at genesis) whose chain-info answers carry pad bytes of
// padding.
func (n *testNet) replaceWithPadder(i, pad int) *paddingProxy {
	tb := n.tb
	tb.Helper()
	n.vals[i].stop()
	key := n.vals[i].key
	ctx, cancel := context.WithCancel(context.Background())
	v := &testValidator{key: key, cancel: cancel}
	w := worker.New(worker.Config{Storage: newStore(tb, n.genesis), Signer: key, Clock: sysClock{}, PendingBundleBytes: true})
	proxy, err := NewValidatorServer(w, ProxyConfig{Notifier: NewNotifier(0)})
	if err != nil {
		tb.Fatal(err)
	}
	liar := &paddingProxy{Proxy: proxy, header: protowire.AppendVarint(protowire.AppendTag(nil, paddedField, protowire.BytesType), uint64(pad))}
	limits := DefaultLimits(protocol.NoFeesPolicy())
	limits.MaxAnswerBytes = 0 // answers sent as they are (padCodec), not tracked
	srv := NewServer(listen(tb), ServerConfig{Limits: &limits, Options: []grpc.ServerOption{grpc.ForceServerCodecV2(padCodec{wireCodec: wireCodec{pool: wireBuffers}, pad: make([]byte, pad)})}})
	pb.RegisterValidatorNodeServer(srv.Registrar(), liar)
	v.proxy, v.addr = srv, srv.Addr().String()
	v.wg.Go(func() { _ = srv.Run(ctx) })
	v.wg.Go(func() { _ = w.Run(ctx, 20*time.Millisecond) })
	tb.Cleanup(v.stop)
	node, err := Dial(context.Background(), v.addr, DialOptions{GenesisHash: n.genesis.Hash(), CallTimeout: 30 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = node.Close() })
	v.node = node
	n.vals[i] = v
	return liar
}

// allocatedPer returns the bytes the process allocated per call of f (over calls), and
// fails the test if f fails.
func allocatedPer(tb testing.TB, calls int, f func() error) uint64 {
	tb.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range calls {
		if err := f(); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(calls)
}

// TestAttackChainInfoPadding: one validator of four answers every chain-info query with
// a valid answer followed by 40 MiB of an unknown protobuf field, which the decoder
// accepts. The client received and decoded such answers up to the transport's 64 MiB,
// about 80 MiB allocated per query (the message gathered, then the field copied), on
// its syncs and its queries of pending bundles. Each query now carries the largest
// answer an honest validator sends for its flags under the committee's policy as its
// receive limit (client.ChainInfoAnswerLimit): gRPC refuses the padded answer from its
// length prefix, the padding validator counts as failed, and the calls succeed from the
// three honest ones, allocating a few hundred KB.
func TestAttackChainInfoPadding(t *testing.T) {
	const pad = 40 << 20
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 1)
	liar := n.replaceWithPadder(3, pad)
	ctx := context.Background()
	// A grace period longer than any call: every fan-out waits for the padding
	// validator's answer (or failure), so its cost falls within the measurement.
	c := n.client(time.Minute)
	a := c.Chain(n.chains[0], keys[0], nil)
	if _, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1)); err != nil {
		t.Fatal(err)
	}
	n.waitInbox(n.chains[1], 1, []int{0, 1, 2})
	id := n.chains[1]
	for _, tc := range []struct {
		name string
		q    protocol.ChainInfoQuery
		call func() error
	}{
		{"sync", protocol.ChainInfoQuery{ChainID: id}, func() error {
			_, err := c.SyncChain(ctx, id)
			return err
		}},
		{"pending", protocol.ChainInfoQuery{ChainID: id, RequestPendingBundles: true}, func() error {
			bs, err := c.PendingBundles(ctx, id)
			if err == nil && len(bs) != 1 {
				err = fmt.Errorf("%d pending bundles, want 1", len(bs))
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil { // warm up: connections, caches
				t.Fatal(err)
			}
			served := liar.served.Load()
			const calls = 3
			per := allocatedPer(t, calls, tc.call)
			if got := liar.served.Load() - served; got < calls {
				t.Fatalf("the padding validator answered %d of %d queries", got, calls)
			}
			honest := client.ChainInfoAnswerLimit(n.committee, &tc.q)
			t.Logf("%s: %.1f MiB allocated per query with a validator padding its answers by %d MiB (honest bound %.1f MiB)", tc.name, float64(per)/(1<<20), pad>>20, float64(honest)/(1<<20))
			if per >= uint64(honest) || per >= pad {
				t.Fatalf("%s: %d bytes allocated per query, want under the honest bound %d", tc.name, per, honest)
			}
		})
	}
}

// smallPolicyCommittee returns the committee of keys with 1 MiB blocks and outcomes, so
// that an honest answer near the bound is cheap to build.
func smallPolicyCommittee(tb testing.TB, keys []*crypto.PrivateKey) *protocol.Committee {
	tb.Helper()
	p := protocol.NoFeesPolicy()
	p.MaxBlockSize, p.MaxBlockOutcomeBytes, p.MaxBlobSize, p.MaxBytecodeSize = 1<<20, 1<<20, 512<<10, 256<<10
	c, err := protocol.NewCommittee(prototest.Committee(keys).Validators, p)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// manyOwners returns an ownership of alice as super owner and k regular owners.
func manyOwners(alice base.Owner, k int) protocol.ChainOwnership {
	own := protocol.SingleSuperOwner(alice)
	own.Owners = make([]protocol.OwnerWeight, k)
	for i := range own.Owners {
		var h base.Hash
		h[0], h[1], h[2], h[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		own.Owners[i] = protocol.OwnerWeight{Owner: base.Address32Owner(h), Weight: 1}
	}
	return own
}

// TestChainInfoLimitHonestLargeOwnership: under a policy of 1 MiB blocks, a chain whose
// ownership a block set to about 0.9 MiB is answered by honest validators within the
// receive limit of a query without flags (client.ChainInfoAnswerLimit, about 2 MiB), so
// a fresh client syncs it with one validator of four padding its answers past the limit
// (refused from the length prefix, not retried); a padded answer under the transport's
// limit but over the honest bound fails the call.
func TestChainInfoLimitHonestLargeOwnership(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	vkeys := prototest.Validators(4)
	committee := smallPolicyCommittee(t, vkeys)
	n := newTestNetOf(t, vkeys, committee, keys, 1, 30*time.Second)
	n.requestTimeout = 30 * time.Second
	q := &protocol.ChainInfoQuery{ChainID: n.chains[0]}
	limit := client.ChainInfoAnswerLimit(committee, q)
	liar := n.replaceWithPadder(3, limit)
	ctx := context.Background()
	own := manyOwners(keys[0].Public().Owner(), 22_000)
	a := n.client(0).Chain(n.chains[0], keys[0], nil)
	if _, err := a.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.ChangeOwnership{Ownership: own})}, nil); err != nil {
		t.Fatalf("change ownership: %v", err)
	}
	n.waitHeight(n.chains[0], 1, []int{0, 1, 2})
	info, err := n.vals[0].node.HandleChainInfoQuery(client.WithReceiveLimit(ctx, limit), q)
	if err != nil || len(info.Manager.Ownership.Owners) != len(own.Owners) {
		t.Fatalf("honest answer under the limit of %d bytes: %v", limit, err)
	}
	size := len(codec.Marshal(info))
	t.Logf("honest answer of %d bytes, receive limit %d", size, limit)
	if size < int(committee.Policy.MaxBlockSize)*3/4 {
		t.Fatalf("honest answer of %d bytes: not near the bound", size)
	}
	if _, err := n.vals[3].node.HandleChainInfoQuery(client.WithReceiveLimit(ctx, limit), q); err == nil || errors.Is(err, ErrBusy) {
		t.Fatalf("padded answer over the limit of %d: %v, want refused (not retried)", limit, err)
	}
	served := liar.served.Load()
	fresh := n.client(0)
	if next, err := fresh.SyncChain(ctx, n.chains[0]); err != nil || next != 1 {
		t.Fatalf("fresh client synced to %d (%v), want 1", next, err)
	}
	if liar.served.Load() == served {
		t.Fatal("the padding validator was not asked")
	}
}
