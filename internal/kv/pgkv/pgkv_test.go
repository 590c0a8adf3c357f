package pgkv_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/kvtest"
	"github.com/micachain/mica/internal/kv/pgkv"
)

// envDSN names the variable holding the URL of the test server, for example
// postgres://mica_test:mica_test@127.0.0.1:5432/mica_test?sslmode=disable.
const envDSN = "MICA_TEST_POSTGRES"

const skipMsg = envDSN + " is unset, so the PostgreSQL tests are skipped. CI sets it; locally, as root, " +
	`run: export ` + envDSN + `="$(.ci/postgres.sh)" (it installs and starts PostgreSQL 15 if needed)`

// TestMain notes, once, that the tests needing a server will skip. CI sets MICA_TEST_POSTGRES
// (from .ci/postgres.sh); locally, run that script and export its output.
func TestMain(m *testing.M) {
	if os.Getenv(envDSN) == "" {
		fmt.Fprintln(os.Stderr, "pgkv: "+skipMsg)
	}
	os.Exit(m.Run())
}

// dsn returns the test server's URL, or skips tb.
func dsn(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(envDSN)
	if u == "" {
		tb.Skip(skipMsg)
	}
	return u
}

// admin runs a statement on its own connection, outside any Store.
func admin(tb testing.TB, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn(tb))
	if err != nil {
		tb.Fatalf("admin connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("admin %q: %v", sql, err)
	}
}

// dropAtCleanup drops table when tb ends (after the stores opened later are closed).
func dropAtCleanup(tb testing.TB, table string) {
	tb.Helper()
	dsn(tb)
	tb.Cleanup(func() { admin(tb, "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize()) })
}

// newTable returns the name of a table no other test uses, dropped when tb ends.
func newTable(tb testing.TB) string {
	tb.Helper()
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		tb.Fatal(err)
	}
	table := "kvtest_" + hex.EncodeToString(r[:])
	dropAtCleanup(tb, table)
	return table
}

// openTable opens a Store on table, closed when tb ends.
func openTable(tb testing.TB, table string, opts pgkv.Options) *pgkv.Store {
	tb.Helper()
	opts.Table = table
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pgkv.Open(ctx, dsn(tb), opts)
	if err != nil {
		tb.Fatalf("open %s: %v", table, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	dsn(t)
	for _, tc := range []struct {
		name string
		opts pgkv.Options
	}{
		// Default pages: every scan of the suite fits the first statement.
		{"pages=default", pgkv.Options{}},
		// One row per page: every scan of two or more keys reads pages in a transaction.
		{"pages=1row", pgkv.WithPages(pgkv.Options{}, 1, 8<<20)},
		// Pages cut by size after about 40 bytes (and never below one row).
		{"pages=40bytes", pgkv.WithPages(pgkv.Options{}, 1000, 40)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kvtest.Run(t, func(t *testing.T) kv.Store {
				opts := tc.opts
				opts.Table = newTable(t)
				s, err := pgkv.Open(context.Background(), dsn(t), opts)
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				return s // kvtest closes it, before the table is dropped
			})
		})
	}
}

func TestReopen(t *testing.T) {
	dsn(t)
	kvtest.RunReopen(t, func(t *testing.T, dir string) kv.Store {
		// The same directory is the same table.
		sum := sha256.Sum256([]byte(dir))
		table := "kvtest_reopen_" + hex.EncodeToString(sum[:8])
		dropAtCleanup(t, table)
		s, err := pgkv.Open(context.Background(), dsn(t), pgkv.Options{Table: table})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	})
}

func mustWrite(t *testing.T, s kv.Writer, b *kv.Batch) {
	t.Helper()
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func scanKeys(t *testing.T, s kv.Reader, prefix []byte) [][]byte {
	t.Helper()
	var keys [][]byte
	err := s.Scan(context.Background(), prefix, func(k, v []byte) error {
		keys = append(keys, bytes.Clone(k))
		return nil
	})
	if err != nil {
		t.Fatalf("scan %x: %v", prefix, err)
	}
	return keys
}

// TestTwoStores opens two Stores on one table, each with its own pool (as a validator's
// proxy and a shard in two processes would), and checks that each sees the other's writes as
// soon as Write returns.
func TestTwoStores(t *testing.T) {
	table := newTable(t)
	a := openTable(t, table, pgkv.Options{})
	b := openTable(t, table, pgkv.WithPages(pgkv.Options{}, 2, 1<<20))
	ctx := context.Background()

	for i := range 50 {
		w, r := a, b
		if i%2 == 1 {
			w, r = b, a
		}
		key := fmt.Appendf(nil, "k/%03d", i)
		var batch kv.Batch
		batch.Put(key, fmt.Appendf(nil, "v%d", i))
		if i > 0 {
			batch.Delete(fmt.Appendf(nil, "k/%03d", i-1))
		}
		mustWrite(t, w, &batch)
		v, ok, err := r.Get(ctx, key)
		if err != nil || !ok || string(v) != fmt.Sprintf("v%d", i) {
			t.Fatalf("write %d: other store's Get = %q, %v, %v", i, v, ok, err)
		}
		vals, err := r.MultiGet(ctx, [][]byte{key, fmt.Appendf(nil, "k/%03d", i-1)})
		if err != nil || vals[0] == nil || vals[1] != nil {
			t.Fatalf("write %d: other store's MultiGet = %q, %v", i, vals, err)
		}
		if keys := scanKeys(t, r, []byte("k/")); len(keys) != 1 || !bytes.Equal(keys[0], key) {
			t.Fatalf("write %d: other store's Scan = %q", i, keys)
		}
	}

	// Both write at once, to their own keys and to a shared one; each then sees everything.
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for n, s := range []*pgkv.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				var batch kv.Batch
				batch.Put(fmt.Appendf(nil, "c/%d/%03d", n, i), []byte("x"))
				batch.Put([]byte("c/shared"), fmt.Appendf(nil, "%d", n))
				if err := s.Write(ctx, &batch); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for _, s := range []*pgkv.Store{a, b} {
		if got := len(scanKeys(t, s, []byte("c/"))); got != 201 {
			t.Fatalf("after concurrent writes a store sees %d keys, want 201", got)
		}
	}

	// A DeletePrefix through one is seen by the other.
	var batch kv.Batch
	batch.DeletePrefix([]byte("c/"))
	mustWrite(t, b, &batch)
	if keys := scanKeys(t, a, []byte("c/")); len(keys) != 0 {
		t.Fatalf("after DeletePrefix the other store still sees %d keys", len(keys))
	}

	// Closing one leaves the other working.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Get(ctx, []byte("k/049")); err != nil {
		t.Fatalf("Get after the other store closed: %v", err)
	}
}

// TestCallbackUsesStore runs multi-page scans whose callbacks read and write through the same
// Store, with one connection in each pool: a callback never waits for the connection its own
// scan holds.
func TestCallbackUsesStore(t *testing.T) {
	s := openTable(t, newTable(t), pgkv.WithPages(pgkv.Options{MaxConns: 1, ScanConns: 1}, 2, 1<<20))
	var b kv.Batch
	for i := range 10 {
		b.Put(fmt.Appendf(nil, "k%d", i), []byte("v"))
	}
	mustWrite(t, s, &b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	for w := range 3 { // more scans than scan connections: they wait their turn
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			err := s.Scan(ctx, []byte("k"), func(k, v []byte) error {
				n++
				if _, _, err := s.Get(ctx, k); err != nil {
					return err
				}
				if _, err := s.MultiGet(ctx, [][]byte{k, []byte("x")}); err != nil {
					return err
				}
				var b kv.Batch
				b.Put(fmt.Appendf(nil, "x%d/%s", w, k), v)
				if err := s.Write(ctx, &b); err != nil {
					return err
				}
				// A single-page scan needs only the main pool.
				return s.Scan(ctx, k, func(k, v []byte) error { return nil })
			})
			if err == nil && n != 10 {
				err = fmt.Errorf("scan saw %d keys, want 10", n)
			}
			errc <- err
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatalf("scan with a callback using the store: %v", err)
		}
	}
	if got := len(scanKeys(t, s, []byte("x"))); got != 30 {
		t.Fatalf("callbacks wrote %d keys, want 30", got)
	}
}

// countHandler counts the log records whose message contains substr.
type countHandler struct {
	substr string
	n      *atomic.Int64
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.substr) {
		h.n.Add(1)
	}
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

// TestOpposingWriters writes and deletes the same keys from two Stores at once, in opposite
// orders. Deadlocks between them may happen (deletes lock rows in plan order); Write retries
// the aborted transaction, so every Write succeeds.
func TestOpposingWriters(t *testing.T) {
	table := newTable(t)
	var retries atomic.Int64
	log := slog.New(countHandler{"retrying", &retries})
	stores := []*pgkv.Store{openTable(t, table, pgkv.Options{Logger: log}), openTable(t, table, pgkv.Options{Logger: log})}
	defer func() { t.Logf("%d writes retried after a deadlock", retries.Load()) }()
	ctx := context.Background()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for w, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range 100 {
				var b kv.Batch
				for i := range 50 {
					if w == 1 {
						i = 49 - i
					}
					b.Put(fmt.Appendf(nil, "k%02d", i), fmt.Appendf(nil, "%d/%d", w, r))
				}
				if err := s.Write(ctx, &b); err != nil {
					errc <- err
					return
				}
				b.Reset()
				for i := range 50 {
					if w == 0 {
						i = 49 - i
					}
					b.Delete(fmt.Appendf(nil, "k%02d", i))
				}
				if err := s.Write(ctx, &b); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("opposing writers: %v", err)
	}
}

// TestDeadlockRetried puts a Write in a deadlock with another session: the Write's
// transaction locks k1, then waits for k2, held by the other session, which then asks for k1.
// PostgreSQL aborts the Write's transaction (it waited first, so its deadlock check runs
// first, after deadlock_timeout); Write sends the batch again, and it succeeds once the other
// session commits. On a loaded machine the other session's check can run first (each
// backend checks after its own deadlock_timeout, and the Write's may not be scheduled in
// time), so PostgreSQL aborts the other session instead: the scenario is then staged
// again, a few times.
func TestDeadlockRetried(t *testing.T) {
	const attempts = 5
	for range attempts {
		if deadlockRetried(t) {
			return
		}
		t.Log("PostgreSQL aborted the other session rather than the Write; staging the deadlock again")
	}
	t.Fatalf("in %d attempts PostgreSQL never aborted the Write's transaction", attempts)
}

// deadlockRetried stages TestDeadlockRetried's deadlock on a new table and checks the
// Write's retry; false if PostgreSQL aborted the other session instead.
func deadlockRetried(t *testing.T) bool {
	app := "pgkv_deadlock_" + newTable(t)[len("kvtest_"):]
	u, err := url.Parse(dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	table := newTable(t)
	var retries atomic.Int64
	s, err := pgkv.Open(context.Background(), u.String(), pgkv.Options{Table: table, Logger: slog.New(countHandler{"retrying", &retries})})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b kv.Batch
	b.Put([]byte("k1"), []byte("0"))
	b.Put([]byte("k2"), []byte("0"))
	mustWrite(t, s, &b)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other, err := pgx.Connect(ctx, dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	ident := pgx.Identifier{table}.Sanitize()
	if _, err := tx.Exec(ctx, "SELECT 1 FROM "+ident+" WHERE k = 'k2' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		var b kv.Batch
		b.Put([]byte("k1"), []byte("w"))
		b.DeletePrefix([]byte("zz")) // three statements, locking k1 then k2
		b.Put([]byte("k2"), []byte("w"))
		done <- s.Write(ctx, &b)
	}()
	for { // until the Write waits for the lock on k2
		var n int
		if err := other.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the Write never waited for the lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := tx.Exec(ctx, "UPDATE "+ident+" SET v = 'other' WHERE k = 'k1'"); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "40P01" {
			t.Fatalf("the other session's update: %v", err)
		}
		// PostgreSQL chose the other session: its rollback lets the Write through
		// without a retry.
		_ = tx.Rollback(ctx)
		if err := <-done; err != nil {
			t.Fatalf("write after the other session was aborted: %v", err)
		}
		return false
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("write in a deadlock: %v", err)
	}
	if retries.Load() == 0 {
		t.Fatal("the Write succeeded without a retry: no deadlock happened")
	}
	for _, k := range []string{"k1", "k2"} {
		if v, _, err := s.Get(ctx, []byte(k)); err != nil || string(v) != "w" {
			t.Fatalf("%s = %q, %v; want the retried write's w", k, v, err)
		}
	}
	return true
}

// TestConcurrentOpen opens one new table from several Stores at once: CREATE TABLE IF NOT
// EXISTS races between sessions, and every Open must still succeed.
func TestConcurrentOpen(t *testing.T) {
	table := newTable(t)
	const n = 8
	stores := make([]*pgkv.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = pgkv.Open(context.Background(), dsn(t), pgkv.Options{Table: table})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var b kv.Batch
	b.Put([]byte("k"), []byte("v"))
	mustWrite(t, stores[0], &b)
	if v, ok, err := stores[n-1].Get(context.Background(), []byte("k")); err != nil || !ok || string(v) != "v" {
		t.Fatalf("get = %q, %v, %v", v, ok, err)
	}
}

// TestByteOrder checks that the table orders keys bytewise, unsigned, shorter first: exactly
// bytes.Compare, which Scan order and prefix bounds rely on.
func TestByteOrder(t *testing.T) {
	dsn(t)
	keys := [][]byte{
		{}, {0x00}, {0x00, 0x00}, {0x00, 0xff}, {0x01}, {0x7f}, {0x7f, 0xff}, {0x80}, {0x80, 0x00},
		{0xfe, 0xff}, {0xff}, {0xff, 0x00}, {0xff, 0xff}, {0xff, 0xff, 0xff},
		[]byte("a"), []byte("a\x00"), []byte("a\x00b"), []byte("a\xffb"), []byte("ab"), []byte("b"),
	}
	want := slices.Clone(keys)
	slices.SortFunc(want, bytes.Compare)
	for _, pages := range []int{1000, 3} {
		t.Run(fmt.Sprintf("pageRows=%d", pages), func(t *testing.T) {
			table := newTable(t)
			s := openTable(t, table, pgkv.WithPages(pgkv.Options{}, pages, 1<<20))
			var b kv.Batch
			for i := len(keys) - 1; i >= 0; i-- { // insert in reverse
				b.Put(keys[i], []byte{byte(i)})
			}
			mustWrite(t, s, &b)

			got := scanKeys(t, s, nil)
			if len(got) != len(want) {
				t.Fatalf("scan found %d keys, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("scan order: entry %d = %x, want %x (full: %x)", i, got[i], want[i], got)
				}
			}
			// Signedness: 0x80 sorts after 0x7f, so the range of prefix 0x7f ends before it.
			if got := scanKeys(t, s, []byte{0x7f}); len(got) != 2 {
				t.Fatalf("scan 7f = %x, want [7f 7fff]", got)
			}
			if got := scanKeys(t, s, []byte{0xff}); len(got) != 4 {
				t.Fatalf("scan ff = %x, want the 4 keys starting with ff", got)
			}
			if got := scanKeys(t, s, []byte("a\x00")); len(got) != 2 {
				t.Fatalf("scan a00 = %x, want [a00 a00b]", got)
			}

			// The server's own ORDER BY agrees.
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			rows, err := conn.Query(ctx, "SELECT k FROM "+pgx.Identifier{table}.Sanitize()+" ORDER BY k")
			if err != nil {
				t.Fatal(err)
			}
			sqlKeys, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(sqlKeys, want, bytes.Equal) {
				t.Fatalf("ORDER BY k = %x, want %x", sqlKeys, want)
			}
		})
	}
}

// TestWriteFailsAtomically checks that a batch with a key too long for the index fails with
// base.ErrInvalid and applies none of its operations.
func TestWriteFailsAtomically(t *testing.T) {
	s := openTable(t, newTable(t), pgkv.Options{})
	var b kv.Batch
	b.Put([]byte("before"), []byte("1"))
	mustWrite(t, s, &b)

	long := make([]byte, 8000)
	if _, err := rand.Read(long); err != nil { // incompressible
		t.Fatal(err)
	}
	b.Reset()
	b.Put([]byte("a"), []byte("1"))
	b.Delete([]byte("before"))
	b.Put(long, []byte("2"))
	b.Put([]byte("z"), []byte("3"))
	err := s.Write(context.Background(), &b)
	if !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("write with an 8000-byte key: err = %v, want ErrInvalid", err)
	}
	got := scanKeys(t, s, nil)
	if len(got) != 1 || string(got[0]) != "before" {
		t.Fatalf("after the failed write the store holds %q, want [before]", got)
	}
}

// TestWriteLargeBatch writes a batch larger than one statement's row limit, with repeated
// keys inside one run of puts.
func TestWriteLargeBatch(t *testing.T) {
	s := openTable(t, newTable(t), pgkv.Options{})
	var b kv.Batch
	const n = 25000
	for i := range n {
		b.Put(fmt.Appendf(nil, "k%06d", i%20000), fmt.Appendf(nil, "%d", i))
	}
	for i := range n {
		b.Delete(fmt.Appendf(nil, "k%06d", 2*i))
	}
	mustWrite(t, s, &b)
	got := scanKeys(t, s, nil)
	if len(got) != 10000 {
		t.Fatalf("%d keys, want 10000", len(got))
	}
	v, ok, err := s.Get(context.Background(), []byte("k000001"))
	if err != nil || !ok || string(v) != "20001" {
		t.Fatalf("k000001 = %q, %v, %v; want the last put 20001", v, ok, err)
	}
}

// TestScanCanceledMidway cancels ctx from inside a multi-page scan: Scan returns
// context.Canceled itself.
func TestScanCanceledMidway(t *testing.T) {
	s := openTable(t, newTable(t), pgkv.WithPages(pgkv.Options{}, 2, 1<<20))
	var b kv.Batch
	for i := range 10 {
		b.Put(fmt.Appendf(nil, "k%d", i), nil)
	}
	mustWrite(t, s, &b)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := s.Scan(ctx, nil, func(k, v []byte) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if err != context.Canceled {
		t.Fatalf("scan: err = %v, want context.Canceled itself", err)
	}
	if n == 10 {
		t.Fatal("the scan ran to the end after ctx was cancelled")
	}
}

// TestConnectionLost terminates the server session of a multi-page scan while it runs: the
// scan fails with base.ErrRetryable, and the store works again afterwards.
func TestConnectionLost(t *testing.T) {
	app := "pgkv_test_" + newTable(t)[len("kvtest_"):]
	u := dsn(t) + "&application_name=" + app
	if !bytes.Contains([]byte(dsn(t)), []byte("?")) {
		u = dsn(t) + "?application_name=" + app
	}
	table := newTable(t)
	s, err := pgkv.Open(context.Background(), u, pgkv.WithPages(pgkv.Options{Table: table}, 1, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b kv.Batch
	for i := range 5 {
		b.Put(fmt.Appendf(nil, "k%d", i), nil)
	}
	mustWrite(t, s, &b)
	ctx := context.Background()
	err = s.Scan(ctx, nil, func(k, v []byte) error {
		if string(k) == "k0" {
			admin(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app)
		}
		return nil
	})
	if !errors.Is(err, base.ErrRetryable) {
		t.Fatalf("scan across a terminated session: err = %v, want ErrRetryable", err)
	}
	t.Logf("scan across a terminated session: %v", err)
	// Retrying succeeds once the pool has replaced the dead connections.
	var lastErr error
	for range 5 {
		if _, _, lastErr = s.Get(ctx, []byte("k1")); lastErr == nil {
			break
		}
		if !errors.Is(lastErr, base.ErrRetryable) {
			t.Fatalf("get after the session was terminated: err = %v, want ErrRetryable or success", lastErr)
		}
	}
	if lastErr != nil {
		t.Fatalf("get still failing after 5 tries: %v", lastErr)
	}
}

// proxy forwards TCP connections to target until cut is called, which closes every
// connection it carries (a network failure without any message from the server).
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestNetworkLost cuts the TCP connections of a multi-page scan while it runs: the scan fails
// with base.ErrRetryable, and a Write afterwards succeeds or fails with base.ErrRetryable.
func TestNetworkLost(t *testing.T) {
	u, err := url.Parse(dsn(t))
	if err != nil || u.Host == "" {
		t.Skipf("%s is not a postgres:// URL with a host: %v", envDSN, err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	table := newTable(t)
	s, err := pgkv.Open(context.Background(), u.String(), pgkv.WithPages(pgkv.Options{Table: table}, 1, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b kv.Batch
	for i := range 5 {
		b.Put(fmt.Appendf(nil, "k%d", i), nil)
	}
	mustWrite(t, s, &b)
	ctx := context.Background()
	err = s.Scan(ctx, nil, func(k, v []byte) error {
		if string(k) == "k0" {
			p.cut()
		}
		return nil
	})
	if !errors.Is(err, base.ErrRetryable) {
		t.Fatalf("scan across a cut connection: err = %v, want ErrRetryable", err)
	}
	t.Logf("scan across a cut connection: %v", err)
	p.cut() // also the idle connections opened since
	b.Reset()
	b.Put([]byte("after"), []byte("1"))
	if err := s.Write(ctx, &b); err != nil && !errors.Is(err, base.ErrRetryable) {
		t.Fatalf("write over a cut connection: err = %v, want nil or ErrRetryable", err)
	} else if err != nil {
		t.Logf("write over a cut connection: %v", err)
	}
}

// TestOpenUnreachable needs no server: nothing listens on port 1.
func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := pgkv.Open(ctx, "postgres://u:secret@127.0.0.1:1/db?sslmode=disable&connect_timeout=5", pgkv.Options{})
	if !errors.Is(err, base.ErrRetryable) {
		t.Fatalf("open with no server: err = %v, want ErrRetryable", err)
	}
}

// TestOpenInvalid needs no server: bad options fail before connecting.
func TestOpenInvalid(t *testing.T) {
	for _, tc := range []struct {
		dsn   string
		table string
	}{
		{"postgres://127.0.0.1/db", "bad-name"},
		{"postgres://127.0.0.1/db", `x"; DROP TABLE y; --`},
		{"postgres://127.0.0.1/db", "a.b.c"},
		{"postgres://127.0.0.1/db", "1abc"},
		{"postgres://u:secret@127.0.0.1:notaport/db", ""},
	} {
		_, err := pgkv.Open(context.Background(), tc.dsn, pgkv.Options{Table: tc.table})
		if !errors.Is(err, base.ErrInvalid) {
			t.Errorf("open %q table %q: err = %v, want ErrInvalid", tc.dsn, tc.table, err)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("secret")) {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// BenchmarkWriteBatch writes batches of 100 puts (32-byte keys, 100-byte values), each one
// committed transaction with synchronous_commit=on, from 1 and 8 concurrent writers (8 pool
// connections). It reports keys/s.
func BenchmarkWriteBatch(b *testing.B) {
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openTable(b, newTable(b), pgkv.Options{MaxConns: int32(writers)})
			ctx := context.Background()
			var next atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var batch kv.Batch
					key := make([]byte, 32)
					val := make([]byte, 100)
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						batch.Reset()
						for j := range 100 {
							copy(key, fmt.Appendf(key[:0], "%02d-%012d-%03d", w, i, j))
							val[0] = byte(j)
							batch.Put(key, val)
						}
						if err := s.Write(ctx, &batch); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)*100/elapsed.Seconds(), "keys/s")
		})
	}
}
