package client_test

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// byzantineClient returns a sequential client with its own local replica (returned
// too) whose pool has nodes[i] in place of validator i, for the i in nodes; timeout,
// if not zero, is its RequestTimeout.
func (n *net) byzantineClient(t *testing.T, nodes map[int]client.ValidatorNode, timeout time.Duration) (*client.Client, *worker.Worker) {
	vs := append([]client.Validator(nil), n.validators...)
	for i, node := range nodes {
		vs[i] = client.Validator{PublicKey: vs[i].PublicKey, Node: node}
	}
	local := worker.New(worker.Config{Storage: newStore(t, n.genesis), Clock: n.clock})
	return client.New(client.Config{Local: local, Committee: n.committee, Validators: vs, Clock: n.clock, Sequential: true, RequestTimeout: timeout}), local
}

// attackRequestTimeout is the per-call deadline (RequestTimeout) of the clients of the
// attack tests whose validators stall: honest in-process validators answer well within
// it even under -race on a loaded 2-core machine. (A short one, such as 100 ms, cut
// honest answers off there, so that the test failed, or passed without the fallback it
// is about.)
const attackRequestTimeout = 10 * time.Second

// attackSyncTimeout is the deadline of a whole sync in those tests: far beyond one call's,
// so that reaching it means the client waited on a stalling validator.
const attackSyncTimeout = 2 * time.Minute

// stall is a call to a validator that never answers, which only the call's context ends.
// So that a test does not wait out a per-call deadline the client did set, a call whose
// context ends within attackRequestTimeout (the client bounded the call, as it must) ends
// at once with the error that deadline would give; any other call waits for its context,
// the caller's, so that a client that does not bound its calls fails the test.
func stall(ctx context.Context) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= attackRequestTimeout {
		return fmt.Errorf("stalling validator: %w", context.DeadlineExceeded)
	}
	<-ctx.Done()
	return ctx.Err()
}

// stallingNode is a validator that answers chain-info queries honestly (so that it is
// asked) but never answers a blob or certificate download (stall).
type stallingNode struct {
	*deliveringNode
	asked atomic.Int32 // downloads asked of it
}

func (s *stallingNode) ReadBlob(ctx context.Context, _ base.BlobID) (protocol.Blob, error) {
	s.asked.Add(1)
	return protocol.Blob{}, stall(ctx)
}

func (s *stallingNode) Certificates(ctx context.Context, _ base.ChainID, _, _ base.BlockHeight) ([]*protocol.Certificate, error) {
	s.asked.Add(1)
	return nil, stall(ctx)
}

// TestAttackStallingValidatorDownloads: the first validator of the client's pool never
// answers a blob or certificate download. A new client must still learn a child chain
// (its description blob, its parent's creating certificate) and a chain whose block
// published a data blob, falling back to the other validators after its request
// timeout, not when the caller's context ends. Before the fix, the downloads of
// descriptions, creating certificates and blobs (ensureLocalChain, blob, fetchBlob,
// certificate) had no per-call deadline: in process they waited for ever, over RPC for
// the connection's 10 s each, and every blob of a block paid it again.
func TestAttackStallingValidatorDownloads(t *testing.T) {
	alice, carol := prototest.Key("alice"), prototest.Key("carol")
	n := newNet(t, []*crypto.PrivateKey{alice}, base.Tokens(100))
	setup := context.Background()
	a := n.client().Chain(n.chains[0], alice, nil)
	child, _, err := a.OpenChain(setup, protocol.SingleSuperOwner(carol.Public().Owner()), base.Tokens(20))
	if err != nil {
		t.Fatalf("open chain: %v", err)
	}
	hash, _, err := a.PublishDataBlob(setup, []byte("a blob that a new replica must fetch"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	for _, tc := range []struct {
		name  string
		chain base.ChainID
	}{{"child chain", child}, {"published blob", n.chains[0]}} {
		t.Run(tc.name, func(t *testing.T) {
			staller := &stallingNode{deliveringNode: n.node(0)}
			c, local := n.byzantineClient(t, map[int]client.ValidatorNode{0: staller}, attackRequestTimeout)
			ctx, cancel := context.WithTimeout(context.Background(), attackSyncTimeout)
			defer cancel()
			next, err := c.SyncChain(ctx, tc.chain)
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			honest, err := n.workers[1].HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: tc.chain})
			if err != nil {
				t.Fatal(err)
			}
			tip, err := c.LocalTip(ctx, tc.chain)
			if err != nil || next != honest.NextBlockHeight || !reflect.DeepEqual(tip.BlockHash, honest.BlockHash) {
				t.Fatalf("synced to %d (tip %s, %v), want the honest %d (%s)", next, tip.BlockHash, err, honest.NextBlockHeight, honest.BlockHash)
			}
			if _, err := local.Storage().Blob(ctx, base.BlobID{Type: base.BlobData, Hash: hash}); tc.chain == n.chains[0] && err != nil {
				t.Fatalf("published blob not fetched: %v", err)
			}
			if staller.asked.Load() == 0 {
				t.Fatal("the stalling validator was never asked: the test did not exercise the fallback")
			}
		})
	}
}
