package sdk

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"testing"
)

// fOp has every kind of field the fast path takes, and fields it skips as
// encoding/json does.
type fOp struct {
	A *uint64 `json:"a"`
	B int8    `json:"b,omitempty"`
	C bool
	D *int   `json:"d"`
	E uint16 `json:"-"`
	F *bool  `json:"f,omitzero"`
	//lint:ignore U1000 an unexported field, which encoding/json and the fast path skip
	g int
}

func (o fOp) Validate() error {
	if o.B == 99 {
		return errors.New("b 99 refused")
	}
	return nil
}

type counterOp struct {
	Increment *uint64 `json:"increment"`
}

type customInt int

func (c *customInt) UnmarshalJSON([]byte) error { return nil }

func TestFastPlanEligibility(t *testing.T) {
	if p := planFor[counterOp](); p == nil || len(p.fields) != 1 || p.fields[0].name != "increment" || !p.fields[0].ptr {
		t.Fatalf("counter operation plan %+v", p)
	}
	if p := planFor[fOp](); p == nil || len(p.fields) != 5 {
		t.Fatalf("fOp plan %+v", p)
	}
	if p := planFor[uint64](); p == nil || p.scalar != reflect.Uint64 {
		t.Fatalf("uint64 plan %+v", p)
	}
	for name, p := range map[string]*fastPlan{
		"string":          planFor[string](),
		"custom decoding": planFor[customInt](),
		"custom field":    planFor[struct{ X customInt }](),
		"custom pointer":  planFor[struct{ X *customInt }](),
		"string option": planFor[struct {
			X int `json:"x,string"`
		}](),
		"nested struct": planFor[struct{ X struct{ Y int } }](),
		"embedded":      planFor[struct{ counterOp }](),
		"duplicate name": planFor[struct {
			X int `json:"Y"`
			Y int
		}](),
		"name with a dash": planFor[struct {
			X int `json:"x-y"`
		}](),
		"float":             planFor[float64](),
		"NoMessage":         planFor[NoMessage](),
		"pointer to struct": planFor[*counterOp](),
		"Amount":            planFor[Amount](),
	} {
		if p != nil {
			t.Errorf("%s: eligible for the fast path", name)
		}
	}
}

// fastDecode decodes b with the fast plan of T when it accepts b, and reports
// whether it did.
func fastDecode[T any](b []byte) (T, bool, error) {
	var v T
	p := planFor[T]()
	if p == nil {
		return v, false, errors.New("no plan")
	}
	var w T
	if !p.decode(b, reflect.ValueOf(&w).Elem()) {
		return v, false, nil
	}
	err := decodeStrict(p, b, &v)
	return v, true, err
}

func TestFastDecode(t *testing.T) {
	accepted := []string{
		`{"increment":1}`, `{"increment": 5}`, " \t\r\n{ \"increment\" :\n 18446744073709551615 } \n", `{}`,
		`{"increment":null}`, `{"increment":0}`,
	}
	declined := []string{
		``, ` `, `{`, `}`, `[]`, `null`, `{"increment":1}x`, `{"increment":1} {}`, `{"increment":1,}`,
		`{"increment":01}`, `{"increment":1.0}`, `{"increment":1e3}`, `{"increment":-1}`, `{"increment":-0}`,
		`{"increment":18446744073709551616}`, `{"increment":99999999999999999999999}`, `{"Increment":1}`,
		`{"incr\u0065ment":1}`, `{"increment":1,"increment":2}`, `{"increment":"1"}`, `{"increment":true}`,
		`{"decrement":1}`, `{"":1}`, `{"increment" 1}`, `{"increment":1 "x":2}`, `{"increment":+1}`,
		`{"increment":nullx}`, `{"increment":1-}`, `{increment:1}`, "{\"increment\":1}\x00",
	}
	for _, in := range accepted {
		got, ok, err := fastDecode[counterOp]([]byte(in))
		if !ok || err != nil {
			t.Errorf("%q: declined (%v)", in, err)
			continue
		}
		var want counterOp
		if err := DecodeJSON([]byte(in), &want); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: fast %+v, encoding/json %+v %v", in, got, want, err)
		}
	}
	for _, in := range declined {
		if _, ok, _ := fastDecode[counterOp]([]byte(in)); ok {
			t.Errorf("%q: accepted", in)
		}
		// The caller falls back to encoding/json, which decides.
		var a, b counterOp
		errA, errB := decodeStrict(planFor[counterOp](), []byte(in), &a), DecodeJSON([]byte(in), &b)
		if (errA == nil) != (errB == nil) || !reflect.DeepEqual(a, b) {
			t.Errorf("%q: %+v %v, encoding/json %+v %v", in, a, errA, b, errB)
		}
	}
	// Validate runs after a fast decode too.
	if _, ok, err := fastDecode[fOp]([]byte(`{"b":99}`)); !ok || err == nil {
		t.Errorf("Validate not run: %v %v", ok, err)
	}
	for in, want := range map[string]int64{`127`: 127, `-128`: -128, ` 0 `: 0} {
		got, ok, err := fastDecode[int8]([]byte(in))
		if !ok || err != nil || int64(got) != want {
			t.Errorf("int8 %q: %d %v %v", in, got, ok, err)
		}
	}
	for _, in := range []string{`128`, `-129`, `1.5`, `-`, `--1`, `true`} {
		if _, ok, _ := fastDecode[int8]([]byte(in)); ok {
			t.Errorf("int8 %q accepted", in)
		}
	}
	for in, want := range map[string]int64{`9223372036854775807`: math.MaxInt64, `-9223372036854775808`: math.MinInt64} {
		if got, ok, err := fastDecode[int64]([]byte(in)); !ok || err != nil || got != want {
			t.Errorf("int64 %q: %d %v %v", in, got, ok, err)
		}
	}
	for _, in := range []string{`9223372036854775808`, `-9223372036854775809`} {
		if _, ok, _ := fastDecode[int64]([]byte(in)); ok {
			t.Errorf("int64 %q accepted", in)
		}
	}
}

func TestFastEncodeMatchesJSON(t *testing.T) {
	for _, v := range []any{uint64(0), uint64(math.MaxUint64), int64(math.MinInt64), -1, uint8(255), int8(-128),
		uint16(7), int16(-7), uint32(1 << 31), int32(-1 << 31), uint(12), true, false} {
		got, ok := appendScalar(nil, v)
		want, _ := json.Marshal(v)
		if !ok || string(got) != string(want) {
			t.Errorf("%T %v: %s, json.Marshal %s", v, v, got, want)
		}
	}
	for _, v := range []any{"x", 1.5, U64(3), json.RawMessage("1"), nil, struct{}{}} {
		if _, ok := appendScalar(nil, v); ok {
			t.Errorf("%T took the fast path", v)
		}
	}
}

// FuzzFastJSON: whatever the fast path accepts, encoding/json accepts with the same
// value; whatever it declines, the combined decoder answers as encoding/json does;
// and a value encoded by the fast path decodes back to itself on both paths.
func FuzzFastJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":-2,"C":true,"d":-3,"f":false}`, `{"a":null}`, `{}`, `{"E":1}`, `{"g":1}`,
		`{"c":true}`, `{"a":01}`, `{"b":128}`, `{"b":99}`, `{"a":1e2}`, `18446744073709551615`, `-1`, `true`, ` 7 `} {
		f.Add([]byte(s), uint64(0), int64(0))
	}
	f.Add([]byte(`1`), uint64(math.MaxUint64), int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, b []byte, u uint64, i int64) {
		checkFast[fOp](t, b)
		checkFast[counterOp](t, b)
		checkFast[uint64](t, b)
		checkFast[int8](t, b)
		checkFast[bool](t, b)
		for _, v := range []any{u, i, uint8(u), int32(i), u%2 == 0} {
			enc, ok := appendScalar(nil, v)
			want, _ := json.Marshal(v)
			if !ok || string(enc) != string(want) {
				t.Fatalf("%T %v: %s, json %s", v, v, enc, want)
			}
		}
		var ru uint64
		if err := unmarshalJSON(strconv.AppendUint(nil, u, 10), &ru); err != nil || ru != u {
			t.Fatalf("round trip %d: %d %v", u, ru, err)
		}
		var ri int64
		if err := unmarshalJSON(strconv.AppendInt(nil, i, 10), &ri); err != nil || ri != i {
			t.Fatalf("round trip %d: %d %v", i, ri, err)
		}
	})
}

func checkFast[T any](t *testing.T, b []byte) {
	t.Helper()
	var fast, slow T
	errFast := decodeStrict(planFor[T](), b, &fast)
	errSlow := DecodeJSON(b, &slow)
	if (errFast == nil) != (errSlow == nil) || !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%T %q: fast path %+v %v, encoding/json %+v %v", fast, b, fast, errFast, slow, errSlow)
	}
	if errFast != nil && errSlow != nil && errFast.Error() != errSlow.Error() {
		t.Fatalf("%T %q: errors differ: %v / %v", fast, b, errFast, errSlow)
	}
	// Register reads: json.Unmarshal's semantics.
	var r1, r2 T
	e1, e2 := unmarshalJSON(b, &r1), json.Unmarshal(b, &r2)
	if (e1 == nil) != (e2 == nil) || !reflect.DeepEqual(r1, r2) {
		t.Fatalf("%T %q: register %+v %v, json.Unmarshal %+v %v", r1, b, r1, e1, r2, e2)
	}
}
