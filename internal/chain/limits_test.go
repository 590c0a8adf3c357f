package chain_test

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/kv/memkv"
)

// TestAttackBlockSizeIsEnforced proposes a block whose encoding is larger than the
// policy's MaxBlockSize: it must be refused, in validation and in replay alike.
func TestAttackBlockSizeIsEnforced(t *testing.T) {
	ctx := context.Background()
	s := newSetup(t, memkv.New())
	p := s.transfers(0, nil, 50)
	size := uint64(len(codec.Marshal(p)))
	s.policy.MaxBlockSize = size - 1
	for _, validating := range []bool{true, false} {
		_, err := s.load(t).ExecuteBlock(ctx, p, chain.ExecOptions{Validating: validating, Resolver: s.st, Policy: &s.policy})
		if !errors.Is(err, chain.ErrBlockTooLarge) || !errors.Is(err, base.ErrInvalid) {
			t.Fatalf("block of %d bytes with a limit of %d: got %v, want ErrBlockTooLarge", size, size-1, err)
		}
	}
	s.policy.MaxBlockSize = size
	if _, err := s.load(t).ExecuteBlock(ctx, p, chain.ExecOptions{Resolver: s.st, Policy: &s.policy}); err != nil {
		t.Fatalf("block of exactly MaxBlockSize bytes: %v", err)
	}
}

// TestAttackBlockPaysForBytesWritten executes a block of transfers with a write price:
// the chain pays each byte its transactions write, and a block the chain cannot pay for
// fails.
func TestAttackBlockPaysForBytesWritten(t *testing.T) {
	ctx := context.Background()
	s := newSetup(t, memkv.New())
	const price = 7
	s.policy.ByteWritten = base.AmountFromAttos(price)
	cs := s.load(t)
	before, err := cs.Execution().ChainBalance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	if _, err := cs.ExecuteBlock(ctx, s.transfers(0, nil, n), chain.ExecOptions{Resolver: s.st, Policy: &s.policy}); err != nil {
		t.Fatal(err)
	}
	after, err := cs.Execution().ChainBalance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each transfer from the chain account writes its balance (16 bytes).
	spent, _ := base.Tokens(n).Add(base.AmountFromAttos(price * 16 * n))
	if want, _ := before.Sub(spent); after != want {
		t.Fatalf("chain account %s after %d transfers, want %s", after, n, want)
	}

	s.policy.ByteWritten = base.MaxAmount
	_, err = s.load(t).ExecuteBlock(ctx, s.transfers(0, nil, 1), chain.ExecOptions{Resolver: s.st, Policy: &s.policy})
	if !errors.Is(err, execution.ErrFeesExceedFunding) {
		t.Fatalf("unpayable writes: got %v, want ErrFeesExceedFunding", err)
	}
}
