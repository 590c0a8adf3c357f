package base_test

import (
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
)

func TestAmountText(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"0", "0"}, {"1", "1"}, {"1.5", "1.5"}, {"0.000000000000000001", "0.000000000000000001"},
		{"10.100", "10.1"}, {".5", "0.5"}, {"340282366920938463463.374607431768211455", "340282366920938463463.374607431768211455"},
	} {
		a, err := base.ParseAmount(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if a.String() != c.out {
			t.Errorf("%q prints %q, want %q", c.in, a.String(), c.out)
		}
	}
	for _, bad := range []string{"", ".", "-1", "1e5", "1.0000000000000000001", "abc", "340282366920938463463.374607431768211456", "1 000"} {
		if _, err := base.ParseAmount(bad); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
}

func TestAmountArithmetic(t *testing.T) {
	if _, err := base.MaxAmount.Add(base.AmountFromAttos(1)); !errors.Is(err, base.ErrAmountOverflow) {
		t.Errorf("overflow: %v", err)
	}
	if _, err := base.ZeroAmount.Sub(base.AmountFromAttos(1)); !errors.Is(err, base.ErrAmountUnderflow) {
		t.Errorf("underflow: %v", err)
	}
	if _, err := base.MaxAmount.MulUint64(2); !errors.Is(err, base.ErrAmountOverflow) {
		t.Errorf("mul overflow: %v", err)
	}
	sum, err := base.Tokens(2).Add(base.Tokens(3))
	if err != nil || sum != base.Tokens(5) {
		t.Errorf("2+3 = %s, %v", sum, err)
	}
	// Carry across the 64-bit boundary.
	lo := base.AmountFromParts(0, ^uint64(0))
	c, err := lo.Add(base.AmountFromAttos(1))
	if hi, l := c.Parts(); err != nil || hi != 1 || l != 0 {
		t.Errorf("carry: %v %v", c, err)
	}
	if base.Tokens(1).Compare(base.Tokens(2)) >= 0 || base.Tokens(2).Compare(base.Tokens(1)) <= 0 {
		t.Error("compare")
	}
}

func TestRoundOrder(t *testing.T) {
	order := []base.Round{base.FastRound, base.MultiLeader(0), base.MultiLeader(7), base.SingleLeader(0), base.SingleLeader(3), base.ValidatorRound(0)}
	for i := 1; i < len(order); i++ {
		if !order[i-1].Less(order[i]) || order[i].Less(order[i-1]) {
			t.Errorf("%v should be before %v", order[i-1], order[i])
		}
	}
}

func TestAccountText(t *testing.T) {
	var h base.Hash
	h[0] = 0xab
	chainID := base.ChainID(h)
	owner := base.Address32Owner(base.Hash{1, 2, 3})
	eth := base.Address20Owner([20]byte{9})
	for _, a := range []base.Account{{Chain: chainID}, {Chain: chainID, Owner: owner}, {Chain: chainID, Owner: eth}} {
		got, err := base.ParseAccount(a.String())
		if err != nil || got != a {
			t.Errorf("%s: round trip gave %v, %v", a, got, err)
		}
	}
	for _, bad := range []string{"", "xyz", "0x12@" + chainID.String(), "chain@", "@" + chainID.String(), chainID.String()[:10]} {
		if _, err := base.ParseAccount(bad); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0", "1.5", "340282366920938463463.374607431768211455", "0.000000000000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := base.ParseAmount(s)
		if err != nil {
			return
		}
		b, err := base.ParseAmount(a.String())
		if err != nil || b != a {
			t.Fatalf("%q → %s does not round-trip", s, a)
		}
	})
}

func FuzzParseAccount(f *testing.F) {
	f.Add("chain")
	f.Add("0x0102@" + base.ChainID{1}.String())
	f.Fuzz(func(t *testing.T, s string) {
		a, err := base.ParseAccount(s)
		if err != nil {
			return
		}
		if b, err := base.ParseAccount(a.String()); err != nil || b != a {
			t.Fatalf("%q does not round-trip", s)
		}
	})
}

func TestOwnerAppendBytes(t *testing.T) {
	for _, o := range []base.Owner{base.ChainOwner, base.ReservedOwner(3), base.Address32Owner(base.Hash{1, 2}), base.Address20Owner([20]byte{9, 8})} {
		prefix := []byte{0xaa}
		got := o.AppendBytes(prefix)
		if want := append([]byte{0xaa}, o.Bytes()...); string(got) != string(want) {
			t.Fatalf("%v: AppendBytes %x, want %x", o, got, want)
		}
	}
}
