package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/metrics"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// instrumented replaces the fixture's workers by workers that count into one registry
// and log into buf.
func instrumented(t *testing.T, f *fixture, level slog.Level) (*metrics.Validator, *bytes.Buffer, func() string) {
	t.Helper()
	reg := metrics.NewRegistry()
	m := metrics.NewValidator(reg)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))
	for i, k := range f.keys {
		db := memkv.New()
		t.Cleanup(func() { _ = db.Close() })
		st := storage.New(db)
		var b kv.Batch
		storage.PutGenesis(&b, f.genesis)
		if err := st.Write(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		var lg *slog.Logger
		if i == 0 {
			lg = log // one worker logs, so that lines are counted once
		}
		f.workers[i] = worker.New(worker.Config{Storage: st, Signer: k, Clock: fixedClock{10_000_000}, Metrics: m, Logger: lg})
	}
	return m, &buf, func() string {
		var out strings.Builder
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, metric := range mf.GetMetric() {
				var labels []string
				for _, l := range metric.GetLabel() {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				v := metric.GetCounter().GetValue()
				fmt.Fprintf(&out, "%s{%s} %v\n", mf.GetName(), strings.Join(labels, ","), v)
			}
		}
		return out.String()
	}
}

func TestMetricsCountBlocksVotesAndCertificates(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, buf, text := instrumented(t, f, slog.LevelDebug)
	block := f.transfer(base.Tokens(1), 0, nil)
	p := f.propose(t, f.alice, block, base.FastRound)
	var votes []protocol.Vote
	for _, w := range f.workers {
		info, err := w.HandleBlockProposal(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		votes = append(votes, *info.Manager.PendingVote)
	}
	cert := protocol.CertificateFromVotes(protocol.KindConfirmed, executed(t, f.workers[0], &block), nil, base.FastRound, votes)
	for _, w := range f.workers {
		if _, err := w.HandleCertificate(ctx, cert); err != nil {
			t.Fatal(err)
		}
	}
	// A proposal for a height the chain has passed fails, and is counted and logged.
	if _, err := f.workers[0].HandleBlockProposal(ctx, p); err == nil {
		t.Fatal("a proposal for a committed height was accepted")
	}
	got := text()
	for _, want := range []string{
		"mica_blocks_executed_total{} 4",
		"mica_proposals_handled_total{} 4",
		"mica_votes_signed_total{kind=confirmed} 4",
		"mica_certificates_handled_total{kind=confirmed} 4",
		"mica_blocks_committed_total{} 4",
		"mica_transactions_committed_total{} 4",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if !regexp.MustCompile(`mica_request_errors_total\{class=\w+,request=proposal\} 1\n`).MatchString(got) {
		t.Errorf("the failed proposal is not counted:\n%s", got)
	}
	logs := buf.String()
	for _, want := range []string{`msg="block committed"`, `msg="voted for a proposal"`, `msg="request failed" request=proposal chain=` + f.chains[0].Short() + ` height=0`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// TestAttackFailuresCannotFloodTheLog: a peer sending thousands of bad requests gets a
// bounded number of log lines (the rest are counted), at info level.
func TestAttackFailuresCannotFloodTheLog(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, buf, text := instrumented(t, f, slog.LevelInfo)
	bad := f.transfer(base.Tokens(1), 5, nil) // height 5 on a chain at height 0
	p := f.propose(t, f.alice, bad, base.FastRound)
	const n = 2000
	for range n {
		if _, err := f.workers[0].HandleBlockProposal(ctx, p); err == nil {
			t.Fatal("a proposal at the wrong height was accepted")
		}
	}
	lines := strings.Count(buf.String(), "request failed")
	if lines == 0 || lines > 100 {
		t.Fatalf("%d failure lines for %d bad requests (the clock does not move: the burst is all)", lines, n)
	}
	if !strings.Contains(text(), fmt.Sprintf("mica_log_lines_suppressed_total{} %d\n", n-lines)) {
		t.Fatalf("suppressed lines not counted (%d written):\n%s", lines, text())
	}
}
