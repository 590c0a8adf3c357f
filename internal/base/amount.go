package base

import (
	"math/bits"
	"strings"
)

// Decimals is the number of decimal places of an Amount.
const Decimals = 18

// Amount is an unsigned 128-bit fixed-point number with 18 decimals ("attos"). All
// arithmetic is checked: overflow and underflow are errors, never wrap-arounds.
type Amount struct{ hi, lo uint64 }

var (
	// ZeroAmount is 0.
	ZeroAmount = Amount{}
	// OneToken is 1.0 (10^18 attos).
	OneToken = Amount{lo: 1_000_000_000_000_000_000}
	// MaxAmount is 2^128 - 1 attos.
	MaxAmount = Amount{hi: ^uint64(0), lo: ^uint64(0)}
)

// AmountFromAttos returns an amount of n attos.
func AmountFromAttos(n uint64) Amount { return Amount{lo: n} }

// AmountFromParts returns the amount hi·2^64 + lo attos.
func AmountFromParts(hi, lo uint64) Amount { return Amount{hi: hi, lo: lo} }

// Tokens returns n whole tokens; n up to about 3.4·10^20 fits.
func Tokens(n uint64) Amount {
	hi, lo := bits.Mul64(n, OneToken.lo)
	return Amount{hi: hi, lo: lo}
}

// Parts returns the high and low 64-bit words.
func (a Amount) Parts() (hi, lo uint64) { return a.hi, a.lo }

// IsZero reports whether a is 0.
func (a Amount) IsZero() bool { return a.hi == 0 && a.lo == 0 }

// Compare returns -1, 0 or +1.
func (a Amount) Compare(b Amount) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

// ErrAmountOverflow and ErrAmountUnderflow are returned by checked arithmetic. Both are of
// class ErrInvalid.
var (
	ErrAmountOverflow  = Invalidf("amount overflows 128 bits")
	ErrAmountUnderflow = Invalidf("amount would go below zero")
)

// Add returns a + b or ErrAmountOverflow.
func (a Amount) Add(b Amount) (Amount, error) {
	lo, c := bits.Add64(a.lo, b.lo, 0)
	hi, c2 := bits.Add64(a.hi, b.hi, c)
	if c2 != 0 {
		return Amount{}, ErrAmountOverflow
	}
	return Amount{hi: hi, lo: lo}, nil
}

// Sub returns a - b or ErrAmountUnderflow.
func (a Amount) Sub(b Amount) (Amount, error) {
	lo, borrow := bits.Sub64(a.lo, b.lo, 0)
	hi, borrow2 := bits.Sub64(a.hi, b.hi, borrow)
	if borrow2 != 0 {
		return Amount{}, ErrAmountUnderflow
	}
	return Amount{hi: hi, lo: lo}, nil
}

// SaturatingSub returns a - b, or zero if b > a.
func (a Amount) SaturatingSub(b Amount) Amount {
	d, err := a.Sub(b)
	if err != nil {
		return ZeroAmount
	}
	return d
}

// MulUint64 returns a·n or ErrAmountOverflow.
func (a Amount) MulUint64(n uint64) (Amount, error) {
	hiLo1, lo := bits.Mul64(a.lo, n)
	hiHi, hiLo2 := bits.Mul64(a.hi, n)
	hi, c := bits.Add64(hiLo1, hiLo2, 0)
	if hiHi != 0 || c != 0 {
		return Amount{}, ErrAmountOverflow
	}
	return Amount{hi: hi, lo: lo}, nil
}

// divmod10 divides a by 10 and returns the quotient and remainder.
func (a Amount) divmod10() (Amount, uint64) {
	qhi, r := bits.Div64(0, a.hi, 10)
	qlo, r2 := bits.Div64(r, a.lo, 10)
	return Amount{hi: qhi, lo: qlo}, r2
}

// AttosString returns the integer number of attos in decimal.
func (a Amount) AttosString() string {
	if a.IsZero() {
		return "0"
	}
	var buf [40]byte
	i := len(buf)
	for !a.IsZero() {
		var d uint64
		a, d = a.divmod10()
		i--
		buf[i] = byte('0' + d)
	}
	return string(buf[i:])
}

// String returns the decimal token form with trailing zeros trimmed: "1.5", "0.000000000000000001", "42".
func (a Amount) String() string {
	s := a.AttosString()
	if len(s) <= Decimals {
		s = strings.Repeat("0", Decimals-len(s)+1) + s
	}
	intPart, frac := s[:len(s)-Decimals], strings.TrimRight(s[len(s)-Decimals:], "0")
	if frac == "" {
		return intPart
	}
	return intPart + "." + frac
}

// ParseAmount parses a decimal token amount such as "10", "0.5" or "1.000000000000000001".
// It refuses signs, exponents, more than 18 decimals and values above MaxAmount.
func ParseAmount(s string) (Amount, error) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if s == "" || (hasDot && frac == "" && intPart == "") {
		return Amount{}, Invalidf("amount %q: want a decimal number such as 10 or 0.5", s)
	}
	if len(frac) > Decimals {
		return Amount{}, Invalidf("amount %q: at most %d decimal places", s, Decimals)
	}
	digits := intPart + frac + strings.Repeat("0", Decimals-len(frac))
	var a Amount
	for _, c := range digits {
		if c < '0' || c > '9' {
			return Amount{}, Invalidf("amount %q: want a decimal number such as 10 or 0.5", s)
		}
		var err error
		if a, err = a.MulUint64(10); err != nil {
			return Amount{}, Invalidf("amount %q is too large", s)
		}
		if a, err = a.Add(Amount{lo: uint64(c - '0')}); err != nil {
			return Amount{}, Invalidf("amount %q is too large", s)
		}
	}
	return a, nil
}

// MarshalText implements encoding.TextMarshaler (the decimal token form).
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Amount) UnmarshalText(b []byte) error {
	v, err := ParseAmount(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
