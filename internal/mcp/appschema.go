package mcp

// Tools generated from an application's GraphQL schema.
//
// An application's schema comes from its service (Wasm the wallet did not write), so it
// is untrusted input: every name that goes into a generated GraphQL document must be a
// GraphQL name, and the work and memory it can cause are bounded (MaxIntrospection bytes,
// maxTypes types, maxFieldsPerType fields, MaxToolsPerApp tools, maxSchemaDepth levels of
// input objects, maxSelectionDepth levels and maxSelectionFields fields of selection).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Bounds on what one application's schema can make the server build.
const (
	// MaxIntrospection is the largest introspection response read.
	MaxIntrospection = 2 << 20
	// MaxToolsPerApp is the number of tools generated for one application at most
	// (fields past it, in schema order with queries first, get none).
	MaxToolsPerApp = 64
	// maxTypes and maxFieldsPerType bound the introspected schema.
	maxTypes         = 2000
	maxFieldsPerType = 256
	maxArgs          = 64
	maxEnumValues    = 256
	// maxTypeRefDepth bounds the NON_NULL/LIST wrappers of one type reference.
	maxTypeRefDepth = 8
	// maxSchemaDepth bounds the nesting of input objects in a generated JSON schema.
	maxSchemaDepth = 5
	// maxSelectionDepth and maxSelectionFields bound a generated selection set.
	maxSelectionDepth  = 3
	maxSelectionFields = 200
	// maxDescription bounds a description copied into a tool.
	maxDescription = 1024
	// maxSchemaNodes bounds the number of JSON schema nodes built for one tool.
	maxSchemaNodes = 2000
)

// IntrospectionQuery asks an application for what tool generation needs.
const IntrospectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    types {
      kind name description
      fields { name description args { name description type { ...TypeRef } } type { ...TypeRef } }
      inputFields { name description type { ...TypeRef } }
      enumValues { name }
    }
  }
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

// typeRef is an introspected __Type reference.
type typeRef struct {
	Kind   string   `json:"kind"`
	Name   *string  `json:"name"`
	OfType *typeRef `json:"ofType"`
}

type inputValue struct {
	Name        string  `json:"name"`
	Description *string `json:"description"`
	Type        typeRef `json:"type"`
}

type field struct {
	Name        string       `json:"name"`
	Description *string      `json:"description"`
	Args        []inputValue `json:"args"`
	Type        typeRef      `json:"type"`
}

type fullType struct {
	Kind        string       `json:"kind"`
	Name        string       `json:"name"`
	Description *string      `json:"description"`
	Fields      []field      `json:"fields"`
	InputFields []inputValue `json:"inputFields"`
	EnumValues  []struct {
		Name string `json:"name"`
	} `json:"enumValues"`
}

type introspection struct {
	Data *struct {
		Schema *struct {
			QueryType *struct {
				Name string `json:"name"`
			} `json:"queryType"`
			MutationType *struct {
				Name string `json:"name"`
			} `json:"mutationType"`
			Types []fullType `json:"types"`
		} `json:"__schema"`
	} `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// appTool is one tool generated for one field of an application's Query or Mutation.
type appTool struct {
	// Field is the GraphQL field; Mutation says which root type it is on.
	Field    string
	Mutation bool
	// Args are the field's arguments: their GraphQL names and type texts ("[Int!]!").
	// Invariant: every name and type name is a GraphQL name.
	Args []toolArg
	// Selection is the selection set for the field's type ("" for a scalar or enum).
	Selection string
	// Description is the field's description (bounded), for the tool's.
	Description string
	// InputSchema is the JSON Schema of the tool's arguments object.
	InputSchema map[string]any
}

type toolArg struct {
	Name, Type string
	Required   bool
}

// isName reports whether s is a GraphQL name (/[_A-Za-z][_0-9A-Za-z]*/), which is what
// may be written into a generated document.
func isName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// schemaIndex is an introspected schema indexed by type name.
type schemaIndex struct {
	types map[string]*fullType
}

// parseIntrospection decodes an introspection response and generates one tool per
// field of the Query and Mutation types (queries first, each in schema order), at most
// MaxToolsPerApp. Fields whose names, arguments or types cannot be expressed safely are
// skipped. Errors say what is wrong with the response.
func parseIntrospection(body []byte) ([]appTool, error) {
	if len(body) > MaxIntrospection {
		return nil, fmt.Errorf("introspection response larger than %d bytes", MaxIntrospection)
	}
	var r introspection
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("introspection response is not valid JSON: %v", err)
	}
	if len(r.Errors) > 0 {
		msg := r.Errors[0].Message
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return nil, fmt.Errorf("introspection failed: %s", msg)
	}
	if r.Data == nil || r.Data.Schema == nil {
		return nil, fmt.Errorf("introspection response has no data.__schema")
	}
	s := r.Data.Schema
	if len(s.Types) > maxTypes {
		return nil, fmt.Errorf("schema has %d types, more than %d", len(s.Types), maxTypes)
	}
	idx := &schemaIndex{types: make(map[string]*fullType, len(s.Types))}
	for i := range s.Types {
		t := &s.Types[i]
		if !isName(t.Name) {
			continue
		}
		if len(t.Fields) > maxFieldsPerType {
			t.Fields = t.Fields[:maxFieldsPerType]
		}
		if len(t.InputFields) > maxFieldsPerType {
			t.InputFields = t.InputFields[:maxFieldsPerType]
		}
		if len(t.EnumValues) > maxEnumValues {
			t.EnumValues = t.EnumValues[:maxEnumValues]
		}
		idx.types[t.Name] = t
	}
	var tools []appTool
	for _, root := range []struct {
		name     *string
		mutation bool
	}{{rootName(s.QueryType), false}, {rootName(s.MutationType), true}} {
		if root.name == nil {
			continue
		}
		t := idx.types[*root.name]
		if t == nil || t.Kind != "OBJECT" {
			continue
		}
		for _, f := range t.Fields {
			if len(tools) >= MaxToolsPerApp {
				return tools, nil
			}
			if tool, ok := idx.tool(f, root.mutation); ok {
				tools = append(tools, tool)
			}
		}
	}
	return tools, nil
}

func rootName(t *struct {
	Name string `json:"name"`
}) *string {
	if t == nil || !isName(t.Name) {
		return nil
	}
	return &t.Name
}

func (idx *schemaIndex) tool(f field, mutation bool) (appTool, bool) {
	if !isName(f.Name) || strings.HasPrefix(f.Name, "__") || len(f.Args) > maxArgs {
		return appTool{}, false
	}
	t := appTool{Field: f.Name, Mutation: mutation, Description: bounded(f.Description)}
	props := map[string]any{}
	var required []string
	nodes := 0
	for _, a := range f.Args {
		if !isName(a.Name) || a.Name == chainArg {
			return appTool{}, false
		}
		text, ok := typeText(&a.Type, 0)
		if !ok {
			return appTool{}, false
		}
		sch, ok := idx.jsonSchema(&a.Type, 0, 0, &nodes)
		if !ok {
			return appTool{}, false
		}
		if d := bounded(a.Description); d != "" {
			sch["description"] = d
		}
		props[a.Name] = sch
		req := a.Type.Kind == "NON_NULL"
		if req {
			required = append(required, a.Name)
		}
		t.Args = append(t.Args, toolArg{Name: a.Name, Type: text, Required: req})
	}
	props[chainArg] = map[string]any{"type": "string", "description": "the chain to run on (64 hex digits); default: the wallet's default chain if it uses the application, else the first chain of the wallet that does"}
	t.InputSchema = map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		t.InputSchema["required"] = required
	}
	sel, ok := idx.selection(&f.Type, 0, new(int))
	if !ok {
		return appTool{}, false
	}
	t.Selection = sel
	return t, true
}

// chainArg is the argument every generated tool adds: the chain to run on. A field
// with a GraphQL argument of that name gets no tool.
const chainArg = "_chain"

func bounded(s *string) string {
	if s == nil {
		return ""
	}
	d := strings.TrimSpace(*s)
	if len(d) > maxDescription {
		d = d[:maxDescription] + "…"
	}
	return d
}

// typeText writes a type reference in GraphQL syntax ("[Int!]!") if every name in it
// is a GraphQL name and it nests at most maxTypeRefDepth wrappers.
func typeText(t *typeRef, depth int) (string, bool) {
	if t == nil || depth > maxTypeRefDepth {
		return "", false
	}
	switch t.Kind {
	case "NON_NULL":
		if t.OfType == nil || t.OfType.Kind == "NON_NULL" {
			return "", false
		}
		inner, ok := typeText(t.OfType, depth+1)
		return inner + "!", ok
	case "LIST":
		inner, ok := typeText(t.OfType, depth+1)
		return "[" + inner + "]", ok
	default:
		if t.Name == nil || !isName(*t.Name) {
			return "", false
		}
		return *t.Name, true
	}
}

// named returns the named type under the wrappers of t, or nil.
func (idx *schemaIndex) named(t *typeRef) *fullType {
	for d := 0; t != nil && d <= maxTypeRefDepth; d++ {
		if t.Kind != "NON_NULL" && t.Kind != "LIST" {
			if t.Name == nil {
				return nil
			}
			return idx.types[*t.Name]
		}
		t = t.OfType
	}
	return nil
}

// jsonSchema is the JSON Schema (draft 2020-12) of a GraphQL input type reference.
// wraps counts the NON_NULL/LIST wrappers above t in the current reference, objs the
// input objects enclosing it; nodes counts the schema nodes built for the tool (bounded
// by maxSchemaNodes, which also bounds wide schemas that repeat one input type).
func (idx *schemaIndex) jsonSchema(t *typeRef, wraps, objs int, nodes *int) (map[string]any, bool) {
	*nodes++
	if t == nil || wraps > maxTypeRefDepth || *nodes > maxSchemaNodes {
		return nil, false
	}
	switch t.Kind {
	case "NON_NULL":
		return idx.jsonSchema(t.OfType, wraps+1, objs, nodes)
	case "LIST":
		items, ok := idx.jsonSchema(t.OfType, wraps+1, objs, nodes)
		if !ok {
			return nil, false
		}
		return map[string]any{"type": "array", "items": items}, true
	}
	if t.Name == nil {
		return nil, false
	}
	switch *t.Name {
	case "Int":
		return map[string]any{"type": "integer"}, true
	case "Float":
		return map[string]any{"type": "number"}, true
	case "String", "ID":
		return map[string]any{"type": "string"}, true
	case "Boolean":
		return map[string]any{"type": "boolean"}, true
	}
	nt := idx.types[*t.Name]
	if nt == nil {
		return nil, false
	}
	switch nt.Kind {
	case "SCALAR":
		// A custom scalar: any JSON value the application accepts.
		return map[string]any{"description": "GraphQL scalar " + nt.Name}, true
	case "ENUM":
		vals := []any{}
		for _, v := range nt.EnumValues {
			if isName(v.Name) {
				vals = append(vals, v.Name)
			}
		}
		return map[string]any{"type": "string", "enum": vals}, true
	case "INPUT_OBJECT":
		if objs >= maxSchemaDepth {
			// Deeper input objects (recursive ones included) are accepted as any
			// object: the application checks them.
			return map[string]any{"type": "object", "description": "GraphQL input " + nt.Name}, true
		}
		props := map[string]any{}
		var required []string
		for _, f := range nt.InputFields {
			if !isName(f.Name) {
				continue
			}
			s, ok := idx.jsonSchema(&f.Type, 0, objs+1, nodes)
			if !ok {
				return nil, false
			}
			if d := bounded(f.Description); d != "" {
				s["description"] = d
			}
			props[f.Name] = s
			if f.Type.Kind == "NON_NULL" {
				required = append(required, f.Name)
			}
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s, true
	}
	return nil, false
}

// selection is the selection set for a field of type t: "" for scalars and enums;
// " { a b { c } }" for objects (fields without required arguments, up to
// maxSelectionDepth levels and maxSelectionFields fields); __typename for unions and
// whatever is left past the bounds.
func (idx *schemaIndex) selection(t *typeRef, depth int, count *int) (string, bool) {
	nt := idx.named(t)
	if nt == nil {
		// Built-in scalars need not be in the types list.
		if n := baseName(t); n != "" && slices.Contains([]string{"Int", "Float", "String", "ID", "Boolean"}, n) {
			return "", true
		}
		return "", false
	}
	switch nt.Kind {
	case "SCALAR", "ENUM":
		return "", true
	case "OBJECT", "INTERFACE":
	case "UNION":
		*count++
		return " { __typename }", true
	default:
		return "", false
	}
	if depth >= maxSelectionDepth || *count >= maxSelectionFields {
		*count++
		return " { __typename }", true
	}
	var parts []string
	for _, f := range nt.Fields {
		if *count >= maxSelectionFields {
			break
		}
		if !isName(f.Name) || strings.HasPrefix(f.Name, "__") || hasRequiredArg(f) {
			continue
		}
		sub, ok := idx.selection(&f.Type, depth+1, count)
		if !ok {
			continue
		}
		*count++
		parts = append(parts, f.Name+sub)
	}
	if len(parts) == 0 {
		parts = []string{"__typename"}
	}
	return " { " + strings.Join(parts, " ") + " }", true
}

func baseName(t *typeRef) string {
	for d := 0; t != nil && d <= maxTypeRefDepth; d++ {
		if t.Kind != "NON_NULL" && t.Kind != "LIST" {
			if t.Name == nil {
				return ""
			}
			return *t.Name
		}
		t = t.OfType
	}
	return ""
}

func hasRequiredArg(f field) bool {
	for _, a := range f.Args {
		if a.Type.Kind == "NON_NULL" {
			return true
		}
	}
	return false
}

// document writes the GraphQL request for a call of the tool with the given arguments
// (those present in args, in the field's order): the operation text and its variables.
// Unknown arguments are an error (the input schema forbids them).
func (t appTool) document(args map[string]any) (string, map[string]any, error) {
	vars := map[string]any{}
	var decl, pass []string
	for _, a := range t.Args {
		v, ok := args[a.Name]
		if !ok || v == nil {
			if a.Required {
				return "", nil, fmt.Errorf("argument %q is required", a.Name)
			}
			continue
		}
		vars[a.Name] = v
		decl = append(decl, "$"+a.Name+": "+a.Type)
		pass = append(pass, a.Name+": $"+a.Name)
	}
	var unknown []string
	for k := range args {
		if k == chainArg {
			continue
		}
		if !slices.ContainsFunc(t.Args, func(a toolArg) bool { return a.Name == k }) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return "", nil, fmt.Errorf("unknown arguments %v (the tool takes %s)", unknown, t.argNames())
	}
	var b strings.Builder
	if t.Mutation {
		b.WriteString("mutation")
	} else {
		b.WriteString("query")
	}
	if len(decl) > 0 {
		b.WriteString("(" + strings.Join(decl, ", ") + ")")
	}
	b.WriteString(" { " + t.Field)
	if len(pass) > 0 {
		b.WriteString("(" + strings.Join(pass, ", ") + ")")
	}
	b.WriteString(t.Selection + " }")
	return b.String(), vars, nil
}

func (t appTool) argNames() string {
	names := []string{chainArg}
	for _, a := range t.Args {
		names = append(names, a.Name)
	}
	return strings.Join(names, ", ")
}

// sanitizeToolName maps s onto MCP's tool-name rules: 1 to 128 characters from
// [A-Za-z0-9_.-]; any other character becomes '_'.
func sanitizeToolName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 128 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}
