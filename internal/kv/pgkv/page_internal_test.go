package pgkv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/micachain/mica/internal/kv"
)

// TestPageBounds checks, on the server, that a page stops after the row that brings the
// running total of key and value bytes to pageBytes, keeps at least one row however large,
// and respects the row limit and the range.
func TestPageBounds(t *testing.T) {
	dsn := os.Getenv("MICA_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("MICA_TEST_POSTGRES is unset; run .ci/postgres.sh (see TestMain in pgkv_test.go)")
	}
	ctx := context.Background()
	table := fmt.Sprintf("kvtest_pages_%d", os.Getpid())
	s, err := Open(ctx, dsn, Options{Table: table, pageBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := s.pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize()); err != nil {
			t.Error(err)
		}
		s.Close()
	})
	var b kv.Batch
	for i := range 10 {
		b.Put(fmt.Appendf(nil, "a%d", i), bytes.Repeat([]byte{'x'}, 30)) // 32 bytes a row
	}
	b.Put([]byte("b0"), bytes.Repeat([]byte{'y'}, 500)) // larger than a page alone
	b.Put([]byte("b1"), []byte("small"))
	b.Put([]byte("c"), nil)
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		start, end []byte
		first      bool
		limit      int
		want       []string
	}{
		// Totals before each row: 0, 32, 64, 96 are below 100; the fifth starts at 128.
		{[]byte("a"), []byte("b"), true, 1000, []string{"a0", "a1", "a2", "a3"}},
		{[]byte("a3"), []byte("b"), false, 1000, []string{"a4", "a5", "a6", "a7"}},
		{[]byte("a7"), []byte("b"), false, 1000, []string{"a8", "a9"}},
		{[]byte("a"), []byte("b"), true, 2, []string{"a0", "a1"}},
		{[]byte("b"), []byte("c"), true, 1000, []string{"b0"}},
		{[]byte("b0"), nil, false, 1000, []string{"b1", "c"}},
	} {
		p, err := s.readPage(ctx, s.pool, tc.start, tc.end, tc.first, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, k := range p.keys {
			got = append(got, string(k))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("page from %q (first %v) to %q, limit %d = %q, want %q", tc.start, tc.first, tc.end, tc.limit, got, tc.want)
		}
	}
}
