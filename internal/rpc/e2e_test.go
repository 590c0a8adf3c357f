package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

// transferAndReceive moves 10 tokens from chains[a] to chains[b] and has b's owner
// receive them; it checks balances on every validator in live.
func transferAndReceive(t *testing.T, n *testNet, keys []*crypto.PrivateKey, a, b int, live []int) {
	t.Helper()
	ctx := context.Background()
	ca := n.client(0).Chain(n.chains[a], keys[a], nil)
	cb := n.client(0).Chain(n.chains[b], keys[b], nil)
	cert, err := ca.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[b]}, base.Tokens(10))
	if err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if !cert.Round.IsFast() {
		t.Fatalf("transfer committed in round %v, want the fast round", cert.Round)
	}
	n.waitInbox(n.chains[b], 1, live)
	rc, err := cb.ProcessInbox(ctx)
	if err != nil || rc == nil {
		t.Fatalf("B receives: cert %v, err %v", rc, err)
	}
	n.waitHeight(n.chains[a], 1, live)
	n.waitHeight(n.chains[b], 1, live)
	for _, i := range live {
		if got := n.balance(i, base.Account{Chain: n.chains[a]}); got != base.Tokens(990) {
			t.Errorf("validator %d: A has %s, want 990", i, got)
		}
		if got := n.balance(i, base.Account{Chain: n.chains[b]}); got != base.Tokens(1010) {
			t.Errorf("validator %d: B has %s, want 1010", i, got)
		}
	}
}

func TestFastTransferOverGRPC(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 1)
	transferAndReceive(t, n, keys, 0, 1, all(4))
}

func TestShardedValidatorsRouteByChain(t *testing.T) {
	const shards = 2
	// Chain ids depend on the whole genesis (the committee's encoding included): add
	// owners until two genesis chains are on different shards.
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob"), prototest.Key("carol"), prototest.Key("dave")}
	for spread := false; !spread && len(keys) < 64; {
		ids := prototest.Genesis(prototest.Committee(prototest.Validators(4)), keys, base.Tokens(1000)).ChainIDs()
		for _, id := range ids {
			spread = spread || ShardOf(id, shards) != ShardOf(ids[0], shards)
		}
		if !spread {
			keys = append(keys, prototest.Key(fmt.Sprint("owner", len(keys))))
		}
	}
	n := newTestNet(t, keys, shards)
	// Pick a sender and a recipient on different shards.
	a, b := -1, -1
	for i := range n.chains {
		for j := range n.chains {
			if a < 0 && ShardOf(n.chains[i], shards) != ShardOf(n.chains[j], shards) {
				a, b = i, j
			}
		}
	}
	if a < 0 {
		t.Fatal("every genesis chain is on one shard")
	}
	// Subscribe through the proxy: the notification comes from B's shard via the relay.
	sub, err := n.vals[0].node.Subscribe(context.Background(), []base.ChainID{n.chains[b]})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	transferAndReceive(t, n, keys, a, b, all(4))
	for i, v := range n.vals {
		if m := v.misrouted.Load(); m != 0 {
			t.Errorf("validator %d: %d requests reached the wrong shard", i, m)
		}
		for s := range v.perShard {
			if v.perShard[s].Load() == 0 {
				t.Errorf("validator %d: shard %d received no request", i, s)
			}
		}
	}
	got := recvUntil(t, sub, func(nt protocol.Notification) bool { return nt.Kind == protocol.ReasonNewBlock })
	if got.ChainID != n.chains[b] || got.Height != 0 {
		t.Errorf("notification %+v, want NewBlock of B at height 0", got)
	}
}

// recvUntil reads notifications until one satisfies ok (within 10 s).
func recvUntil(t *testing.T, s *NotificationStream, ok func(protocol.Notification) bool) protocol.Notification {
	t.Helper()
	type res struct {
		n   protocol.Notification
		err error
	}
	ch := make(chan res, 1)
	go func() {
		for {
			nt, err := s.Recv()
			if err != nil || ok(nt) {
				ch <- res{nt, err}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("notification stream: %v", r.err)
		}
		return r.n
	case <-time.After(10 * time.Second):
		s.Close()
		t.Fatal("no notification within 10 s")
	}
	return protocol.Notification{}
}

func TestSubscribeDeliversNewBlock(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 1)
	ctx := context.Background()
	sub, err := n.vals[2].node.Subscribe(ctx, []base.ChainID{n.chains[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	other, err := n.vals[2].node.Subscribe(ctx, []base.ChainID{n.chains[1]})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cert, err := n.client(0).Chain(n.chains[0], keys[0], nil).Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1))
	if err != nil {
		t.Fatal(err)
	}
	got := recvUntil(t, sub, func(nt protocol.Notification) bool { return nt.Kind == protocol.ReasonNewBlock })
	if got.ChainID != n.chains[0] || got.Height != 0 || got.Hash != cert.Hash() {
		t.Errorf("got %+v, want NewBlock of A at height 0 with hash %s", got, cert.Hash().Short())
	}
	inc := recvUntil(t, other, func(nt protocol.Notification) bool { return nt.Kind == protocol.ReasonNewIncomingBundle })
	if inc.ChainID != n.chains[1] || inc.Origin != n.chains[0] {
		t.Errorf("got %+v, want NewIncomingBundle of B from A", inc)
	}
	if sub.Dropped() != 0 {
		t.Errorf("dropped %d notifications", sub.Dropped())
	}
}

// TestKilledValidator: with one validator of four stopped, transfers go on and the
// client's latency stays close to healthy (figures are logged, not asserted).
func TestKilledValidator(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 1)
	ctx := context.Background()
	cl := n.client(0)
	a := cl.Chain(n.chains[0], keys[0], nil)
	const rounds = 10
	stoppedNode := n.vals[3].node
	run := func(label string) []time.Duration {
		var ds []time.Duration
		for range rounds {
			start := time.Now()
			if _, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1)); err != nil {
				t.Fatalf("%s transfer: %v", label, err)
			}
			ds = append(ds, time.Since(start))
		}
		return ds
	}
	healthy := run("healthy")
	n.vals[3].stop()
	stopped := run("stopped")
	if _, err := stoppedNode.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: n.chains[0]}); !errors.Is(err, base.ErrRetryable) || !errors.Is(err, ErrUnreachable) {
		t.Errorf("call to a stopped validator: %v, want a retryable ErrUnreachable", err)
	}
	// A validator that accepts connections but never answers: its calls hang until
	// the request timeout, and the client moves on after a quorum plus the grace.
	hung := hangingListener(t)
	node, err := Dial(ctx, hung, DialOptions{CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	n.vals[3].node = node
	a = n.client(0).Chain(n.chains[0], keys[0], nil)
	hanging := run("hanging")
	a = n.client(time.Nanosecond).Chain(n.chains[0], keys[0], nil)
	hangingShortGrace := run("hanging, short grace")
	t.Logf("transfer latency, 4 of 4 validators: %s", summary(healthy))
	t.Logf("transfer latency, 3 of 4 validators (one stopped): %s", summary(stopped))
	t.Logf("transfer latency, 3 of 4 validators (one hanging): %s", summary(hanging))
	t.Logf("transfer latency, 3 of 4 validators (one hanging), client MinGrace 1ns: %s", summary(hangingShortGrace))
	live := []int{0, 1, 2}
	n.waitHeight(n.chains[0], 4*rounds, live)
	for _, i := range live {
		if got := n.balance(i, base.Account{Chain: n.chains[0]}); got != base.Tokens(1000-4*rounds) {
			t.Errorf("validator %d: A has %s, want %d", i, got, 1000-4*rounds)
		}
	}
}

// hangingListener accepts TCP connections and never answers; it closes them when the
// test ends.
func hangingListener(t *testing.T) string {
	lis := listen(t)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = lis.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return lis.Addr().String()
}

func summary(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return fmt.Sprintf("n=%d mean=%v p50=%v max=%v", len(s), (sum / time.Duration(len(s))).Round(time.Microsecond), s[len(s)/2].Round(time.Microsecond), s[len(s)-1].Round(time.Microsecond))
}

func TestLiteCertificate(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 1)
	ctx := context.Background()
	cert, err := n.client(0).Chain(n.chains[0], keys[0], nil).Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1))
	if err != nil {
		t.Fatal(err)
	}
	n.waitHeight(n.chains[0], 1, all(4))
	lite := cert.Lite()
	info, err := n.vals[1].node.HandleLiteCertificate(ctx, &lite)
	if err != nil || info.NextBlockHeight != 1 {
		t.Fatalf("lite certificate of a stored block: info %v, err %v", info, err)
	}
	got, err := n.vals[1].node.Certificate(ctx, cert.Hash())
	if err != nil || got.Hash() != cert.Hash() {
		t.Fatalf("download certificate: %v", err)
	}
	unknown := lite
	unknown.Value.ValueHash = base.Hash{1}
	if _, err := n.vals[1].node.HandleLiteCertificate(ctx, &unknown); !errors.Is(err, ErrMissingCertificateValue) || !errors.Is(err, base.ErrNotFound) {
		t.Errorf("lite certificate of an unknown block: %v, want ErrMissingCertificateValue", err)
	}
	if _, err := n.vals[1].node.Certificate(ctx, base.Hash{1}); !errors.Is(err, base.ErrNotFound) {
		t.Errorf("download of an unknown certificate: %v, want not found", err)
	}
}

func TestWrongNetworkRefused(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice")}
	n := newTestNet(t, keys, 1)
	ctx := context.Background()
	_, err := Dial(ctx, n.vals[0].addr, DialOptions{GenesisHash: base.Hash{7}})
	if !errors.Is(err, ErrWrongNetwork) {
		t.Fatalf("dial with another genesis: %v, want ErrWrongNetwork", err)
	}
	vi, err := n.vals[0].node.VersionInfo(ctx)
	if err != nil || vi.GenesisHash != n.genesis.Hash() || vi.APIVersion != APIVersion {
		t.Fatalf("version info %+v, %v", vi, err)
	}
}

// TestWorkerErrorsOverGRPC: refusals of a real worker keep their identity on the
// client side.
func TestWorkerErrorsOverGRPC(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 1)
	ctx := context.Background()
	node := n.vals[0].node

	// Unknown chain.
	if _, err := node.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: base.ChainID{9}}); !errors.Is(err, worker.ErrUnknownChain) || !errors.Is(err, base.ErrNotFound) {
		t.Errorf("unknown chain: %v", err)
	}
	// Wrong height, with the chain's next height.
	h := base.BlockHeight(5)
	_, err := node.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: n.chains[0], TestNextBlockHeight: &h})
	if !errors.Is(err, worker.ErrWrongHeight) || !errors.Is(err, base.ErrInvalid) {
		t.Errorf("wrong height: %v", err)
	}
	if next, ok := NextHeight(err); !ok || next != 0 {
		t.Errorf("wrong height: next height %d, %v; want 0", next, ok)
	}
	// A certificate ahead of the validator: missing earlier blocks.
	owner := keys[0].Public().Owner()
	prev := base.Hash{3}
	block := prototest.TransferBlock(n.chains[0], 3, &prev, owner, base.Account{Chain: n.chains[1]}, 1)
	cert := prototest.Certify(protocol.KindConfirmed, block, nil, base.Round{}, n.keys)
	_, err = node.HandleCertificate(ctx, cert)
	if !errors.Is(err, worker.ErrMissingEarlierBlocks) || !base.IsNotFound(err) {
		t.Errorf("certificate ahead: %v", err)
	}
	if next, ok := NextHeight(err); !ok || next != 0 {
		t.Errorf("certificate ahead: next height %d, %v; want 0", next, ok)
	}
	// Overdraft: a typed error inside a transaction error.
	pb0 := protocol.ProposedBlock{
		ChainID: n.chains[0], Height: 0, Timestamp: sysClock{}.Now(), AuthenticatedOwner: &owner,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: n.chains[1]}, Amount: base.Tokens(5000)})},
	}
	prop, err := protocol.SignProposal(keys[0], pb0, base.Round{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = node.HandleBlockProposal(ctx, prop)
	var ib *execution.InsufficientBalanceError
	var tx *chain.TxError
	if !errors.As(err, &ib) || !errors.Is(err, execution.ErrInsufficientBalance) || ib.Need != base.Tokens(5000) || ib.Have != base.Tokens(1000) {
		t.Errorf("overdraft: %v", err)
	}
	if !errors.As(err, &tx) || tx.Index != 0 {
		t.Errorf("overdraft: %v is not a transaction error", err)
	}
	// Malformed payloads are invalid input, not crashes.
	_, err = unary(ctx, node.c, node.api.HandleBlockProposal, &pb.BlockProposal{Payload: []byte{1, 2, 3}})
	if !base.IsInvalid(err) {
		t.Errorf("malformed proposal: %v", err)
	}
}

// TestSubscribeOpenedSeesNextBlock: SubscribeNotificationsOpened calls opened once the
// validator has the subscription, so a block made as soon as opened is called is
// announced on the stream (`mica watch` says "watching" then).
func TestSubscribeOpenedSeesNextBlock(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	made := make(chan base.Hash, 1)
	notes := make(chan protocol.Notification, 16)
	done := make(chan error, 1)
	go func() {
		done <- n.vals[2].node.SubscribeNotificationsOpened(ctx, []base.ChainID{n.chains[0]}, func(err error) {
			if err != nil {
				t.Error(err)
				cancel()
				return
			}
			cert, err := n.client(0).Chain(n.chains[0], keys[0], nil).Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1))
			if err != nil {
				t.Error(err)
				cancel()
				return
			}
			made <- cert.Hash()
		}, func(nt protocol.Notification) {
			select {
			case notes <- nt:
			default:
			}
		})
	}()
	var hash base.Hash
	select {
	case hash = <-made:
	case err := <-done:
		t.Fatalf("subscription ended before it opened: %v", err)
	}
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case nt := <-notes:
			if nt.Kind == protocol.ReasonNewBlock && nt.Hash == hash {
				return
			}
		case <-deadline:
			t.Fatal("the block made once the subscription opened was not announced")
		}
	}
}
