package client_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// transportLimit is the transport's message limit (rpc.MaxMessageSize): what a download's
// answer may weigh when the client sets no receive limit of its own.
const transportLimit = 64 << 20

// meter counts what the downloads in flight may make the client receive at once (the
// sum of their receive limits) and the peak of it, and the downloads made without a
// receive limit or refused for their size.
type meter struct {
	mu                       sync.Mutex
	inFlight, peak           int
	unlimited, refused, many int
}

func (m *meter) add(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inFlight += n
	m.peak = max(m.peak, m.inFlight)
}

func (m *meter) count(p *int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	*p++
}

// transportNode is a validator as the client reaches it over the transport: a
// download's answer holds the certificates asked while they fit answerBytes (the first
// always: the RPC server's bound, client.MaxDownloadAnswerBytes, unless set), and an
// answer over the call's receive limit (client.ReceiveLimit; none: the transport's) fails
// the call, as gRPC refuses it. A stalling one is Byzantine: it sends answers as large as
// the receive limit so slowly that the call ends at its deadline.
type transportNode struct {
	*deliveringNode
	m           *meter
	stall       bool
	answerBytes int
}

func (n *transportNode) Certificates(ctx context.Context, id base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	limit := client.ReceiveLimit(ctx)
	if limit <= 0 {
		n.m.count(&n.m.unlimited)
		limit = transportLimit
	}
	n.m.add(limit)
	defer n.m.add(-limit)
	if n.stall {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	certs, err := n.deliveringNode.Certificates(ctx, id, from, to)
	if err != nil {
		return nil, err
	}
	bound := n.answerBytes
	if bound == 0 {
		bound = client.MaxDownloadAnswerBytes
	}
	size := 0
	for i, c := range certs {
		s := len(codec.Marshal(c))
		if i > 0 && size+s > bound {
			certs = certs[:i]
			break
		}
		size += s
	}
	if size > limit {
		n.m.count(&n.m.refused)
		return nil, fmt.Errorf("received message larger than max (%d vs. %d)", size, limit)
	}
	if len(certs) > 1 {
		n.m.count(&n.m.many)
	}
	return certs, nil
}

// syncThrough returns a fresh client whose validators are n's behind transportNodes
// counting into m, the first stall of them stalling.
func (n *net) syncThrough(t *testing.T, m *meter, stall, answerBytes int) (*client.Client, *worker.Worker) {
	vs := make([]client.Validator, len(n.validators))
	for i, v := range n.validators {
		vs[i] = client.Validator{PublicKey: v.PublicKey, Node: &transportNode{deliveringNode: n.node(i), m: m, stall: i < stall, answerBytes: answerBytes}}
	}
	local := worker.New(worker.Config{Storage: newStore(t, n.genesis), Clock: n.clock})
	return client.New(client.Config{Local: local, Committee: n.committee, Validators: vs, Clock: n.clock, RequestTimeout: 2 * time.Second}), local
}

// withProcs runs f with GOMAXPROCS at procs (the sync's window follows it).
func withProcs(procs int, f func()) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	f()
}

// TestAttackSyncAnswersInFlight: two validators of four answer a syncing client's
// downloads with messages as large as the client lets them (its receive limit; with
// none, the transport's 64 MiB), so slowly that each call lasts until its deadline. The
// client let every batch of its window (GOMAXPROCS + 2) download with the transport's
// limit, so what it could be made to receive at once grew with its cores: 192 MiB with
// 2 cores, 320 MiB with 8 (and their decoding; 34 × 64 MiB with 32 cores, where every
// batch of the window could be answered so). It now has a budget of SyncGrants
// receive limits (the largest honest answer, about 33 MiB) whatever its cores; the sync
// still completes from the honest validators.
func TestAttackSyncAnswersInFlight(t *testing.T) {
	const blocks = 700 // 11 batches: more than the window of 8 cores
	n := buildSyncNet(t, blocks)
	ctx := context.Background()
	limit := client.SyncAnswerLimit(n.committee)
	bound := client.SyncGrants * limit
	for _, procs := range []int{2, 8} {
		t.Run(fmt.Sprintf("procs=%d", procs), func(t *testing.T) {
			var m meter
			c, local := n.syncThrough(t, &m, 2, 0)
			var next base.BlockHeight
			var err error
			withProcs(procs, func() { next, err = c.SyncChain(ctx, n.chains[0]) })
			if err != nil || next != blocks {
				t.Fatalf("synced to %d (%v), want %d", next, err, blocks)
			}
			if got, _ := local.Storage().BlockHash(ctx, n.chains[0], blocks-1); got != n.blockHashes(n.chains[0], blocks-1)[1] {
				t.Fatalf("tip %s is not the honest one", got)
			}
			t.Logf("%d cores: downloads in flight may send %d MiB at once (bound %d MiB: %d × %d MiB)", procs, m.peak>>20, bound>>20, client.SyncGrants, limit>>20)
			if m.peak > bound {
				t.Errorf("%d cores: the downloads in flight could send the client %d MiB at once, want at most %d MiB", procs, m.peak>>20, bound>>20)
			}
		})
	}
}

// TestSyncAnswersAtTheLimit: an honest sync whose answers are at the receive limit (the
// limit made a few certificates large, as a chain of blocks near the policy's limits
// makes it): answers of several certificates, or of one certificate of the whole limit
// each, fill the budget; the pipelined sync still fetches every height (no download
// without a receive limit, none refused) with a window of several batches.
func TestSyncAnswersAtTheLimit(t *testing.T) {
	const blocks = 300
	n := buildSyncNet(t, blocks)
	ctx := context.Background()
	certs, err := n.node(1).Certificates(ctx, n.chains[0], 0, blocks)
	if err != nil {
		t.Fatal(err)
	}
	largest := 0
	for _, c := range certs {
		largest = max(largest, len(codec.Marshal(c)))
	}
	for _, tc := range []struct {
		name        string
		answerBytes int // the server's bound
		limit       int // the client's receive limit
		many        bool
	}{
		{"several certificates", 5 * largest, 5 * largest, true},
		{"one certificate", 1, largest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m meter
			c, _ := n.syncThrough(t, &m, 0, tc.answerBytes)
			client.SetSyncAnswerLimit(c, tc.limit)
			var next base.BlockHeight
			var err error
			withProcs(4, func() { next, err = c.SyncChain(ctx, n.chains[0]) })
			if err != nil || next != blocks {
				t.Fatalf("synced to %d (%v), want %d", next, err, blocks)
			}
			if m.unlimited != 0 || m.refused != 0 {
				t.Errorf("%d downloads without a receive limit, %d refused for their size: want all from the pipelined sync, within the limit", m.unlimited, m.refused)
			}
			if tc.many && m.many == 0 {
				t.Errorf("no answer of several certificates")
			}
			if bound := client.SyncGrants * tc.limit; m.peak > bound {
				t.Errorf("downloads in flight could send %d bytes at once, want at most %d", m.peak, bound)
			}
		})
	}
}

// TestSyncAnswerLimit: the receive limit of a sync download under the default policy
// holds the largest certificate the policy allows (MaxBlockSize + MaxBlockOutcomeBytes
// and the signatures, 32.6 MiB for 100 validators) and the RPC server's answers, and is
// under the transport's limit.
func TestSyncAnswerLimit(t *testing.T) {
	p := protocol.NoFeesPolicy()
	committee := &protocol.Committee{Policy: p, Validators: make([]protocol.ValidatorState, 100)}
	got := client.SyncAnswerLimit(committee)
	largest := int(p.MaxBlockSize+p.MaxBlockOutcomeBytes) + 100*5300
	if got < largest || got < client.MaxDownloadAnswerBytes || got > transportLimit {
		t.Fatalf("receive limit %d, want between %d and %d", got, max(largest, client.MaxDownloadAnswerBytes), transportLimit)
	}
	p.MaxBlockSize = 1 << 60 // a policy beyond the transport
	committee.Policy = p
	if got := client.SyncAnswerLimit(committee); got != transportLimit {
		t.Fatalf("receive limit %d, want the transport's %d", got, transportLimit)
	}
}
