package netup

import (
	"slices"
	"testing"
)

func TestRuntimeEnv(t *testing.T) {
	for _, c := range []struct {
		name      string
		env       []string
		cpus, n   int
		want      string // the GOMAXPROCS entry expected last, or "" for env unchanged
		unchanged bool
	}{
		{"four validators on two cores", []string{"PATH=/bin"}, 2, 4, "GOMAXPROCS=1", false},
		{"four validators on sixteen cores", []string{"PATH=/bin"}, 16, 4, "GOMAXPROCS=4", false},
		{"one validator", nil, 8, 1, "GOMAXPROCS=8", false},
		{"no local validator", nil, 8, 0, "GOMAXPROCS=1", false},
		{"the user's setting wins", []string{"GOMAXPROCS=3", "PATH=/bin"}, 2, 4, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			orig := slices.Clone(c.env)
			got := RuntimeEnv(c.env, c.cpus, c.n)
			if !slices.Equal(c.env, orig) {
				t.Fatalf("the input environment was modified: %v", c.env)
			}
			if c.unchanged {
				if !slices.Equal(got, orig) {
					t.Fatalf("got %v, want the environment unchanged", got)
				}
				return
			}
			if len(got) != len(orig)+1 || !slices.Equal(got[:len(orig)], orig) || got[len(got)-1] != c.want {
				t.Fatalf("got %v, want %v plus %s", got, orig, c.want)
			}
		})
	}
}
