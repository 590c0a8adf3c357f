package sdk

import (
	"encoding"
	"encoding/json"
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
		switch {
		case s.literal("true"):
			v.SetBool(true)
		case s.literal("false"):
			v.SetBool(false)
		default:
			return false
		}
		return true
	}
	neg := s.byte('-')
	start := s.i
	var u uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		d := uint64(s.b[s.i] - '0')
		if u > (1<<64-1-d)/10 {
			return false // beyond 64 bits
		}
		u = u*10 + d
		s.i++
	}
	n := s.i - start
	if n == 0 || n > 1 && s.b[start] == '0' || s.wordAt(s.i) {
		return false
	}
	switch kind {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if neg || v.OverflowUint(u) {
			return false
		}
		v.SetUint(u)
	default: // signed
		if neg {
			if u > 1<<63 {
				return false
			}
			i := -int64(u)
			if u == 1<<63 {
				i = -1 << 63
			}
			if v.OverflowInt(i) {
				return false
			}
			v.SetInt(i)
		} else {
			if u > 1<<63-1 || v.OverflowInt(int64(u)) {
				return false
			}
			v.SetInt(int64(u))
		}
	}
	return true
}

// decodeStrict decodes b into *v as DecodeJSON does (strict JSON, then Validate),
// through plan when it can.
func decodeStrict[T any](plan *fastPlan, b []byte, v *T) error {
	if plan != nil {
		var w T
		if plan.decode(b, reflect.ValueOf(&w).Elem()) {
			*v = w
			if val, ok := any(v).(Validator); ok {
				return val.Validate()
			}
			return nil
		}
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
	if b, ok := appendScalar(nil, v); ok {
		return b, nil
	}
	return json.Marshal(v)
}

// decodeScalar decodes b into *p as json.Unmarshal would when p points to an
// integer or boolean of a predeclared type and b is canonical, and reports whether
// it did.
func decodeScalar(b []byte, p any) bool {
	var v reflect.Value
	var kind reflect.Kind
	switch x := p.(type) {
	case *uint64, *uint32, *uint16, *uint8, *uint, *int64, *int32, *int16, *int8, *int, *bool:
		v = reflect.ValueOf(x).Elem()
		kind = v.Kind()
	default:
		return false
	}
	s := scanner{b: b}
	s.space()
	if !s.value(v, kind) {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

// unmarshalJSON is json.Unmarshal with the fast path for integers and booleans.
func unmarshalJSON[T any](b []byte, v *T) error {
	var w T
	if decodeScalar(b, &w) {
		*v = w
		return nil
	}
	return json.Unmarshal(b, v)
}
