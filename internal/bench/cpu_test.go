package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

const exposition = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total %s
process_cpu_seconds_total_other 99
# TYPE process_start_time_seconds gauge
process_start_time_seconds %s
mica_rpc_seconds_bucket{method="x",le="0.1"} 3
`

func TestParseCPU(t *testing.T) {
	cpu, start, err := parseCPU(strings.NewReader(fmt.Sprintf(exposition, "12.5", "1.76493e+09")))
	if err != nil || cpu != 12.5 || start != 1.76493e9 {
		t.Fatalf("parse: %v %v %v", cpu, start, err)
	}
	if _, _, err := parseCPU(strings.NewReader("go_goroutines 3\n")); err == nil {
		t.Fatal("a page without the process collector was accepted")
	}
	if _, _, err := parseCPU(strings.NewReader("process_cpu_seconds_total x\n")); err == nil {
		t.Fatal("a malformed value was accepted")
	}
	// A timestamp after the value is allowed by the text format.
	if cpu, _, err := parseCPU(strings.NewReader("process_cpu_seconds_total 3 1700000000000\n")); err != nil || cpu != 3 {
		t.Fatalf("with a timestamp: %v %v", cpu, err)
	}
}

func TestMetricsURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:23000":          "http://127.0.0.1:23000/metrics",
		"http://127.0.0.1:23000/":         "http://127.0.0.1:23000/metrics",
		"http://127.0.0.1:23000/metrics":  "http://127.0.0.1:23000/metrics",
		"https://v.example:9000/m/custom": "https://v.example:9000/m/custom",
	} {
		if got, err := MetricsURL(in); err != nil || got != want {
			t.Errorf("MetricsURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:23000", "ftp://h/x", "http://", ":"} {
		if _, err := MetricsURL(bad); err == nil {
			t.Errorf("MetricsURL(%q) accepted", bad)
		}
	}
}

// TestCPUBetween samples two fake validators' metrics endpoints and a third that is
// down, before and after, one of them restarting in between, and checks the sums and
// the per-block figures.
func TestCPUBetween(t *testing.T) {
	var cpuA, cpuB atomic.Value
	cpuA.Store("10")
	cpuB.Store("20")
	startB := atomic.Value{}
	startB.Store("1000")
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, exposition, cpuA.Load(), "500")
	}))
	defer a.Close()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, exposition, cpuB.Load(), startB.Load())
	}))
	defer b.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	urls := []string{a.URL, b.URL + "/metrics", down.URL}
	ctx := context.Background()

	before := SampleCPU(ctx, a.Client(), urls)
	busy(t)
	cpuA.Store("10.3")
	cpuB.Store("20.1")
	after := SampleCPU(ctx, a.Client(), urls)
	c := CPUBetween(before, after, 100)
	if c == nil || c.ValidatorsMeasured != 2 || len(c.Validators) != 3 {
		t.Fatalf("cpu %+v", c)
	}
	if !near(c.ValidatorsSeconds, 0.4) || !near(c.ValidatorsMsPerBlock, 4) || !near(c.Validators[0].MsPerBlock, 3) || !near(c.Validators[1].Seconds, 0.1) {
		t.Errorf("validators %+v", c)
	}
	if c.Validators[2].Error == "" || c.Validators[2].Seconds != 0 {
		t.Errorf("an unreachable validator was measured: %+v", c.Validators[2])
	}
	if before.ClientOK {
		if c.ClientSeconds <= 0 || !near(c.TotalMsPerBlock, c.ClientMsPerBlock+c.ValidatorsMsPerBlock) {
			t.Errorf("client %+v", c)
		}
	}
	// B restarts: its counter starts again, which is not CPU of the run.
	startB.Store("2000")
	cpuB.Store("0.5")
	c = CPUBetween(after, SampleCPU(ctx, a.Client(), urls), 10)
	if c.ValidatorsMeasured != 1 || !strings.Contains(c.Validators[1].Error, "restarted") {
		t.Errorf("restart: %+v", c.Validators)
	}
	if c := CPUBetween(CPUSample{}, CPUSample{}, 10); c != nil {
		t.Errorf("nothing measured gave %+v", c)
	}
}

// busy spends a little CPU, so that the client's CPU time moves.
func busy(t *testing.T) {
	t.Helper()
	x := 0
	for i := range 20_000_000 {
		x ^= i * i
	}
	if x == 1 {
		t.Log(x)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
