package sdk

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseGraphQL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want *Operation
	}{
		{`{ value }`, &Operation{Kind: "query", Fields: []Field{{Name: "value"}}}},
		{`query { value }`, &Operation{Kind: "query", Fields: []Field{{Name: "value"}}}},
		{`mutation { increment(value: 5) }`, &Operation{Kind: "mutation", Fields: []Field{{Name: "increment", Args: map[string]any{"value": int64(5)}}}}},
		{`{"query": "mutation { increment(value: 5) }", "variables": {}}`, &Operation{Kind: "mutation", Fields: []Field{{Name: "increment", Args: map[string]any{"value": int64(5)}}}}},
		{`{"query":"{ value }"}`, &Operation{Kind: "query", Fields: []Field{{Name: "value"}}}},
		{"query Q {\n  # comment\n  a: item(id: \"x\\ny\", n: -3, ok: true, order: DESC, f: 1.5, none: null, l: [1, \"s\"], o: {k: V}) {\n    name\n    owner { id }\n  }\n  total\n}",
			&Operation{Kind: "query", Name: "Q", Fields: []Field{
				{Alias: "a", Name: "item", Args: map[string]any{"id": "x\ny", "n": int64(-3), "ok": true, "order": Enum("DESC"), "f": 1.5, "none": nil,
					"l": []any{int64(1), "s"}, "o": map[string]any{"k": Enum("V")}},
					Selection: []Field{{Name: "name"}, {Name: "owner", Selection: []Field{{Name: "id"}}}}},
				{Name: "total"},
			}}},
		{`{a,b,,c}`, &Operation{Kind: "query", Fields: []Field{{Name: "a"}, {Name: "b"}, {Name: "c"}}}},
	} {
		got, err := ParseGraphQL([]byte(c.in))
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseGraphQL(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestParseGraphQLErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{``, "expected an operation"},
		{`{}`, "without a \"query\""},
		{`{ }x`, "empty selection set"},
		{`{ value `, "expected a field name"},
		{`{ value } { other }`, "only one operation"},
		{`subscription { x }`, "subscriptions are not supported"},
		{`fragment F on T { x }`, "fragments are not supported"},
		{`{ ...F }`, "fragments are not supported"},
		{`{ x(a: $v) }`, "variables are not supported"},
		{`query Q($v: Int) { x(a: $v) }`, "variable definitions are not supported"},
		{`{ x @include(if: true) }`, "directives are not supported"},
		{`{ x(a: """b""") }`, "block strings"},
		{`{ x(a: "b) }`, "unterminated string"},
		{`{ x(a: "\q") }`, "invalid string"},
		{`{ x(a: 1, a: 2) }`, "given twice"},
		{`{ x(a: 99999999999999999999) }`, "64-bit integer"},
		{`{ x(a: 01) }`, "leading zero"},
		{`{ x(a: 1x) }`, "invalid number"},
		{`{ x() }`, "empty argument list"},
		{`{ x(a 1) }`, "expected ':'"},
		{`{ x(a: ) }`, "expected a value"},
		{`{ x(a: [1 }`, "expected a value"},
		{`{ x(a: [1`, "unterminated list"},
		{`update { x }`, "unknown operation type"},
		{`{"query": 5}`, "without a \"query\""},
		{strings.Repeat("{a", 100) + strings.Repeat("}", 100), "nested deeper"},
		{`{ x(a: ` + strings.Repeat("[", 100), "nested deeper"},
	} {
		op, err := ParseGraphQL([]byte(c.in))
		if err == nil || !errors.Is(err, ErrGraphQL) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseGraphQL(%q) = %+v, %v; want error containing %q", c.in, op, err, c.want)
		}
	}
}

func TestGraphQLResponses(t *testing.T) {
	if got := string(GraphQLData(map[string]int{"value": 5})); got != `{"data":{"value":5}}` {
		t.Errorf("GraphQLData = %s", got)
	}
	if got := string(GraphQLData(nil)); got != `{"data":null}` {
		t.Errorf("GraphQLData(nil) = %s", got)
	}
	if got := string(GraphQLError(errors.New(`bad "x"`))); got != `{"errors":[{"message":"bad \"x\""}]}` {
		t.Errorf("GraphQLError = %s", got)
	}
	if got := string(GraphQLData(func() {})); !strings.HasPrefix(got, `{"errors":[{"message":`) {
		t.Errorf("GraphQLData(func) = %s", got)
	}
}

func FuzzParseGraphQL(f *testing.F) {
	for _, s := range []string{`{ value }`, `mutation { increment(value: 5) }`, `{"query":"{ a(b: [1, {c: D}]) { e } }"}`,
		`query Q { a: b(s: "x\u00e9\n", f: -1.5e3, n: null) { c } }`, `{ x(a: "\`, `{ x(a: 1e`, "{ a #\n b }"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		op, err := ParseGraphQL(in)
		if (op == nil) == (err == nil) {
			t.Fatalf("ParseGraphQL(%q) = %v, %v", in, op, err)
		}
		if op != nil && (len(op.Fields) == 0 || op.Kind != "query" && op.Kind != "mutation") {
			t.Fatalf("ParseGraphQL(%q) = %+v", in, op)
		}
	})
}
