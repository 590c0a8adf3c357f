package mcp

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func toolsByField(tools []appTool) map[string]appTool {
	m := map[string]appTool{}
	for _, t := range tools {
		m[t.Field] = t
	}
	return m
}

func schemaJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIntrospectionCounter(t *testing.T) {
	tools, err := parseIntrospection(fixture(t, "counter.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tools) != 2 {
		t.Fatalf("tools = %+v", tools)
	}
	by := toolsByField(tools)
	v, inc := by["value"], by["increment"]
	if v.Mutation || v.Selection != "" || len(v.Args) != 0 || v.Description != "The current value." {
		t.Errorf("value tool %+v", v)
	}
	if !inc.Mutation || len(inc.Args) != 1 || inc.Args[0] != (toolArg{Name: "value", Type: "Int!", Required: true}) {
		t.Errorf("increment tool %+v", inc)
	}
	want := `{"additionalProperties":false,"properties":{"_chain":{"description":"the chain to run on (64 hex digits); default: the wallet's default chain if it uses the application, else the first chain of the wallet that does","type":"string"},"value":{"type":"integer"}},"required":["value"],"type":"object"}`
	if got := schemaJSON(t, inc.InputSchema); got != want {
		t.Errorf("increment schema\n got %s\nwant %s", got, want)
	}
	doc, vars, err := inc.document(map[string]any{"value": 5, "_chain": "x"})
	if err != nil || doc != "mutation($value: Int!) { increment(value: $value) }" || vars["value"] != 5 || len(vars) != 1 {
		t.Errorf("increment document %q %v %v", doc, vars, err)
	}
	if _, _, err := inc.document(map[string]any{}); err == nil || !strings.Contains(err.Error(), `"value" is required`) {
		t.Errorf("missing argument: %v", err)
	}
	if _, _, err := inc.document(map[string]any{"value": 1, "valu": 2}); err == nil || !strings.Contains(err.Error(), "unknown arguments [valu]") {
		t.Errorf("unknown argument: %v", err)
	}
	doc, _, err = v.document(nil)
	if err != nil || doc != "query { value }" {
		t.Errorf("value document %q %v", doc, err)
	}
}

func TestIntrospectionRich(t *testing.T) {
	tools, err := parseIntrospection(fixture(t, "rich.json"))
	if err != nil {
		t.Fatal(err)
	}
	by := toolsByField(tools)
	for _, f := range []string{"orders", "order", "items", "node", "ping", "search", "placeOrder", "cancel"} {
		if _, ok := by[f]; !ok {
			t.Errorf("no tool for %s", f)
		}
	}
	// Enums, defaults (optional) and custom scalars.
	if got := schemaJSON(t, by["orders"].InputSchema["properties"].(map[string]any)["side"]); got != `{"enum":["BUY","SELL"],"type":"string"}` {
		t.Errorf("orders.side schema %s", got)
	}
	if _, ok := by["orders"].InputSchema["required"]; ok {
		t.Errorf("orders has required arguments: %v", by["orders"].InputSchema)
	}
	// A selection skips fields with required arguments and stops at the depth bound.
	sel := by["orders"].Selection
	if strings.Contains(sel, "book") || !strings.Contains(sel, "fills { quantity order { id side price owner { __typename } fills { __typename } } }") || !strings.Contains(sel, "owner { owner balance }") {
		t.Errorf("orders selection %q", sel)
	}
	if by["items"].Selection != " { __typename }" || by["node"].Selection != " { id }" || by["ping"].Selection != "" {
		t.Errorf("union/interface/scalar selections %q %q %q", by["items"].Selection, by["node"].Selection, by["ping"].Selection)
	}
	// Lists of lists, input objects with required fields, recursive input objects
	// bounded.
	s := schemaJSON(t, by["search"].InputSchema)
	for _, want := range []string{
		`"ids":{"items":{"items":{"type":"string"},"type":"array"},"type":"array"}`,
		`"required":["ids"]`,
		`"required":["side","price","quantity"]`,
		`"price":{"description":"GraphQL scalar Amount"}`,
		`{"description":"GraphQL input OrderInput","type":"object"}`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("search schema lacks %s:\n%s", want, s)
		}
	}
	if strings.Count(s, `"next"`) != maxSchemaDepth {
		t.Errorf("recursive input nested %d times, want %d", strings.Count(s, `"next"`), maxSchemaDepth)
	}
	doc, vars, err := by["placeOrder"].document(map[string]any{"order": map[string]any{"side": "BUY", "price": "1", "quantity": 2}})
	if err != nil || !strings.HasPrefix(doc, "mutation($order: OrderInput!) { placeOrder(order: $order) { id side price owner { owner balance } fills { quantity order {") || len(vars) != 1 {
		t.Errorf("placeOrder document %q %v", doc, err)
	}
	for _, tool := range tools {
		args := map[string]any{}
		for _, a := range tool.Args {
			args[a.Name] = 1
		}
		doc, _, err := tool.document(args)
		if err != nil {
			t.Fatal(err)
		}
		if _, perr := parser.ParseQuery(&ast.Source{Input: doc}); perr != nil {
			t.Errorf("%s: generated document %q does not parse: %v", tool.Field, doc, perr)
		}
	}
}

// TestAttackIntrospectionBadInput: an application's schema is untrusted; hostile
// names never reach a generated document and sizes are bounded.
func TestAttackIntrospectionBadInput(t *testing.T) {
	for name, body := range map[string]string{
		"not json":    "{",
		"errors":      `{"errors":[{"message":"introspection is not supported"}]}`,
		"no schema":   `{"data":{}}`,
		"too big":     `{"data":` + strings.Repeat(" ", MaxIntrospection) + `}`,
		"many types":  `{"data":{"__schema":{"types":[` + strings.TrimSuffix(strings.Repeat(`{"kind":"OBJECT","name":"T"},`, maxTypes+1), ",") + `]}}}`,
		"wrong types": `{"data":{"__schema":{"types":"x"}}}`,
	} {
		if _, err := parseIntrospection([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Names that are not GraphQL names never reach a document: a field whose name or
	// argument type would inject text gets no tool.
	evil := `{"data":{"__schema":{"queryType":{"name":"Query"},"types":[
	  {"kind":"OBJECT","name":"Query","fields":[
	    {"name":"a } mutation { steal","args":[],"type":{"kind":"SCALAR","name":"Int"}},
	    {"name":"b","args":[{"name":"x","type":{"kind":"SCALAR","name":"Int) { steal }"}}],"type":{"kind":"SCALAR","name":"Int"}},
	    {"name":"c","args":[{"name":"x","type":{"kind":"NON_NULL","ofType":{"kind":"NON_NULL","ofType":{"kind":"SCALAR","name":"Int"}}}}],"type":{"kind":"SCALAR","name":"Int"}},
	    {"name":"d","args":[{"name":"_chain","type":{"kind":"SCALAR","name":"Int"}}],"type":{"kind":"SCALAR","name":"Int"}},
	    {"name":"ok","args":[],"type":{"kind":"OBJECT","name":"Query"}}
	  ]}]}}}`
	tools, err := parseIntrospection([]byte(evil))
	if err != nil {
		t.Fatal(err)
	}
	if len(tools) != 1 || tools[0].Field != "ok" || tools[0].Selection != " { b d ok { b d ok { b d ok { __typename } } } }" {
		t.Fatalf("tools from a hostile schema: %+v", tools)
	}
	// A schema with more fields than MaxToolsPerApp gets MaxToolsPerApp tools.
	var fields []string
	for i := 0; i < 3*MaxToolsPerApp; i++ {
		fields = append(fields, `{"name":"f`+strings.Repeat("x", i%5)+string(rune('a'+i%26))+`","args":[],"type":{"kind":"SCALAR","name":"Int"}}`)
	}
	many := `{"data":{"__schema":{"queryType":{"name":"Query"},"types":[{"kind":"OBJECT","name":"Query","fields":[` + strings.Join(fields, ",") + `]}]}}}`
	if tools, err := parseIntrospection([]byte(many)); err != nil || len(tools) != MaxToolsPerApp {
		t.Fatalf("many fields: %d tools, %v", len(tools), err)
	}
}

func TestSanitizeToolName(t *testing.T) {
	for in, want := range map[string]string{
		"app_1a2b3c4d_increment": "app_1a2b3c4d_increment",
		"a b/c":                  "a_b_c",
		"":                       "_",
		"é":                      "_",
		"x.y-z":                  "x.y-z",
		strings.Repeat("a", 200): strings.Repeat("a", 128),
	} {
		if got := sanitizeToolName(in); got != want {
			t.Errorf("sanitizeToolName(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzIntrospection(f *testing.F) {
	f.Add(fixture(f, "counter.json"))
	f.Add(fixture(f, "rich.json"))
	f.Add([]byte(`{"data":{"__schema":{"queryType":{"name":"Q"},"types":[{"kind":"OBJECT","name":"Q","fields":[{"name":"a","args":[{"name":"x","type":{"kind":"LIST","ofType":{"kind":"INPUT_OBJECT","name":"I"}}}],"type":{"kind":"OBJECT","name":"Q"}}]},{"kind":"INPUT_OBJECT","name":"I","inputFields":[{"name":"i","type":{"kind":"INPUT_OBJECT","name":"I"}}]}]}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tools, err := parseIntrospection(b)
		if err != nil {
			return
		}
		if len(tools) > MaxToolsPerApp {
			t.Fatalf("%d tools", len(tools))
		}
		for _, tool := range tools {
			if _, err := json.Marshal(tool.InputSchema); err != nil {
				t.Fatal(err)
			}
			args := map[string]any{}
			for _, a := range tool.Args {
				args[a.Name] = 1
			}
			doc, _, err := tool.document(args)
			if err != nil {
				t.Fatal(err)
			}
			q, perr := parser.ParseQuery(&ast.Source{Input: doc})
			if perr != nil {
				t.Fatalf("generated document %q does not parse: %v", doc, perr)
			}
			if len(q.Operations) != 1 || len(q.Operations[0].SelectionSet) != 1 {
				t.Fatalf("generated document %q is not one operation on one field", doc)
			}
		}
	})
}
