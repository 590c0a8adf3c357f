package sdk

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	graphql "github.com/graph-gophers/graphql-go"
)

// GraphQL schemas derived from Go types.
//
// GraphQLServiceOf builds a service from two resolver types, Q for the query fields and
// M for the mutation fields, and writes the schema itself:
//
//   - Every exported method of *Q (of *M) is a field of the type Query (Mutation). Its
//     name is the method's with a lower-case first word (Value → value, TargetChain →
//     targetChain, ID → id). A method takes nothing or one struct whose exported
//     fields are the field's arguments, in their order (graph-gophers' args struct);
//     it returns a value, or a value and an error.
//   - Go types map to GraphQL types: string → String, int32 → Int, float64 → Float,
//     bool → Boolean; a type implementing ImplementsGraphQLType and UnmarshalGraphQL
//     (U64, Timestamp, Amount, Owner, ChainID, ApplicationID, graphql.ID, an
//     application's own) → the scalar of its Go name; a slice → a list; a struct → an
//     object type of its Go name (first letter upper-cased) whose fields are its
//     exported fields and the exported methods of the type as returned (a pointer's
//     methods for *T); a struct used as an argument → an input type of its exported
//     fields. A pointer is nullable (an optional argument); anything else is non-null.
//   - A struct field tagged `graphql:"name"` is the field name; `graphql:"-"` leaves
//     it out. An argument tagged `default:"LITERAL"` has that GraphQL default value.
//   - A type with a method GraphQLDescriptions() map[string]string documents itself:
//     key "" describes the type, "field" a field, "field.argument" an argument; a key
//     that names nothing is an error. The methods GraphQLDescriptions,
//     ImplementsGraphQLType, UnmarshalGraphQL, MarshalJSON, UnmarshalJSON,
//     MarshalText, UnmarshalText, String, GoString, Error, Format and Validate are
//     never fields.
//
// Any other Go type (uint64, int, maps, interfaces, functions, arrays), an exported
// method that is not a resolver, two Go types with one GraphQL name, or a type without
// fields is an error of GraphQLServiceOf, at start-up: never one a query can reach.
// Types and fields are sorted by name, so the schema (GraphQLService.SDL) depends only
// on the Go types.
//
// graph-gophers resolves Query and Mutation fields on one root value; the SDK's root
// hands the engine Q for queries and M for mutations (the engine's Query and Mutation
// root methods), so the two stay apart: a mutation cannot be asked as a query.

// NoMutation is the mutation type of a service without mutations:
// GraphQLServiceOf[Query, sdk.NoMutation](newQuery, nil).
type NoMutation struct{}

// GraphQLServiceOf returns a service answering GraphQL with the schema derived from
// Q and M (see above): each query runs on query(rt)'s value, each mutation on
// mutation(rt)'s. mutation may be nil when M has no methods. Call it once, from init.
func GraphQLServiceOf[Q, M any](query func(rt *Runtime) *Q, mutation func(rt *Runtime) *M) (*GraphQLService, error) {
	if query == nil {
		return nil, errors.New("sdk: GraphQLServiceOf: nil query function")
	}
	sdl, hasMutation, err := deriveSchema(reflect.TypeFor[Q](), reflect.TypeFor[M]())
	if err != nil {
		return nil, err
	}
	if mutation == nil && hasMutation {
		return nil, fmt.Errorf("sdk: GraphQLServiceOf: %s has mutation fields but the mutation function is nil", reflect.TypeFor[M]())
	}
	root := &derivedRoot[Q, M]{q: new(Q), m: new(M)}
	s, err := graphql.ParseSchema(sdl, root, schemaOpts...)
	if err != nil {
		return nil, fmt.Errorf("sdk: GraphQL schema derived from %s and %s: %w\n%s", reflect.TypeFor[Q](), reflect.TypeFor[M](), err, sdl)
	}
	svc := &GraphQLService{schema: s, sdl: sdl}
	svc.bind = func(rt *Runtime) (func(), error) {
		q := query(rt)
		if q == nil {
			return nil, fmt.Errorf("sdk: GraphQL query function returned a nil %T", q)
		}
		*root.q = *q
		if mutation != nil {
			m := mutation(rt)
			if m == nil {
				return nil, fmt.Errorf("sdk: GraphQL mutation function returned a nil %T", m)
			}
			*root.m = *m
		}
		return func() {
			var q Q
			var m M
			*root.q, *root.m = q, m
		}, nil
	}
	return svc, nil
}

// MustGraphQLServiceOf is GraphQLServiceOf that panics on error (a programming error
// in the resolver types, which the application's tests reveal).
func MustGraphQLServiceOf[Q, M any](query func(rt *Runtime) *Q, mutation func(rt *Runtime) *M) *GraphQLService {
	s, err := GraphQLServiceOf(query, mutation)
	if err != nil {
		panic(err)
	}
	return s
}

// derivedRoot is the engine's root value: its Query and Mutation methods give the
// engine the resolvers of each operation type. The engine calls them once, when it
// parses the schema; each query then copies its values into q and m.
type derivedRoot[Q, M any] struct {
	q *Q
	m *M
}

func (r *derivedRoot[Q, M]) Query() *Q    { return r.q }
func (r *derivedRoot[Q, M]) Mutation() *M { return r.m }

// DeriveGraphQLSchema returns the schema GraphQLServiceOf derives from the query type
// q and the mutation type m (struct types; m may have no methods, then the schema has
// no Mutation type).
func DeriveGraphQLSchema(q, m reflect.Type) (string, error) {
	sdl, _, err := deriveSchema(q, m)
	return sdl, err
}

func deriveSchema(q, m reflect.Type) (sdl string, hasMutation bool, err error) {
	b := &schemaBuilder{byName: map[string]*gqlType{}, byGo: map[goKey]string{}}
	for _, r := range []struct {
		name string
		t    reflect.Type
	}{{"Query", q}, {"Mutation", m}} {
		if r.t == nil || r.t.Kind() != reflect.Struct {
			return "", false, fmt.Errorf("sdk: GraphQL schema: the %s type %v is not a struct", r.name, r.t)
		}
		gt := &gqlType{kind: "type", name: r.name, goType: r.t}
		b.byName[r.name] = gt
		if err := b.fillObject(gt, reflect.PointerTo(r.t), true); err != nil {
			return "", false, fmt.Errorf("sdk: GraphQL schema: %w", err)
		}
		if len(gt.fields) == 0 {
			if r.name == "Query" {
				return "", false, fmt.Errorf("sdk: GraphQL schema: %v has no query field (no exported method)", r.t)
			}
			delete(b.byName, r.name)
		}
	}
	_, hasMutation = b.byName["Mutation"]
	return b.render(), hasMutation, nil
}

// goKey is a Go type in an input or output position.
type goKey struct {
	t     reflect.Type
	input bool
}

type schemaBuilder struct {
	byName map[string]*gqlType
	byGo   map[goKey]string
}

type gqlType struct {
	kind   string // "scalar", "type" or "input"
	name   string
	goType reflect.Type
	desc   string
	fields []gqlField
}

type gqlField struct {
	name, desc, typ string
	args            []gqlArg
}

type gqlArg struct {
	name, desc, typ, def string
}

var (
	errorType       = reflect.TypeFor[error]()
	contextType     = reflect.TypeFor[context.Context]()
	unmarshalerType = reflect.TypeFor[interface {
		ImplementsGraphQLType(name string) bool
		UnmarshalGraphQL(input any) error
	}]()
	describerType = reflect.TypeFor[interface {
		GraphQLDescriptions() map[string]string
	}]()
	builtinScalars = map[reflect.Type]string{
		reflect.TypeFor[string](): "String", reflect.TypeFor[int32](): "Int",
		reflect.TypeFor[float64](): "Float", reflect.TypeFor[bool](): "Boolean",
	}
	// notFields are methods of well-known interfaces, never resolvers.
	notFields = []string{"Error", "Format", "GoString", "GraphQLDescriptions", "ImplementsGraphQLType",
		"MarshalJSON", "MarshalText", "String", "UnmarshalGraphQL", "UnmarshalJSON", "UnmarshalText", "Validate"}
)

// ref returns the GraphQL type reference of Go type t (nullable when a pointer),
// declaring the types it needs.
func (b *schemaBuilder) ref(t reflect.Type, input bool) (string, error) {
	nullable := t.Kind() == reflect.Pointer
	if nullable {
		t = t.Elem()
		if t.Kind() == reflect.Pointer {
			return "", fmt.Errorf("%v: a pointer to a pointer has no GraphQL type", reflect.PointerTo(t))
		}
	}
	var name string
	var err error
	switch {
	case builtinScalars[t] != "":
		name = builtinScalars[t]
	case reflect.PointerTo(t).Implements(unmarshalerType):
		name, err = b.scalar(t)
	case t.Kind() == reflect.Slice:
		var elem string
		if elem, err = b.ref(t.Elem(), input); err == nil {
			name = "[" + elem + "]"
		}
	case t.Kind() == reflect.Struct:
		name, err = b.object(t, nullable, input)
	default:
		err = unsupported(t)
	}
	if err != nil {
		return "", err
	}
	if !nullable {
		name += "!"
	}
	return name, nil
}

func unsupported(t reflect.Type) error {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int32, reflect.Float64:
		return fmt.Errorf("%v has no GraphQL type: use %s itself, or make %v a scalar (methods ImplementsGraphQLType and UnmarshalGraphQL)", t, t.Kind(), t)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16,
		reflect.Uint32, reflect.Uint64, reflect.Uintptr, reflect.Float32:
		return fmt.Errorf("%v has no GraphQL type: use int32 (Int), float64 (Float), sdk.U64 or a scalar type of your own", t)
	}
	return fmt.Errorf("%v has no GraphQL type: use a struct, a slice, a pointer (nullable) or a scalar type (methods ImplementsGraphQLType and UnmarshalGraphQL)", t)
}

// declare records that Go type t is GraphQL type gt (or finds it already declared),
// refusing two types with one name.
func (b *schemaBuilder) declare(gt *gqlType, input bool) (existing bool, err error) {
	k := goKey{gt.goType, input}
	if _, ok := b.byGo[k]; ok {
		return true, nil
	}
	if other, ok := b.byName[gt.name]; ok {
		return false, fmt.Errorf("two Go types would be the GraphQL %s %s: %v (%s) and %v (%s); rename one",
			gt.kind, gt.name, other.goType, other.kind, gt.goType, gt.kind)
	}
	b.byGo[k] = gt.name
	b.byName[gt.name] = gt
	return false, nil
}

// scalar declares the custom scalar of Go type t (named after it).
func (b *schemaBuilder) scalar(t reflect.Type) (string, error) {
	name := t.Name()
	if name == "" || strings.ContainsAny(name, "[]") {
		return "", fmt.Errorf("%v is a scalar without a name of its own: declare a named type for it", t)
	}
	if !reflect.New(t).Interface().(interface{ ImplementsGraphQLType(string) bool }).ImplementsGraphQLType(name) {
		return "", fmt.Errorf("%v: ImplementsGraphQLType(%q) is false, but derived schemas name a scalar after its Go type", t, name)
	}
	if name == "ID" || name == "String" || name == "Int" || name == "Float" || name == "Boolean" {
		return name, nil // built in (graphql.ID)
	}
	gt := &gqlType{kind: "scalar", name: name, goType: t}
	if existing, err := b.declare(gt, false); err != nil || existing {
		return name, err
	}
	d, err := descriptions(t)
	if err != nil {
		return "", err
	}
	for k, v := range d {
		if k != "" {
			return "", fmt.Errorf("%v: GraphQLDescriptions key %q: a scalar has no fields", t, k)
		}
		gt.desc = v
	}
	return name, nil
}

// object declares the object (or input) type of struct t, returned as a pointer when
// ptr.
func (b *schemaBuilder) object(t reflect.Type, ptr, input bool) (string, error) {
	name := t.Name()
	if name == "" || strings.ContainsAny(name, "[]") {
		return "", fmt.Errorf("%v: a struct without a name of its own has no GraphQL type; declare a named type", t)
	}
	r, size := utf8.DecodeRuneInString(name)
	name = string(unicode.ToUpper(r)) + name[size:]
	kind := "type"
	if input {
		kind = "input"
	}
	gt := &gqlType{kind: kind, name: name, goType: t}
	existing, err := b.declare(gt, input)
	if err != nil {
		return "", err
	}
	if input {
		if !existing {
			err = b.fillInput(gt)
		}
		return name, err
	}
	if !ptr {
		// The engine resolves a struct value with T's methods only.
		for i := range reflect.PointerTo(t).NumMethod() {
			m := reflect.PointerTo(t).Method(i)
			if _, ok := t.MethodByName(m.Name); !ok && !slices.Contains(notFields, m.Name) {
				return "", fmt.Errorf("%v is returned as a value but its method %s has a pointer receiver: return *%v (nullable) or give %s a value receiver", t, m.Name, t, m.Name)
			}
		}
	}
	if !existing {
		err = b.fillObject(gt, reflect.PointerTo(t), false)
	}
	return name, err
}

// fillObject derives gt's fields from the exported fields of its struct and the
// methods of rt (the struct or a pointer to it); roots have methods only.
func (b *schemaBuilder) fillObject(gt *gqlType, rt reflect.Type, root bool) error {
	t := gt.goType
	seen := map[string]string{}
	add := func(f gqlField, from string) error {
		if prev, ok := seen[f.name]; ok {
			return fmt.Errorf("%s.%s: both %s and %s would be the field", gt.name, f.name, prev, from)
		}
		seen[f.name] = from
		gt.fields = append(gt.fields, f)
		return nil
	}
	if !root {
		for _, sf := range reflect.VisibleFields(t) {
			if sf.Anonymous || !sf.IsExported() || hasMethod(rt, sf.Name) { // a method wins, as in Go
				continue
			}
			name := fieldName(sf.Name)
			if tag, ok := sf.Tag.Lookup("graphql"); ok {
				if tag == "-" {
					continue
				}
				name = tag
			}
			typ, err := b.ref(sf.Type, false)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", gt.name, name, err)
			}
			if err := add(gqlField{name: name, typ: typ}, "field "+sf.Name); err != nil {
				return err
			}
		}
	}
	for i := range rt.NumMethod() {
		m := rt.Method(i)
		if slices.Contains(notFields, m.Name) {
			continue
		}
		f, err := b.method(gt.name, m)
		if err != nil {
			return err
		}
		if err := add(f, "method "+m.Name); err != nil {
			return err
		}
	}
	if len(gt.fields) == 0 && !root {
		return fmt.Errorf("%v: no exported field or method, so no GraphQL field", t)
	}
	slices.SortFunc(gt.fields, func(a, b gqlField) int { return strings.Compare(a.name, b.name) })
	return describe(gt)
}

func hasMethod(t reflect.Type, name string) bool {
	_, ok := t.MethodByName(name)
	return ok
}

// method derives the field of a resolver method (m.Type includes the receiver).
func (b *schemaBuilder) method(typeName string, m reflect.Method) (gqlField, error) {
	f := gqlField{name: fieldName(m.Name)}
	where := typeName + "." + f.name
	in := m.Type.NumIn()
	first := 1
	if in > first && m.Type.In(first) == contextType {
		first++
	}
	if in > first+1 || (in == first+1 && m.Type.In(first).Kind() != reflect.Struct) || m.Type.NumOut() == 0 || m.Type.NumOut() > 2 ||
		(m.Type.NumOut() == 2 && m.Type.Out(1) != errorType) || m.Type.IsVariadic() {
		return f, fmt.Errorf("%s: method %s is not a resolver: want func([ctx context.Context,] [args struct{...}]) (T[, error])",
			where, signature(m))
	}
	typ, err := b.ref(m.Type.Out(0), false)
	if err != nil {
		return f, fmt.Errorf("%s: %w", where, err)
	}
	f.typ = typ
	if in == first+1 {
		args := m.Type.In(first)
		for _, sf := range reflect.VisibleFields(args) {
			if sf.Anonymous {
				continue
			}
			if !sf.IsExported() {
				return f, fmt.Errorf("%s: argument field %s of %v is not exported", where, sf.Name, args)
			}
			a := gqlArg{name: fieldName(sf.Name), def: sf.Tag.Get("default")}
			if a.typ, err = b.ref(sf.Type, true); err != nil {
				return f, fmt.Errorf("%s(%s): %w", where, a.name, err)
			}
			f.args = append(f.args, a)
		}
	}
	return f, nil
}

// signature writes a method's name and type without its receiver.
func signature(m reflect.Method) string {
	var in, out []string
	for i := 1; i < m.Type.NumIn(); i++ {
		in = append(in, m.Type.In(i).String())
	}
	for i := range m.Type.NumOut() {
		out = append(out, m.Type.Out(i).String())
	}
	s := m.Name + "(" + strings.Join(in, ", ") + ")"
	switch len(out) {
	case 0:
		return s
	case 1:
		return s + " " + out[0]
	}
	return s + " (" + strings.Join(out, ", ") + ")"
}

// fillInput derives an input type's fields from its struct's exported fields.
func (b *schemaBuilder) fillInput(gt *gqlType) error {
	for _, sf := range reflect.VisibleFields(gt.goType) {
		if sf.Anonymous {
			continue
		}
		if !sf.IsExported() {
			return fmt.Errorf("input %s: field %s is not exported", gt.name, sf.Name)
		}
		typ, err := b.ref(sf.Type, true)
		if err != nil {
			return fmt.Errorf("input %s.%s: %w", gt.name, fieldName(sf.Name), err)
		}
		gt.fields = append(gt.fields, gqlField{name: fieldName(sf.Name), typ: typ})
	}
	if len(gt.fields) == 0 {
		return fmt.Errorf("input %s: no exported field", gt.name)
	}
	slices.SortFunc(gt.fields, func(a, b gqlField) int { return strings.Compare(a.name, b.name) })
	return describe(gt)
}

// descriptions returns t's GraphQLDescriptions, if it has them.
func descriptions(t reflect.Type) (map[string]string, error) {
	if !reflect.PointerTo(t).Implements(describerType) {
		return nil, nil
	}
	return reflect.New(t).Interface().(interface{ GraphQLDescriptions() map[string]string }).GraphQLDescriptions(), nil
}

// describe applies the descriptions of gt's Go type to gt, its fields and arguments.
func describe(gt *gqlType) error {
	d, err := descriptions(gt.goType)
	if err != nil || len(d) == 0 {
		return err
	}
	used := 0
	if v, ok := d[""]; ok {
		gt.desc = v
		used++
	}
	for i := range gt.fields {
		f := &gt.fields[i]
		if v, ok := d[f.name]; ok {
			f.desc = v
			used++
		}
		for j := range f.args {
			if v, ok := d[f.name+"."+f.args[j].name]; ok {
				f.args[j].desc = v
				used++
			}
		}
	}
	if used != len(d) {
		var unknown []string
		for k := range d {
			name, arg, _ := strings.Cut(k, ".")
			if k == "" || slices.ContainsFunc(gt.fields, func(f gqlField) bool {
				return f.name == name && (arg == "" || slices.ContainsFunc(f.args, func(a gqlArg) bool { return a.name == arg }))
			}) {
				continue
			}
			unknown = append(unknown, k)
		}
		slices.Sort(unknown)
		return fmt.Errorf("%s (%v): GraphQLDescriptions names no field or argument %q", gt.name, gt.goType, unknown)
	}
	return nil
}

// fieldName is a Go name with its first word in lower case: Value → value,
// TargetChain → targetChain, ID → id, URLPath → urlPath.
func fieldName(goName string) string {
	r := []rune(goName)
	n := 0
	for n < len(r) && unicode.IsUpper(r[n]) {
		n++
	}
	switch {
	case n == 0:
		return goName
	case n == 1 || n == len(r):
	default:
		n-- // the last capital starts the next word
	}
	for i := range n {
		r[i] = unicode.ToLower(r[i])
	}
	return string(r)
}

// render writes the schema: types sorted by name, fields sorted by name, arguments in
// their struct's order.
func (b *schemaBuilder) render() string {
	names := make([]string, 0, len(b.byName))
	for n := range b.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	var w strings.Builder
	for i, n := range names {
		gt := b.byName[n]
		if i > 0 {
			w.WriteString("\n")
		}
		writeDesc(&w, "", gt.desc)
		if gt.kind == "scalar" {
			fmt.Fprintf(&w, "scalar %s\n", gt.name)
			continue
		}
		fmt.Fprintf(&w, "%s %s {\n", gt.kind, gt.name)
		for _, f := range gt.fields {
			writeDesc(&w, "  ", f.desc)
			w.WriteString("  " + f.name)
			if len(f.args) > 0 {
				w.WriteString("(")
				for j, a := range f.args {
					if j > 0 {
						w.WriteString(", ")
					}
					if a.desc != "" {
						w.WriteString(quote(a.desc) + " ")
					}
					w.WriteString(a.name + ": " + a.typ)
					if a.def != "" {
						w.WriteString(" = " + a.def)
					}
				}
				w.WriteString(")")
			}
			w.WriteString(": " + f.typ + "\n")
		}
		w.WriteString("}\n")
	}
	return w.String()
}

func writeDesc(w *strings.Builder, indent, desc string) {
	if desc != "" {
		w.WriteString(indent + quote(desc) + "\n")
	}
}

// quote writes s as a GraphQL string literal.
func quote(s string) string {
	var w strings.Builder
	w.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			w.WriteByte('\\')
			w.WriteRune(r)
		case r == '\n':
			w.WriteString(`\n`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&w, `\u%04x`, r)
		default:
			w.WriteRune(r)
		}
	}
	w.WriteByte('"')
	return w.String()
}
