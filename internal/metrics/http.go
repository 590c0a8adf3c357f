package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HandlerOptions configure Handler.
type HandlerOptions struct {
	// Ready reports whether the process serves (its store is open, its listeners are
	// up); /readyz answers 503 with the error's text while it returns one. nil: ready.
	Ready func() error
	// Pprof serves net/http/pprof under /debug/pprof/ (CPU and heap profiles, goroutine
	// dumps). Off by default: profiles reveal internals and cost CPU while they run.
	Pprof bool
}

// Handler serves /metrics (the registry in the Prometheus text or protobuf format),
// /healthz (200 while the process runs), /readyz (200 once Ready returns nil) and, with
// Pprof, /debug/pprof/. Everything else is 404.
func Handler(reg *prometheus.Registry, o HandlerOptions) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:            reg, // counts its own scrape errors
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if o.Ready != nil {
			if err := o.Ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "not ready: %v\n", err)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	if o.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// WriteTimeout bounds a response of the metrics server; it also bounds pprof's CPU
// profiles and traces (pprof refuses a ?seconds= longer than it).
const WriteTimeout = 65 * time.Second

// Server serves a Handler on one listener, from Listen on: /healthz answers while the
// process starts (and /readyz says it is not ready yet).
type Server struct {
	hs   *http.Server
	lis  net.Listener
	errc chan error // Serve's result
}

// Listen opens addr (host:port; port 0 picks a free one) for a metrics server.
// Operators should keep it on loopback or a private network: /metrics and pprof are
// not authenticated.
func Listen(addr string, h http.Handler) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	s := &Server{lis: lis, errc: make(chan error, 1), hs: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}}
	go func() { s.errc <- s.hs.Serve(lis) }()
	return s, nil
}

// Addr returns the listening address.
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// Run waits until ctx ends, then shuts the server down (waiting up to 2 s for scrapes
// in flight). It returns nil after a stop, or the error that stopped serving. Call it
// once.
func (s *Server) Run(ctx context.Context) error {
	select {
	case err := <-s.errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.hs.Shutdown(sctx); err != nil {
		_ = s.hs.Close()
	}
	if err := <-s.errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the server at once.
func (s *Server) Close() error { return s.hs.Close() }
