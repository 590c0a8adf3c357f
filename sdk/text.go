package sdk

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Text forms shared by applications, the CLI and GraphQL: every type here implements
// encoding.TextMarshaler and TextUnmarshaler (so it is a JSON string) and is a GraphQL
// scalar of its own name (declare `scalar Owner` etc. in the schema).
//
//	Owner:         "0x" + 64 or 40 hex digits, "chain", or "reserved:N" (String's form;
//	               the "0x" is optional on input, hex is case-insensitive)
//	ChainID:       64 hex digits (an optional "0x" on input)
//	ApplicationID: 64 hex digits (an optional "0x" on input)
//	Amount:        a decimal number of tokens ("10", "0.5"), at most AmountDecimals
//	               decimal places

// AmountDecimals is the number of decimal places of a token: an Amount counts attos,
// 10^-18 tokens, as the CLI does.
const AmountDecimals = 18

func trimHexPrefix(s string) string {
	return strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
}

// ParseOwner parses an owner in String's form.
func ParseOwner(s string) (Owner, error) {
	if s == "chain" {
		return ChainOwner(), nil
	}
	if rest, ok := strings.CutPrefix(s, "reserved:"); ok {
		n, err := strconv.ParseUint(rest, 10, 8)
		if err != nil {
			return Owner{}, fmt.Errorf("invalid owner %q", s)
		}
		return ReservedOwner(uint8(n)), nil
	}
	b, err := hex.DecodeString(trimHexPrefix(s))
	if err != nil {
		return Owner{}, fmt.Errorf("invalid owner %q: not hex", s)
	}
	switch len(b) {
	case 32:
		return Address32Owner([32]byte(b)), nil
	case 20:
		return Address20Owner([20]byte(b)), nil
	}
	return Owner{}, fmt.Errorf("invalid owner %q: want 32 or 20 hex-encoded bytes, got %d", s, len(b))
}

func parse32(what, s string) ([32]byte, error) {
	b, err := hex.DecodeString(trimHexPrefix(s))
	if err != nil || len(b) != 32 {
		return [32]byte{}, fmt.Errorf("invalid %s %q: want 64 hex digits", what, s)
	}
	return [32]byte(b), nil
}

// ParseChainID parses a chain id: 64 hex digits, with an optional "0x".
func ParseChainID(s string) (ChainID, error) { return parse32("chain id", s) }

// ParseApplicationID parses an application id: 64 hex digits, with an optional "0x".
func ParseApplicationID(s string) (ApplicationID, error) {
	return parse32("application id", s)
}

// ParseAmount parses a decimal number of tokens such as "10", "0.5" or
// "1.000000000000000001" (at most AmountDecimals decimals, below 2^128 attos).
func ParseAmount(s string) (Amount, error) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if s == "" || intPart == "" && frac == "" || hasDot && frac == "" {
		return Amount{}, fmt.Errorf("amount %q: want a decimal number of tokens such as 10 or 0.5", s)
	}
	if len(frac) > AmountDecimals {
		return Amount{}, fmt.Errorf("amount %q: at most %d decimal places", s, AmountDecimals)
	}
	if len(intPart)+AmountDecimals > 80 {
		return Amount{}, fmt.Errorf("amount %q is too large", s)
	}
	var a Amount
	for _, r := range intPart + frac + strings.Repeat("0", AmountDecimals-len(frac)) {
		if r < '0' || r > '9' {
			return Amount{}, fmt.Errorf("amount %q: want a decimal number of tokens such as 10 or 0.5", s)
		}
		hiHi, hiLo := bits.Mul64(a.Hi, 10)
		loHi, loLo := bits.Mul64(a.Lo, 10)
		hi, c := bits.Add64(hiLo, loHi, 0)
		if hiHi != 0 || c != 0 {
			return Amount{}, fmt.Errorf("amount %q is too large", s)
		}
		next, err := Amount{Lo: loLo, Hi: hi}.Add(NewAmount(uint64(r - '0')))
		if err != nil {
			return Amount{}, fmt.Errorf("amount %q is too large", s)
		}
		a = next
	}
	return a, nil
}

// Tokens writes the amount as a decimal number of tokens ("8", "0.5"); String
// writes attos.
func (a Amount) Tokens() string {
	s := a.String()
	if len(s) <= AmountDecimals {
		s = strings.Repeat("0", AmountDecimals-len(s)+1) + s
	}
	intPart, frac := s[:len(s)-AmountDecimals], strings.TrimRight(s[len(s)-AmountDecimals:], "0")
	if frac == "" {
		return intPart
	}
	return intPart + "." + frac
}

// MarshalText writes String's form.
func (o Owner) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText reads ParseOwner's forms.
func (o *Owner) UnmarshalText(b []byte) (err error) { *o, err = ParseOwner(string(b)); return err }

// MarshalText writes 64 hex digits.
func (c ChainID) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads ParseChainID's form.
func (c *ChainID) UnmarshalText(b []byte) (err error) { *c, err = ParseChainID(string(b)); return err }

// MarshalText writes 64 hex digits.
func (a ApplicationID) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads ParseApplicationID's form.
func (a *ApplicationID) UnmarshalText(b []byte) (err error) {
	*a, err = ParseApplicationID(string(b))
	return err
}

// MarshalText writes Tokens.
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.Tokens()), nil }

// UnmarshalText reads ParseAmount's form.
func (a *Amount) UnmarshalText(b []byte) (err error) { *a, err = ParseAmount(string(b)); return err }

// GraphQL scalars: the schema declares `scalar Owner`, `scalar ChainID`, `scalar
// ApplicationID`, `scalar Amount`; values are strings in the forms above.

// ImplementsGraphQLType binds Owner to the scalar Owner.
func (Owner) ImplementsGraphQLType(name string) bool { return name == "Owner" }

// UnmarshalGraphQL reads a string argument.
func (o *Owner) UnmarshalGraphQL(input any) error { return unmarshalScalar(o, input) }

// ImplementsGraphQLType binds ChainID to the scalar ChainID.
func (ChainID) ImplementsGraphQLType(name string) bool { return name == "ChainID" }

// UnmarshalGraphQL reads a string argument.
func (c *ChainID) UnmarshalGraphQL(input any) error { return unmarshalScalar(c, input) }

// ImplementsGraphQLType binds ApplicationID to the scalar ApplicationID.
func (ApplicationID) ImplementsGraphQLType(name string) bool { return name == "ApplicationID" }

// UnmarshalGraphQL reads a string argument.
func (a *ApplicationID) UnmarshalGraphQL(input any) error { return unmarshalScalar(a, input) }

// ImplementsGraphQLType binds Amount to the scalar Amount.
func (Amount) ImplementsGraphQLType(name string) bool { return name == "Amount" }

// UnmarshalGraphQL reads a string argument (or an integer number of tokens).
func (a *Amount) UnmarshalGraphQL(input any) error {
	switch v := input.(type) {
	case int32:
		input = strconv.FormatInt(int64(v), 10)
	case int64:
		input = strconv.FormatInt(v, 10)
	case uint64:
		input = strconv.FormatUint(v, 10)
	}
	return unmarshalScalar(a, input)
}

func unmarshalScalar(v interface{ UnmarshalText([]byte) error }, input any) error {
	s, ok := input.(string)
	if !ok {
		return errors.New("want a string")
	}
	return v.UnmarshalText([]byte(s))
}

// GraphQLDescriptions describe the scalars in derived schemas (GraphQLServiceOf).

func (Owner) GraphQLDescriptions() map[string]string {
	return map[string]string{"": `An account owner: "0x" and 64 or 40 hex digits, "chain" or "reserved:N".`}
}

func (ChainID) GraphQLDescriptions() map[string]string {
	return map[string]string{"": "A chain id: 64 hex digits."}
}

func (ApplicationID) GraphQLDescriptions() map[string]string {
	return map[string]string{"": "An application id: 64 hex digits."}
}

func (Amount) GraphQLDescriptions() map[string]string {
	return map[string]string{"": `A number of tokens, a decimal string ("10", "0.5"; 18 decimals at most).`}
}
