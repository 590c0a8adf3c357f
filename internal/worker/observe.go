package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/metrics"
)

// What a worker tells operators: counters (Config.Metrics) and log lines. A failed
// request is logged at info with its chain, height and kind, at most failureBurst lines
// at once and failureRate lines per second after that: anyone can send requests that
// fail, and the log must not become the way to fill a validator's disk. Lines over the
// limit are counted (mica_log_lines_suppressed_total) and their number is reported with
// the next line written.

const (
	failureBurst = 20
	failureRate  = 10 // lines per second
)

// failureLimiter is a token bucket on the injected clock. It is safe for concurrent use.
type failureLimiter struct {
	mu         sync.Mutex
	tokens     float64
	last       base.Timestamp
	suppressed int
}

// allow reports whether a line may be written now, and how many lines were suppressed
// since the last one written (reset when it returns true).
func (l *failureLimiter) allow(now base.Timestamp) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == 0 {
		l.tokens = failureBurst
	} else if now > l.last {
		l.tokens += float64(now-l.last) / 1e6 * failureRate
		if l.tokens > failureBurst {
			l.tokens = failureBurst
		}
	}
	if now > l.last {
		l.last = now
	}
	if l.tokens < 1 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	s := l.suppressed
	l.suppressed = 0
	return true, s
}

// errorClass is the metrics class of a request's error.
func errorClass(err error) string {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return metrics.ClassCanceled
	case errors.Is(err, base.ErrCorrupt):
		return metrics.ClassCorrupt
	case errors.Is(err, base.ErrInvalid):
		return metrics.ClassInvalid
	case errors.Is(err, base.ErrNotFound):
		return metrics.ClassNotFound
	case errors.Is(err, base.ErrRetryable):
		return metrics.ClassRetryable
	}
	return metrics.ClassOther
}

// failed counts a failed request and logs it (chain-info queries at debug: clients
// probe heights routinely).
func (w *Worker) failed(request string, chain base.ChainID, height base.BlockHeight, err error) {
	class := errorClass(err)
	w.cfg.Metrics.Failed(request, class)
	level := slog.LevelInfo
	if request == metrics.RequestChainInfo || class == metrics.ClassCanceled {
		level = slog.LevelDebug
	}
	ctx := context.Background()
	if !w.log.Enabled(ctx, level) {
		return
	}
	ok, suppressed := w.failLog.allow(w.cfg.Clock.Now())
	if !ok {
		w.cfg.Metrics.LogLinesSuppressed(1)
		return
	}
	attrs := []slog.Attr{slog.String("request", request), slog.String("chain", chain.Short()), slog.Uint64("height", uint64(height)),
		slog.String("class", class), slog.String("err", err.Error())}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed_before", suppressed))
	}
	w.log.LogAttrs(ctx, level, "request failed", attrs...)
}

// debugEnabled reports whether per-block debug lines are wanted (checked first so that
// a block costs no allocation for a line nobody reads).
func (w *Worker) debugEnabled() bool {
	return w.log.Enabled(context.Background(), slog.LevelDebug)
}

// PendingDeliveries returns the number of (sender, recipient) pairs with bundles not
// yet delivered: the cross-chain backlog.
func (w *Worker) PendingDeliveries() int {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	n := len(w.pending)
	for k := range w.inflight {
		if _, queued := w.pending[k]; !queued {
			n++
		}
	}
	return n
}
