package main

import (
	"testing"

	"github.com/micachain/mica/internal/netup"
)

func TestBenchRuntime(t *testing.T) {
	local4 := []string{"http://127.0.0.1:25400", "http://127.0.0.1:25401/metrics", "http://localhost:25402", "http://[::1]:25403"}
	for _, tc := range []struct {
		name        string
		metrics     []string
		cpus        int
		env         map[string]string
		procs, gogc int
	}{
		{"net up, 4 validators on 2 cpus", local4, 2, nil, 1, netup.ValidatorGOGC},
		{"net up, 4 validators on 16 cpus", local4, 16, nil, 3, netup.ValidatorGOGC},
		{"net up, 4 validators on 5 cpus", local4, 5, nil, 1, netup.ValidatorGOGC},
		{"remote validators", []string{"http://10.0.0.1:9100", "https://val.example.com/metrics"}, 2, nil, 0, netup.ValidatorGOGC},
		{"one local among remote ones", []string{"http://10.0.0.1:9100", "http://127.0.0.1:25400"}, 8, nil, 4, netup.ValidatorGOGC},
		{"no metrics sampled", nil, 2, nil, 0, netup.ValidatorGOGC},
		{"unparsable endpoint", []string{"http://%zz"}, 2, nil, 0, netup.ValidatorGOGC},
		{"the user's GOMAXPROCS wins", local4, 2, map[string]string{"GOMAXPROCS": "2"}, 0, netup.ValidatorGOGC},
		{"the user's GOGC wins", local4, 2, map[string]string{"GOGC": "off"}, 1, 0},
		{"both set by the user", local4, 2, map[string]string{"GOGC": "50", "GOMAXPROCS": "2"}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			procs, gogc := benchRuntime(tc.metrics, tc.cpus, func(k string) string { return tc.env[k] })
			if procs != tc.procs || gogc != tc.gogc {
				t.Errorf("benchRuntime = GOMAXPROCS %d, GOGC %d; want %d, %d", procs, gogc, tc.procs, tc.gogc)
			}
		})
	}
}
