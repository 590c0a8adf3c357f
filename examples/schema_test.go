package examples_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	aioracle "github.com/micachain/mica/examples/ai-oracle"
	"github.com/micachain/mica/examples/auction"
	"github.com/micachain/mica/examples/counter"
	"github.com/micachain/mica/examples/crowdfunding"
	"github.com/micachain/mica/examples/fungible"
	"github.com/micachain/mica/examples/social"
	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite the golden schemas in testdata/")

// TestDerivedSchemas: every example's service derives its GraphQL schema from its Go
// resolver types (no hand-written SDL); the schemas are kept in testdata/NAME.graphql
// (go test -run TestDerivedSchemas -update rewrites them: review the diff), and
// introspection answers with exactly the types of the derived schema.
func TestDerivedSchemas(t *testing.T) {
	for _, ex := range []struct {
		name string
		svc  sdk.ServiceApp
	}{
		{"counter", counter.NewService()}, {"fungible", fungible.NewService()}, {"crowdfunding", crowdfunding.NewService()},
		{"auction", auction.NewService()}, {"social", social.NewService()}, {"ai-oracle", aioracle.NewService()},
	} {
		t.Run(ex.name, func(t *testing.T) {
			svc, ok := ex.svc.(*sdk.GraphQLService)
			if !ok {
				t.Fatalf("the service is a %T, not an *sdk.GraphQLService", ex.svc)
			}
			path := filepath.Join("testdata", ex.name+".graphql")
			if *update {
				if err := os.WriteFile(path, []byte(svc.SDL()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if svc.SDL() != string(want) {
				t.Fatalf("derived schema differs from %s (-update rewrites it):\n%s", path, svc.SDL())
			}
			out, err := sdktest.NewChain().Query(svc, []byte(`{ __schema { types { name } } }`))
			if err != nil {
				t.Fatal(err)
			}
			var resp struct {
				Data struct {
					Schema struct{ Types []struct{ Name string } } `json:"__schema"`
				}
			}
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			var got, declared []string
			for _, ty := range resp.Data.Schema.Types {
				if !strings.HasPrefix(ty.Name, "__") && !slices.Contains([]string{"Boolean", "Float", "ID", "Int", "String"}, ty.Name) {
					got = append(got, ty.Name)
				}
			}
			for _, line := range strings.Split(svc.SDL(), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && (f[0] == "scalar" || f[0] == "type" || f[0] == "input") {
					declared = append(declared, f[1])
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, declared) {
				t.Fatalf("introspection lists the types %v, the derived schema declares %v", got, declared)
			}
		})
	}
}
