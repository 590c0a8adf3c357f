package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CPU is the CPU time (user + system) that the benchmark client and the validator
// processes spent during a run, in total and per committed block.
type CPU struct {
	ClientSeconds     float64 `json:"client_seconds"`
	ValidatorsSeconds float64 `json:"validators_seconds"`
	// The per-block figures divide by the run's committed blocks (0 if none).
	ClientMsPerBlock     float64 `json:"client_ms_per_block"`
	ValidatorsMsPerBlock float64 `json:"validators_ms_per_block"`
	TotalMsPerBlock      float64 `json:"total_ms_per_block"`
	// ValidatorsMeasured is how many of Validators were measured both before and
	// after the run; ValidatorsSeconds sums those only.
	ValidatorsMeasured int          `json:"validators_measured"`
	Validators         []ProcessCPU `json:"validators"`
}

// ProcessCPU is one validator process's CPU time over the run, from its metrics
// endpoint's process_cpu_seconds_total.
type ProcessCPU struct {
	Metrics    string  `json:"metrics"`
	Seconds    float64 `json:"seconds"`
	MsPerBlock float64 `json:"ms_per_block"`
	// Error says why it was not measured (unreachable, restarted during the run).
	Error string `json:"error,omitempty"`
}

// CPUSample is the CPU time used so far by this process and by each validator.
type CPUSample struct {
	// Client is this process's CPU time; ClientOK is false where the platform does
	// not report it.
	Client   time.Duration
	ClientOK bool
	// Validators are in the order of the URLs sampled.
	Validators []processSample
}

type processSample struct {
	url     string
	seconds float64
	started float64 // process_start_time_seconds, to notice a restart
	err     error
}

// metricsTimeout bounds one scrape of a metrics endpoint.
const metricsTimeout = 3 * time.Second

// SampleCPU reads this process's CPU time and each validator's
// process_cpu_seconds_total from its metrics endpoint (a base URL such as
// http://127.0.0.1:23000, or the full /metrics URL). A validator that cannot be read
// is recorded with its error.
func SampleCPU(ctx context.Context, hc *http.Client, metrics []string) CPUSample {
	s := CPUSample{}
	s.Client, s.ClientOK = selfCPU()
	for _, u := range metrics {
		ps := processSample{url: u}
		ps.seconds, ps.started, ps.err = scrapeCPU(ctx, hc, u)
		s.Validators = append(s.Validators, ps)
	}
	return s
}

// MetricsURL returns the /metrics URL of a metrics endpoint given by its base URL
// (path empty or "/") or in full.
func MetricsURL(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "http" && p.Scheme != "https" || p.Host == "" {
		return "", fmt.Errorf("metrics endpoint %q: want http://HOST:PORT", u)
	}
	if p.Path == "" || p.Path == "/" {
		p.Path = "/metrics"
	}
	return p.String(), nil
}

// maxMetricsBody bounds what is read of a metrics page.
const maxMetricsBody = 8 << 20

// scrapeCPU reads process_cpu_seconds_total and process_start_time_seconds from a
// Prometheus text exposition.
func scrapeCPU(ctx context.Context, hc *http.Client, endpoint string) (cpu, started float64, err error) {
	u, err := MetricsURL(endpoint)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, metricsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("metrics %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("metrics %s: %s", u, resp.Status)
	}
	return parseCPU(io.LimitReader(resp.Body, maxMetricsBody))
}

// errNoProcessMetrics is returned for a metrics page without the process collector's
// figures.
var errNoProcessMetrics = errors.New("no process_cpu_seconds_total (the process collector is not registered)")

// parseCPU finds the two unlabelled process metrics in a text exposition.
func parseCPU(r io.Reader) (cpu, started float64, err error) {
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || name != "process_cpu_seconds_total" && name != "process_start_time_seconds" {
			continue
		}
		// A sample line may end with a timestamp: NAME VALUE [TIMESTAMP].
		value, _, _ = strings.Cut(strings.TrimSpace(value), " ")
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: value %q: %w", name, value, err)
		}
		if name == "process_cpu_seconds_total" {
			cpu, found = v, true
		} else {
			started = v
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !found {
		return 0, 0, errNoProcessMetrics
	}
	return cpu, started, nil
}

// CPUBetween returns the CPU time spent between two samples of the same endpoints,
// per block over blocks; nil if neither the client nor any validator was measured.
func CPUBetween(before, after CPUSample, blocks int) *CPU {
	per := func(sec float64) float64 {
		if blocks == 0 {
			return 0
		}
		return sec * 1000 / float64(blocks)
	}
	c := &CPU{Validators: []ProcessCPU{}}
	measured := false
	if before.ClientOK && after.ClientOK {
		c.ClientSeconds = (after.Client - before.Client).Seconds()
		measured = true
	}
	for i, b := range before.Validators {
		p := ProcessCPU{Metrics: b.url}
		var a processSample
		if i < len(after.Validators) {
			a = after.Validators[i]
		}
		switch {
		case b.err != nil:
			p.Error = "before the run: " + b.err.Error()
		case a.err != nil:
			p.Error = "after the run: " + a.err.Error()
		case a.started != b.started || a.seconds < b.seconds:
			p.Error = "the process restarted during the run"
		default:
			p.Seconds = a.seconds - b.seconds
			p.MsPerBlock = per(p.Seconds)
			c.ValidatorsSeconds += p.Seconds
			c.ValidatorsMeasured++
			measured = true
		}
		c.Validators = append(c.Validators, p)
	}
	if !measured {
		return nil
	}
	c.ClientMsPerBlock = per(c.ClientSeconds)
	c.ValidatorsMsPerBlock = per(c.ValidatorsSeconds)
	c.TotalMsPerBlock = c.ClientMsPerBlock + c.ValidatorsMsPerBlock
	return c
}
