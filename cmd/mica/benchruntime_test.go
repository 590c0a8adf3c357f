package main

import (
	"testing"

	"github.com/micachain/mica/internal/netup"
)

func TestBenchGOGC(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{"unset", nil, netup.ValidatorGOGC},
		{"other variables set", map[string]string{"GOMAXPROCS": "1"}, netup.ValidatorGOGC},
		{"the user's GOGC wins", map[string]string{"GOGC": "50"}, 0},
		{"the user's GOGC=off wins", map[string]string{"GOGC": "off"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := benchGOGC(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("benchGOGC = %d, want %d", got, tc.want)
			}
		})
	}
}
