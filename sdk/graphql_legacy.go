package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Operation is a parsed GraphQL operation: what ParseGraphQL returns.
//
// Deprecated: services use GraphQLService; this parser goes once no example uses it.
type Operation struct {
	// Kind is "query" or "mutation" (a bare selection set is a query).
	Kind string
	// Name is the operation's name, if given.
	Name string
	// Fields is the top-level selection set, in document order.
	Fields []Field
}

// Field is one selected field.
type Field struct {
	// Alias is the response key given with "alias: field", or "".
	Alias string
	Name  string
	// Args maps argument names to values: string, int64 (integers), float64,
	// bool, nil (null), Enum (enum values), []any (lists) or map[string]any (input
	// objects). Nil when the field has no arguments.
	Args map[string]any
	// Selection is the field's sub-selection, nil for a leaf.
	Selection []Field
}

// Key returns the field's response key: its alias, or else its name.
func (f Field) Key() string {
	if f.Alias != "" {
		return f.Alias
	}
	return f.Name
}

// Enum is an enum argument value, such as ASC in order: ASC.
type Enum string

// ErrGraphQL is wrapped by every error of ParseGraphQL.
var ErrGraphQL = errors.New("graphql")

// maxGraphQLDepth bounds the nesting of selections and argument values.
const maxGraphQLDepth = 64

// ParseGraphQL parses a GraphQL request holding one operation of the shape services
// need:
//
//	[query|mutation [Name]] { field(arg: value, ...) { subfield ... } ... }
//
// with string, integer, float, boolean, null, enum, list and input-object argument
// values, aliases and nested selections. Fragments, variables, directives,
// subscriptions, block strings and several operations per document are refused with
// an error saying so. The request may also be the JSON form clients POST,
// {"query": "...", "variables": {...}, "operationName": "..."}; variables are accepted
// there but refused where the query uses one. ParseGraphQL never panics.
func ParseGraphQL(query []byte) (*Operation, error) {
	src := query
	if t := bytes.TrimSpace(query); len(t) > 0 && t[0] == '{' {
		var req map[string]json.RawMessage
		if json.Unmarshal(t, &req) == nil {
			var q string
			if json.Unmarshal(req["query"], &q) != nil {
				return nil, fmt.Errorf("%w: JSON request without a \"query\" string", ErrGraphQL)
			}
			src = []byte(q)
		}
	}
	p := &gqlParser{src: src}
	op, err := p.document()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGraphQL, err)
	}
	return op, nil
}

type gqlParser struct {
	src   []byte
	pos   int
	depth int
}

func (p *gqlParser) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

// skip passes whitespace, commas (insignificant in GraphQL), comments and a BOM.
func (p *gqlParser) skip() {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' && p.src[p.pos] != '\r' {
				p.pos++
			}
		case bytes.HasPrefix(p.src[p.pos:], []byte("\uFEFF")):
			p.pos += 3
		default:
			return
		}
	}
}

// peek returns the next significant byte, or 0 at the end.
func (p *gqlParser) peek() byte {
	p.skip()
	if p.pos >= len(p.src) {
		return 0
	}
	return p.src[p.pos]
}

func (p *gqlParser) expect(c byte) error {
	if got := p.peek(); got != c {
		return p.errorf("expected %q, found %s", c, p.describe())
	}
	p.pos++
	return nil
}

// describe names what is at the current position, for errors; it also explains the
// unsupported features.
func (p *gqlParser) describe() string {
	if p.peek() == 0 {
		return "end of document"
	}
	switch c := p.src[p.pos]; c {
	case '$':
		return "'$' (variables are not supported: write values inline)"
	case '@':
		return "'@' (directives are not supported)"
	case '.':
		return "'.' (fragments are not supported)"
	default:
		if c >= 0x20 && c < 0x7f {
			return strconv.QuoteRune(rune(c))
		}
		return fmt.Sprintf("byte 0x%02x", c)
	}
}

func isNameStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isNameChar(c byte) bool  { return isNameStart(c) || c >= '0' && c <= '9' }

// name reads a name, or returns "" when none is next.
func (p *gqlParser) name() string {
	if !isNameStart(p.peek()) {
		return ""
	}
	start := p.pos
	for p.pos < len(p.src) && isNameChar(p.src[p.pos]) {
		p.pos++
	}
	return string(p.src[start:p.pos])
}

func (p *gqlParser) document() (*Operation, error) {
	op := &Operation{Kind: "query"}
	if p.peek() != '{' {
		switch kw := p.name(); kw {
		case "query", "mutation":
			op.Kind = kw
		case "subscription":
			return nil, p.errorf("subscriptions are not supported")
		case "fragment":
			return nil, p.errorf("fragments are not supported")
		case "":
			return nil, p.errorf("expected an operation, found %s", p.describe())
		default:
			return nil, p.errorf("unknown operation type %q (want query or mutation)", kw)
		}
		op.Name = p.name()
		switch p.peek() {
		case '(':
			return nil, p.errorf("variable definitions are not supported: write values inline")
		case '@':
			return nil, p.errorf("directives are not supported")
		}
	}
	fields, err := p.selectionSet()
	if err != nil {
		return nil, err
	}
	op.Fields = fields
	if p.peek() != 0 {
		if isNameStart(p.src[p.pos]) || p.src[p.pos] == '{' {
			return nil, p.errorf("only one operation per document is supported")
		}
		return nil, p.errorf("unexpected %s after the operation", p.describe())
	}
	return op, nil
}

func (p *gqlParser) enter() error {
	p.depth++
	if p.depth > maxGraphQLDepth {
		return p.errorf("nested deeper than %d levels", maxGraphQLDepth)
	}
	return nil
}

func (p *gqlParser) selectionSet() ([]Field, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if err := p.expect('{'); err != nil {
		return nil, err
	}
	var fields []Field
	for p.peek() != '}' {
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		fields = append(fields, f)
	}
	p.pos++
	if len(fields) == 0 {
		return nil, p.errorf("empty selection set")
	}
	return fields, nil
}

func (p *gqlParser) field() (Field, error) {
	var f Field
	if f.Name = p.name(); f.Name == "" {
		return f, p.errorf("expected a field name, found %s", p.describe())
	}
	if p.peek() == ':' {
		p.pos++
		f.Alias = f.Name
		if f.Name = p.name(); f.Name == "" {
			return f, p.errorf("expected a field name after alias %q, found %s", f.Alias, p.describe())
		}
	}
	if p.peek() == '(' {
		p.pos++
		f.Args = map[string]any{}
		for p.peek() != ')' {
			arg := p.name()
			if arg == "" {
				return f, p.errorf("expected an argument name, found %s", p.describe())
			}
			if _, dup := f.Args[arg]; dup {
				return f, p.errorf("argument %q given twice", arg)
			}
			if err := p.expect(':'); err != nil {
				return f, err
			}
			v, err := p.value()
			if err != nil {
				return f, err
			}
			f.Args[arg] = v
		}
		p.pos++
		if len(f.Args) == 0 {
			return f, p.errorf("empty argument list")
		}
	}
	switch p.peek() {
	case '@':
		return f, p.errorf("directives are not supported")
	case '{':
		sel, err := p.selectionSet()
		if err != nil {
			return f, err
		}
		f.Selection = sel
	}
	return f, nil
}

func (p *gqlParser) value() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	switch c := p.peek(); {
	case c == '"':
		return p.stringValue()
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == '[':
		p.pos++
		list := []any{}
		for p.peek() != ']' {
			if p.peek() == 0 {
				return nil, p.errorf("unterminated list")
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		p.pos++
		return list, nil
	case c == '{':
		p.pos++
		obj := map[string]any{}
		for p.peek() != '}' {
			k := p.name()
			if k == "" {
				return nil, p.errorf("expected an object field name, found %s", p.describe())
			}
			if _, dup := obj[k]; dup {
				return nil, p.errorf("object field %q given twice", k)
			}
			if err := p.expect(':'); err != nil {
				return nil, err
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			obj[k] = v
		}
		p.pos++
		return obj, nil
	case isNameStart(c):
		switch n := p.name(); n {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		default:
			return Enum(n), nil
		}
	default:
		return nil, p.errorf("expected a value, found %s", p.describe())
	}
}

func (p *gqlParser) stringValue() (any, error) {
	if bytes.HasPrefix(p.src[p.pos:], []byte(`"""`)) {
		return nil, p.errorf("block strings are not supported")
	}
	start := p.pos
	p.pos++
	for {
		if p.pos >= len(p.src) || p.src[p.pos] == '\n' || p.src[p.pos] == '\r' {
			p.pos = start
			return nil, p.errorf("unterminated string")
		}
		c := p.src[p.pos]
		p.pos++
		if c == '\\' {
			p.pos++ // the escaped character; JSON decoding checks the escape
			continue
		}
		if c == '"' {
			break
		}
	}
	// GraphQL string escapes are JSON's.
	var s string
	if p.pos > len(p.src) || json.Unmarshal(p.src[start:p.pos], &s) != nil {
		p.pos = start
		return nil, p.errorf("invalid string literal")
	}
	return s, nil
}

func (p *gqlParser) number() (any, error) {
	start := p.pos
	if p.src[p.pos] == '-' {
		p.pos++
	}
	isFloat := false
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c >= '0' && c <= '9':
		case c == '.' || c == 'e' || c == 'E' || ((c == '+' || c == '-') && (p.src[p.pos-1] == 'e' || p.src[p.pos-1] == 'E')):
			isFloat = true
		default:
			goto end
		}
		p.pos++
	}
end:
	lit := string(p.src[start:p.pos])
	if p.pos < len(p.src) && isNameStart(p.src[p.pos]) {
		return nil, p.errorf("invalid number %q", lit+string(p.src[p.pos]))
	}
	digits := strings.TrimPrefix(lit, "-")
	if len(digits) > 1 && digits[0] == '0' && digits[1] >= '0' && digits[1] <= '9' {
		return nil, p.errorf("invalid number %q: leading zero", lit)
	}
	if isFloat {
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil || !json.Valid([]byte(lit)) {
			return nil, p.errorf("invalid number %q", lit)
		}
		return f, nil
	}
	n, err := strconv.ParseInt(lit, 10, 64)
	if err != nil {
		return nil, p.errorf("invalid integer %q (want a 64-bit integer)", lit)
	}
	return n, nil
}
