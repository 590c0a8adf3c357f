package mica_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/micachain/mica/"

// layers is the "may import" column of ../shared/DESIGN.md §1. A package may import the
// packages of its row and, transitively, whatever those may import: the direction of
// imports is what is checked, not the exact set. Packages not listed here may not be
// imported by any listed package and are themselves unchecked (cmd/, tests).
var layers = map[string][]string{
	"internal/atomicfile":                  {},
	"internal/cputime":                     {},
	"internal/timerslack":                  {},
	"internal/boundedset":                  {},
	"internal/gopool":                      {},
	"internal/base":                        {},
	"internal/codec":                       {"internal/base"},
	"internal/crypto":                      {"internal/base", "internal/codec"},
	"internal/protocol":                    {"internal/base", "internal/codec", "internal/crypto"},
	"internal/protocol/prototest":          {"internal/protocol"},
	"internal/consensus":                   {"internal/protocol"},
	"internal/kv":                          {"internal/base"},
	"internal/kv/memkv":                    {"internal/kv"},
	"internal/kv/pebblekv":                 {"internal/kv"},
	"internal/kv/pgkv":                     {"internal/kv"},
	"internal/kv/kvtest":                   {"internal/kv"},
	"internal/views":                       {"internal/kv", "internal/codec"},
	"internal/execution":                   {"internal/protocol", "internal/views"},
	"internal/execution/wasm":              {"internal/execution"},
	"internal/execution/wasm/wasmtest":     {},
	"internal/chain":                       {"internal/consensus", "internal/execution", "internal/views", "internal/protocol"},
	"internal/storage":                     {"internal/chain", "internal/views", "internal/kv", "internal/boundedset"},
	"internal/storage/storagetest":         {"internal/storage", "internal/kv/kvtest", "internal/kv/memkv"},
	"internal/metrics":                     {},
	"internal/worker":                      {"internal/storage", "internal/chain", "internal/metrics"},
	"internal/client":                      {"internal/worker", "internal/storage", "internal/gopool"},
	"internal/rpc":                         {"internal/worker", "internal/client", "internal/protocol", "internal/rpc/pb", "internal/atomicfile"},
	"internal/rpc/pb":                      {},
	"internal/validator":                   {"internal/rpc", "internal/worker", "internal/storage", "internal/kv/pebblekv", "internal/kv/memkv", "internal/atomicfile", "internal/kv/pgkv", "internal/execution/wasm"},
	"internal/wallet":                      {"internal/crypto", "internal/protocol", "internal/atomicfile"},
	"internal/sim":                         {"internal/worker", "internal/client", "internal/kv/memkv", "internal/kv/pebblekv", "internal/protocol/prototest"},
	"internal/faucet":                      {"internal/client", "internal/validator"},
	"internal/netup":                       {"internal/client", "internal/validator", "internal/faucet", "internal/wallet", "internal/timerslack"},
	"internal/bench":                       {"internal/client", "internal/validator", "examples/counter", "examples/fungible"},
	"internal/localnet":                    {"internal/client", "internal/worker", "internal/kv/pebblekv", "internal/kv/memkv", "internal/atomicfile"},
	"internal/nodeservice":                 {"internal/client", "internal/wallet", "internal/nodeservice/gql", "internal/nodeservice/view", "internal/nodeservice/webui"},
	"internal/nodeservice/view":            {"internal/protocol", "internal/nodeservice/gql"},
	"internal/nodeservice/gql":             {},
	"internal/nodeservice/webui":           {},
	"internal/nodeservice/webui/webuitest": {},
	"internal/mcp":                         {"internal/nodeservice"},
	"internal/sdkdist":                     {"sdk", "internal/atomicfile"},
}

// allowed returns the transitive closure of pkg's row.
func allowed(pkg string) map[string]bool {
	out := map[string]bool{}
	var visit func(string)
	visit = func(p string) {
		for _, d := range layers[p] {
			if !out[d] {
				out[d] = true
				visit(d)
			}
		}
	}
	visit(pkg)
	return out
}

func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./internal/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		if _, ok := layers[pkg]; !ok {
			t.Errorf("package %s is not in the layering table of deps_test.go (add its row from DESIGN.md §1)", pkg)
			continue
		}
		checked++
		ok := allowed(pkg)
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if !ok[dep] {
				t.Errorf("%s imports %s, against the direction of imports in DESIGN.md §1 (allowed: %v)", pkg, dep, keys(ok))
			}
		}
	}
	if checked == 0 {
		t.Fatal("no packages checked")
	}
}

// TestConsensusIsPure checks that the consensus state machine reads no clock, randomness
// source or storage: time comes in as a value (DESIGN.md §1).
func TestConsensusIsPure(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{join .Imports \" \"}}", "./internal/consensus").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, imp := range strings.Fields(string(out)) {
		switch imp {
		case "time", "math/rand", "crypto/rand", "os", "net", "log", "log/slog", "sync":
			t.Errorf("internal/consensus imports %s; it must stay a pure state machine", imp)
		}
	}
}

func keys(m map[string]bool) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}
