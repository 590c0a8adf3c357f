package pebblekv_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/kvtest"
	"github.com/micachain/mica/internal/kv/pebblekv"
)

func open(t *testing.T, dir string) kv.Store {
	t.Helper()
	s, err := pebblekv.Open(dir, pebblekv.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store { return open(t, t.TempDir()) })
}

func TestReopen(t *testing.T) {
	kvtest.RunReopen(t, open)
}

func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	if s2, err := pebblekv.Open(dir, pebblekv.Options{}); err == nil {
		s2.Close()
		t.Fatal("second Open of a directory in use succeeded")
	}
}

func TestLoggerAdapter(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := pebblekv.Open(t.TempDir(), pebblekv.Options{Logger: log, CacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var b kv.Batch
	b.Put([]byte("k"), []byte("v"))
	if err := s.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Whatever Pebble logged went through slog, tagged with the component.
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line != "" && !strings.Contains(line, "component=pebble") {
			t.Errorf("log line without component: %s", line)
		}
	}
}
