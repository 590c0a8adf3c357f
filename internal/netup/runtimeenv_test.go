package netup

import (
	"slices"
	"testing"
)

func TestRuntimeEnv(t *testing.T) {
	for _, c := range []struct {
		name    string
		env     []string
		cpus, n int
		added   []string // appended to env, in order
	}{
		{"four validators on two cores", []string{"PATH=/bin"}, 2, 4, []string{"GOMAXPROCS=1", "GOGC=200"}},
		{"four validators on sixteen cores", []string{"PATH=/bin"}, 16, 4, []string{"GOMAXPROCS=4", "GOGC=200"}},
		{"one validator", nil, 8, 1, []string{"GOMAXPROCS=8", "GOGC=200"}},
		{"no local validator", nil, 8, 0, []string{"GOMAXPROCS=1", "GOGC=200"}},
		{"the user's GOMAXPROCS wins", []string{"GOMAXPROCS=3", "PATH=/bin"}, 2, 4, []string{"GOGC=200"}},
		{"the user's GOGC wins", []string{"GOGC=off"}, 2, 4, []string{"GOMAXPROCS=1"}},
		{"both set by the user", []string{"GOGC=50", "GOMAXPROCS=2"}, 2, 4, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			orig := slices.Clone(c.env)
			got := RuntimeEnv(c.env, c.cpus, c.n)
			if !slices.Equal(c.env, orig) {
				t.Fatalf("the input environment was modified: %v", c.env)
			}
			if want := append(slices.Clone(orig), c.added...); !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}
