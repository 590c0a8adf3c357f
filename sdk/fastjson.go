package sdk

import (
	"encoding"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
)

// A fast path for the JSON that simple applications exchange on every run: integer
// and boolean values (a counter's register, an operation's response) and operations
// that are flat objects of integer and boolean fields ({"increment": 5}). encoding/json
// spends most of a small contract run's instructions in reflection, its scanner and
// its allocations (a counter increment: ~60 % of the guest's fuel); these decoders
// read canonical input directly.
//
// Invariant: the fast path never decides anything encoding/json would decide
// differently. A fast decoder either accepts its input, with exactly the value
// DecodeJSON (or json.Unmarshal) would produce, or declines it (returns false)
// without side effects the caller keeps, and the caller then runs encoding/json,
// which produces the value or the error. Anything unusual declines: escapes in keys,
// keys that do not match a field exactly (encoding/json also matches them ignoring
// case), duplicate keys, null for a non-pointer, fractions and exponents, numbers out
// of range, types with their own UnmarshalJSON or UnmarshalText. The encoders write
// what json.Marshal writes for the same values. FuzzFastJSON checks both.

// fastPlan is how the fast path decodes one Go type, built once (ContractOf runs from
// the module's init, so runs find it built). nil: the type is not eligible.
type fastPlan struct {
	scalar reflect.Kind // a top-level integer or boolean; Invalid for a struct
	fields []fastField  // a struct's JSON fields
}

type fastField struct {
	name  string
	index int
	kind  reflect.Kind // of the field, or of what it points to
	ptr   bool         // the field is a pointer to kind
	elem  reflect.Type // what ptr points to
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// fastKind reports whether values of t can be decoded by the fast path: an integer
// or boolean kind without a custom decoding of its own.
func fastKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
	default:
		return false
	}
	return !customDecoding(t)
}

func customDecoding(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshaler) || p.Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || p.Implements(textUnmarshaler)
}

// planFor returns the fast plan of T, or nil when T is not eligible.
func planFor[T any]() *fastPlan {
	t := reflect.TypeFor[T]()
	if fastKind(t) {
		return &fastPlan{scalar: t.Kind()}
	}
	if t.Kind() != reflect.Struct || customDecoding(t) || t.NumField() > 64 {
		return nil
	}
	p := &fastPlan{}
	seen := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			return nil // embedded structs promote fields: leave them to encoding/json
		}
		if !f.IsExported() {
			continue
		}
		name, opts, tagged := f.Tag.Get("json"), "", false
		if tag, ok := f.Tag.Lookup("json"); ok {
			tagged = true
			name = tag
			for j := 0; j < len(tag); j++ {
				if tag[j] == ',' {
					name, opts = tag[:j], tag[j+1:]
					break
				}
			}
		}
		if tagged && name == "-" && opts == "" {
			continue
		}
		if opts != "" && opts != "omitempty" && opts != "omitzero" {
			return nil // ",string" and combinations: encoding/json's business
		}
		if name == "" {
			name = f.Name
		}
		if !plainName(name) || seen[name] {
			return nil
		}
		seen[name] = true
		ff := fastField{name: name, index: i, kind: f.Type.Kind()}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			if customDecoding(ft) {
				return nil
			}
			ff.ptr, ff.elem, ft = true, ft.Elem(), ft.Elem()
			ff.kind = ft.Kind()
		}
		if !fastKind(ft) {
			return nil
		}
		p.fields = append(p.fields, ff)
	}
	return p
}

// plainName: letters, digits and '_' only, so a key matches it byte for byte.
func plainName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// decode decodes b into *v along the plan and reports whether it did; false leaves
// the decision to encoding/json (v may then hold partial values: the caller decodes
// into a fresh one or overwrites it).
func (p *fastPlan) decode(b []byte, v reflect.Value) bool {
	s := scanner{b: b}
	s.space()
	if p.scalar != reflect.Invalid {
		if !s.value(v, p.scalar) {
			return false
		}
		s.space()
		return s.i == len(s.b)
	}
	if !s.byte('{') {
		return false
	}
	var seen uint64
	s.space()
	if !s.byte('}') {
		for {
			s.space()
			key, ok := s.key()
			if !ok {
				return false
			}
			fi := -1
			for j := range p.fields {
				if p.fields[j].name == string(key) { // compared, not converted
					fi = j
					break
				}
			}
			if fi < 0 || seen&(1<<fi) != 0 {
				return false
			}
			seen |= 1 << fi
			s.space()
			if !s.byte(':') {
				return false
			}
			s.space()
			f := &p.fields[fi]
			fv := v.Field(f.index)
			if f.ptr {
				if s.literal("null") {
					fv.SetZero()
				} else {
					e := reflect.New(f.elem)
					if !s.value(e.Elem(), f.kind) {
						return false
					}
					fv.Set(e)
				}
			} else if !s.value(fv, f.kind) {
				return false
			}
			s.space()
			if s.byte('}') {
				break
			}
			if !s.byte(',') {
				return false
			}
		}
	}
	s.space()
	return s.i == len(s.b)
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit && !s.wordAt(s.i+len(lit)) {
		s.i += len(lit)
		return true
	}
	return false
}

// wordAt reports whether a letter or digit continues a token at j.
func (s *scanner) wordAt(j int) bool {
	if j >= len(s.b) {
		return false
	}
	c := s.b[j]
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+'
}

// key reads a non-empty string of plain name bytes (no escapes) and returns it as a
// view of the input.
func (s *scanner) key() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			k := s.b[start:s.i]
			s.i++
			return k, len(k) > 0
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// value reads a boolean or a canonical JSON integer (-?(0|[1-9][0-9]*), not followed
// by a fraction or exponent) within the range of kind into v.
func (s *scanner) value(v reflect.Value, kind reflect.Kind) bool {
	if kind == reflect.Bool {
		b, ok := s.boolean()
		if ok {
			v.SetBool(b)
		}
		return ok
	}
	u, neg, ok := s.integer()
	if !ok {
		return false
	}
	switch kind {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if neg || v.OverflowUint(u) {
			return false
		}
		v.SetUint(u)
	default: // signed
		i, ok := signed(u, neg)
		if !ok || v.OverflowInt(i) {
			return false
		}
		v.SetInt(i)
	}
	return true
}

func (s *scanner) boolean() (v, ok bool) {
	switch {
	case s.literal("true"):
		return true, true
	case s.literal("false"):
		return false, true
	}
	return false, false
}

// integer reads a canonical JSON integer of at most 64 bits of magnitude, not
// followed by a fraction or exponent.
func (s *scanner) integer() (u uint64, neg, ok bool) {
	neg = s.byte('-')
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		d := uint64(s.b[s.i] - '0')
		if u > (1<<64-1-d)/10 {
			return 0, false, false // beyond 64 bits
		}
		u = u*10 + d
		s.i++
	}
	n := s.i - start
	if n == 0 || n > 1 && s.b[start] == '0' || s.wordAt(s.i) {
		return 0, false, false
	}
	return u, neg, true
}

// signed returns the int64 of magnitude u and sign neg, if in range.
func signed(u uint64, neg bool) (int64, bool) {
	switch {
	case !neg && u <= 1<<63-1:
		return int64(u), true
	case neg && u == 1<<63:
		return -1 << 63, true
	case neg && u < 1<<63:
		return -int64(u), true
	}
	return 0, false
}

// decodeStrict decodes b into *v as DecodeJSON does (strict JSON, then Validate),
// through plan when it can.
func decodeStrict[T any](plan *fastPlan, b []byte, v *T) error {
	if plan != nil {
		if plan.decode(b, reflect.ValueOf(v).Elem()) {
			if val, ok := asValidator(v); ok {
				return val.Validate()
			}
			return nil
		}
		var zero T
		*v = zero // what the fast path wrote
	}
	return DecodeJSON(b, v)
}

// appendScalar appends the JSON encoding of an integer or boolean of a predeclared
// type, as json.Marshal writes it, and reports whether v was one.
func appendScalar(dst []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case uint64:
		return strconv.AppendUint(dst, x, 10), true
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10), true
	case uint16:
		return strconv.AppendUint(dst, uint64(x), 10), true
	case uint8:
		return strconv.AppendUint(dst, uint64(x), 10), true
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10), true
	case int64:
		return strconv.AppendInt(dst, x, 10), true
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), true
	case int16:
		return strconv.AppendInt(dst, int64(x), 10), true
	case int8:
		return strconv.AppendInt(dst, int64(x), 10), true
	case int:
		return strconv.AppendInt(dst, int64(x), 10), true
	case bool:
		return strconv.AppendBool(dst, x), true
	}
	return dst, false
}

// marshalJSON is json.Marshal with the fast path for integers and booleans.
func marshalJSON(v any) ([]byte, error) {
	switch v.(type) {
	case uint64, uint32, uint16, uint8, uint, int64, int32, int16, int8, int, bool:
		b, _ := appendScalar(make([]byte, 0, 20), v)
		return b, nil
	}
	return json.Marshal(v)
}

// marshalValue is json.Marshal(*p) with the fast path for integers and booleans
// (without boxing *p).
func marshalValue[T any](p *T) ([]byte, error) {
	switch x := any(p).(type) {
	case *uint64:
		return strconv.AppendUint(make([]byte, 0, 20), *x, 10), nil
	case *uint32:
		return strconv.AppendUint(make([]byte, 0, 10), uint64(*x), 10), nil
	case *uint:
		return strconv.AppendUint(make([]byte, 0, 20), uint64(*x), 10), nil
	case *int64:
		return strconv.AppendInt(make([]byte, 0, 20), *x, 10), nil
	case *int32:
		return strconv.AppendInt(make([]byte, 0, 11), int64(*x), 10), nil
	case *int:
		return strconv.AppendInt(make([]byte, 0, 20), int64(*x), 10), nil
	case *bool:
		return strconv.AppendBool(make([]byte, 0, 5), *x), nil
	}
	return json.Marshal(*p)
}

// decodeScalar decodes b into *p as json.Unmarshal would when p points to an
// integer or boolean of a predeclared type and b is canonical, and reports whether
// it did; *p is left as it was when it did not.
func decodeScalar(b []byte, p any) bool {
	s := scanner{b: b}
	s.space()
	if x, ok := p.(*bool); ok {
		v, ok := s.boolean()
		if s.space(); !ok || s.i != len(s.b) {
			return false
		}
		*x = v
		return true
	}
	u, neg, ok := s.integer()
	if s.space(); !ok || s.i != len(s.b) {
		return false
	}
	i, iok := signed(u, neg)
	switch x := p.(type) {
	case *uint64:
		if neg {
			return false
		}
		*x = u
	case *uint:
		if neg || uint64(uint(u)) != u {
			return false
		}
		*x = uint(u)
	case *uint32:
		if neg || u > math.MaxUint32 {
			return false
		}
		*x = uint32(u)
	case *uint16:
		if neg || u > math.MaxUint16 {
			return false
		}
		*x = uint16(u)
	case *uint8:
		if neg || u > math.MaxUint8 {
			return false
		}
		*x = uint8(u)
	case *int64:
		if !iok {
			return false
		}
		*x = i
	case *int:
		if !iok || int64(int(i)) != i {
			return false
		}
		*x = int(i)
	case *int32:
		if !iok || i < math.MinInt32 || i > math.MaxInt32 {
			return false
		}
		*x = int32(i)
	case *int16:
		if !iok || i < math.MinInt16 || i > math.MaxInt16 {
			return false
		}
		*x = int16(i)
	case *int8:
		if !iok || i < math.MinInt8 || i > math.MaxInt8 {
			return false
		}
		*x = int8(i)
	default:
		return false
	}
	return true
}

// unmarshalJSON is json.Unmarshal with the fast path for integers and booleans.
func unmarshalJSON[T any](b []byte, v *T) error {
	if decodeScalar(b, v) {
		return nil
	}
	return json.Unmarshal(b, v)
}
