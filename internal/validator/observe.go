package validator

import (
	"errors"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/pebblekv"
	"github.com/micachain/mica/internal/metrics"
	"github.com/micachain/mica/internal/worker"
)

// observer is what a validator process tells operators: its metrics registry, the
// counter sets handed to its workers and RPC servers, and, when Config.MetricsListen is
// set, the HTTP server of /metrics, /healthz, /readyz (and /debug/pprof/ with
// Config.Pprof).
type observer struct {
	reg     *prometheus.Registry
	workers *metrics.Validator
	rpc     *metrics.RPC
	srv     *metrics.Server // nil without MetricsListen
	ready   atomic.Bool
}

// diskUser is a store that knows its size on disk (pebblekv).
type diskUser interface {
	DiskUsage() (uint64, error)
}

// writeCounter is a store that counts its writes and WAL syncs (pebblekv).
type writeCounter interface {
	Stats() (pebblekv.Stats, error)
}

// newObserver creates the registry and the counter sets; role is "validator", "proxy"
// or "shard". The gauges are computed at each scrape from workers (nil in a proxy
// process), the engine (nil in a proxy process) and the store.
func newObserver(cfg *Config, role string, db kv.Store, engine *wasm.Engine, workers func() []*worker.Worker, log *slog.Logger) (*observer, error) {
	o := &observer{reg: metrics.NewRegistry()}
	info := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metrics.Namespace, Name: "validator_info",
		Help:        "Always 1; its labels name the validator and the role of this process.",
		ConstLabels: prometheus.Labels{"validator": cfg.Name, "role": role}})
	info.Set(1)
	o.reg.MustRegister(info)
	o.workers = metrics.NewValidator(o.reg)
	server := "public"
	if role == "shard" {
		server = "internal"
	}
	o.rpc = metrics.NewRPC(o.reg, server)
	if workers != nil {
		metrics.GaugeFunc(o.reg, "chains_loaded", "Chains whose state is loaded in memory (bounded by the worker's cache).", func() float64 {
			n := 0
			for _, w := range workers() {
				n += w.LoadedChains()
			}
			return float64(n)
		})
		metrics.GaugeFunc(o.reg, "cross_chain_pending_deliveries", "(sender, recipient) pairs whose outbox holds bundles not yet delivered: the cross-chain backlog.", func() float64 {
			n := 0
			for _, w := range workers() {
				n += w.PendingDeliveries()
			}
			return float64(n)
		})
	}
	if engine != nil {
		metrics.GaugeFunc(o.reg, "wasm_modules_cached", "Compiled Wasm modules held in memory.", func() float64 { return float64(engine.CachedModules()) })
		if dir := engine.CacheDir(); dir != "" {
			metrics.GaugeFunc(o.reg, "wasm_cache_dir_bytes", "Bytes of the on-disk Wasm compilation cache.", func() float64 { return float64(dirSize(dir)) })
		}
	}
	if du, ok := db.(diskUser); ok {
		metrics.GaugeFunc(o.reg, "storage_disk_bytes", "Bytes the store occupies on disk (Pebble: tables, blob files and WAL).", func() float64 {
			n, err := du.DiskUsage()
			if err != nil {
				return 0
			}
			return float64(n)
		})
	}
	if wc, ok := db.(writeCounter); ok {
		stat := func(f func(pebblekv.Stats) uint64) func() float64 {
			return func() float64 {
				st, err := wc.Stats()
				if err != nil {
					return 0
				}
				return float64(f(st))
			}
		}
		for _, c := range []struct {
			name, help string
			f          func(pebblekv.Stats) uint64
		}{
			{"storage_commits_total", "Batches committed durably (each waits for a WAL sync, shared by concurrent commits).", func(s pebblekv.Stats) uint64 { return s.Commits }},
			{"storage_lazy_commits_total", "Batches committed without waiting for a WAL sync (made durable by the next synced commit).", func(s pebblekv.Stats) uint64 { return s.LazyCommits }},
			{"storage_keys_written_total", "Keys put or deleted by committed batches.", func(s pebblekv.Stats) uint64 { return s.Keys }},
			{"storage_wal_syncs_total", "Fsyncs of the write-ahead log (storage_commits_total / this = synced batches per fsync).", func(s pebblekv.Stats) uint64 { return s.WALSyncs }},
			{"storage_wal_bytes_total", "Bytes written to the write-ahead log.", func(s pebblekv.Stats) uint64 { return s.WALBytes }},
			{"storage_wal_holds_total", "WAL fsyncs after which the next one was held back by the minimum sync interval (each arms a timer).", func(s pebblekv.Stats) uint64 { return s.WALHolds }},
			{"storage_flushes_total", "Memtable flushes.", func(s pebblekv.Stats) uint64 { return s.Flushes }},
			{"storage_flushed_bytes_total", "Table and blob bytes written by memtable flushes.", func(s pebblekv.Stats) uint64 { return s.FlushedBytes }},
			{"storage_compactions_total", "Compactions.", func(s pebblekv.Stats) uint64 { return s.Compactions }},
			{"storage_compacted_bytes_total", "Table and blob bytes written by compactions.", func(s pebblekv.Stats) uint64 { return s.CompactedBytes }},
			{"storage_block_cache_hits_total", "Block cache hits.", func(s pebblekv.Stats) uint64 { return s.BlockCacheHits }},
			{"storage_block_cache_misses_total", "Block cache misses.", func(s pebblekv.Stats) uint64 { return s.BlockCacheMisses }},
			// Gauges: the LSM's shape now.
			{"storage_compaction_debt_bytes", "Pebble's estimate of the bytes to compact for the LSM to reach its shape.", func(s pebblekv.Stats) uint64 { return s.CompactionDebt }},
			{"storage_l0_files", "Tables in L0.", func(s pebblekv.Stats) uint64 { return s.L0Files }},
			{"storage_l0_sublevels", "Sublevels of L0.", func(s pebblekv.Stats) uint64 { return s.L0Sublevels }},
			{"storage_read_amp", "Sorted runs a point lookup may visit (L0 sublevels plus non-empty levels).", func(s pebblekv.Stats) uint64 { return s.ReadAmp }},
			{"storage_tables", "Live tables.", func(s pebblekv.Stats) uint64 { return s.Tables }},
			{"storage_blob_files", "Live blob files.", func(s pebblekv.Stats) uint64 { return s.BlobFiles }},
		} {
			if !strings.HasSuffix(c.name, "_total") {
				metrics.GaugeFunc(o.reg, c.name, c.help, stat(c.f))
				continue
			}
			o.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: c.name, Help: c.help}, stat(c.f)))
		}
	}
	if cfg.MetricsListen != "" {
		h := metrics.Handler(o.reg, metrics.HandlerOptions{Pprof: cfg.Pprof, Ready: o.readiness})
		srv, err := metrics.Listen(cfg.MetricsListen, h)
		if err != nil {
			return nil, err
		}
		o.srv = srv
		log.Info("metrics serving", "address", "http://"+srv.Addr().String()+"/metrics", "pprof", cfg.Pprof)
	}
	return o, nil
}

var errNotServing = errors.New("the validator is not serving (starting or stopping)")

func (o *observer) readiness() error {
	if !o.ready.Load() {
		return errNotServing
	}
	return nil
}

// dirSize sums the sizes of the regular files under dir (0 if unreadable).
func dirSize(dir string) int64 {
	var n int64
	walkErr := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file removed by a sweep meanwhile
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	if walkErr != nil {
		return 0
	}
	return n
}

// MetricsAddr returns the address of the metrics server, or nil.
func (v *Validator) MetricsAddr() string {
	if v.obs == nil || v.obs.srv == nil {
		return ""
	}
	return v.obs.srv.Addr().String()
}

// Registry returns the validator's metrics registry (for tests and embedding).
func (v *Validator) Registry() *prometheus.Registry { return v.obs.reg }
