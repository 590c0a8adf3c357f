package chain_test

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
)

// bulkApp is a contract (a Go one: the Wasm VM's would pay 1 fuel per byte, 1e8 per
// transaction) whose operation, 9 bytes: kind, count (u32), size (u32), sends count
// messages ('m') or emits count events ('e') of size bytes each, or returns a result of
// size bytes ('r').
type bulkApp struct{ to base.ChainID }

func (l *bulkApp) LoadContract(context.Context, base.ApplicationID, execution.BlobReader) (execution.UserContract, error) {
	return l, nil
}

func (l *bulkApp) LoadService(context.Context, base.ApplicationID, execution.BlobReader) (execution.UserService, error) {
	return nil, errors.New("no service")
}

func (l *bulkApp) Instantiate(context.Context, execution.ContractRuntime, []byte) error { return nil }
func (l *bulkApp) ExecuteMessage(context.Context, execution.ContractRuntime, []byte) error {
	return nil
}
func (l *bulkApp) Finalize(context.Context, execution.ContractRuntime) error { return nil }

func (l *bulkApp) ExecuteOperation(ctx context.Context, rt execution.ContractRuntime, op []byte) ([]byte, error) {
	kind, count, size := op[0], binary.LittleEndian.Uint32(op[1:]), binary.LittleEndian.Uint32(op[5:])
	payload := make([]byte, size)
	switch kind {
	case 'r':
		return payload, nil
	case 'm':
		for range count {
			if err := rt.SendMessage(ctx, execution.SendMessageRequest{Destination: l.to, Message: payload}); err != nil {
				return nil, err
			}
		}
	case 'e':
		sr := rt.(execution.StreamRuntime)
		for range count {
			if _, err := sr.Emit(ctx, []byte("bulk"), payload); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

func bulkOp(kind byte, count, size uint32) protocol.Transaction {
	op := []byte{kind}
	op = binary.LittleEndian.AppendUint32(op, count)
	op = binary.LittleEndian.AppendUint32(op, size)
	return protocol.OperationTx(protocol.Operation{App: base.ApplicationID{1}, Bytes: op})
}

// TestAttackBlockOutcomeIsBounded executes, under the default policy, blocks of a few
// hundred bytes whose execution outcome is 40 MiB (outgoing messages, events, operation
// results): a validator must refuse each, in validation and in replay alike, with
// ErrOutcomeTooLarge; a block whose outcome is exactly the limit is accepted.
func TestAttackBlockOutcomeIsBounded(t *testing.T) {
	ctx := context.Background()
	s := newSetup(t, memkv.New())
	app := &bulkApp{to: s.genesis.ChainIDs()[1]}
	id := s.desc.ID()
	s.load(t)
	policy := protocol.NoFeesPolicy()
	const kib64 = 64 << 10
	for _, c := range []struct {
		name string
		txs  []protocol.Transaction
	}{
		{"messages", []protocol.Transaction{bulkOp('m', 320, kib64), bulkOp('m', 320, kib64)}},
		{"events", []protocol.Transaction{bulkOp('e', 1024, kib64-1024)}},
		{"results", []protocol.Transaction{bulkOp('r', 0, 20<<20), bulkOp('r', 0, 20<<20)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &protocol.ProposedBlock{ChainID: id, Timestamp: 2_000_000, AuthenticatedOwner: &s.owner, Transactions: c.txs}
			for _, validating := range []bool{true, false} {
				cs := chain.Load(id, s.st.ChainContext(id), execution.WithLoader(app))
				blk, err := cs.ExecuteBlock(ctx, p, chain.ExecOptions{Validating: validating, Resolver: s.st, Policy: &policy})
				if err == nil {
					t.Fatalf("proposal of %d bytes, outcome of %d bytes (limit %d): accepted", codec.Size(p), codec.Size(&blk.Outcome), policy.MaxBlockOutcomeBytes)
				}
				if !errors.Is(err, chain.ErrOutcomeTooLarge) || !base.IsInvalid(err) {
					t.Fatalf("got %v, want ErrOutcomeTooLarge", err)
				}
			}
		})
	}

	// The limit is exact: the canonical encoding of the outcome, counted as the
	// transactions execute.
	p := &protocol.ProposedBlock{ChainID: id, Timestamp: 2_000_000, AuthenticatedOwner: &s.owner,
		Transactions: []protocol.Transaction{bulkOp('m', 3, 1000), bulkOp('e', 2, 500), bulkOp('r', 0, 100)}}
	cs := chain.Load(id, s.st.ChainContext(id), execution.WithLoader(app))
	blk, err := cs.ExecuteBlock(ctx, p, chain.ExecOptions{Resolver: s.st, Policy: &policy})
	if err != nil {
		t.Fatal(err)
	}
	size := uint64(codec.Size(&blk.Outcome))
	for _, limit := range []uint64{size, size - 1} {
		policy.MaxBlockOutcomeBytes = limit
		cs := chain.Load(id, s.st.ChainContext(id), execution.WithLoader(app))
		_, err := cs.ExecuteBlock(ctx, p, chain.ExecOptions{Resolver: s.st, Policy: &policy})
		if limit == size && err != nil {
			t.Fatalf("outcome of exactly the limit (%d bytes): %v", size, err)
		}
		if limit < size && !errors.Is(err, chain.ErrOutcomeTooLarge) {
			t.Fatalf("outcome of %d bytes, limit %d: got %v, want ErrOutcomeTooLarge", size, limit, err)
		}
	}
}
