// Package pgkv is the shared kv.Store: one PostgreSQL table reached through a pgx connection
// pool (github.com/jackc/pgx/v5). It is meant for validators whose proxy and shard workers run
// as separate processes, possibly on several machines: each process opens its own Store on the
// same table, and every Write is visible to all of them as soon as it returns.
//
// # Table
//
// A store is one table, Options.Table (default "mica_kv"), created by Open if missing:
//
//	CREATE TABLE mica_kv (k bytea PRIMARY KEY, v bytea NOT NULL)
//
// bytea compares as unsigned bytes (memcmp, then the shorter first), which is exactly the kv
// order, so the primary key index serves prefix scans as the range
// [prefix, kv.PrefixEnd(prefix)), or k >= prefix when the prefix has no end (empty or all
// 0xff). A B-tree index entry cannot exceed about 2,700 bytes, so neither can a key; a Write
// with a longer key fails with an error of class base.ErrInvalid and applies nothing.
//
// # Reads
//
// Get is one statement. MultiGet is one statement (k = ANY($1)), so it reads every key from
// the same snapshot in one round trip. Scan reads pages of at most 1,000 rows and 8 MiB
// (a single larger row is a page of its own), so a huge prefix never sits in memory at once.
// The first page is one statement; if it holds the whole range, Scan is one round trip and
// holds no connection while fn runs. Otherwise Scan starts over inside a REPEATABLE READ READ
// ONLY transaction and reads the pages there by key (k > last key of the previous page), so
// every page comes from the same snapshot.
//
// # Connections
//
// A Store has two connection pools, both filled only as needed. Every Get, MultiGet, Write
// and first page of a Scan borrows a connection from the main pool (Options.MaxConns) for one
// statement or batch and returns it before doing anything else; in particular a Scan that fits
// one page holds no connection while fn runs. A Scan that needs more pages holds a connection
// of the scan pool (Options.ScanConns), with its transaction, until it returns, including
// while fn runs. fn may call back into the Store: Get, MultiGet, Write and single-page scans
// only need the main pool, which no scan holds, so they never wait for the scan that called
// them. What must have room is the scan pool: a multi-page Scan started from inside another's
// callback needs a second scan connection, so if every scan connection is held by a scan whose
// callback starts another multi-page Scan, those callbacks wait until their ctx is done. At
// most MaxConns + ScanConns connections are open per Store; several processes sharing a server
// must fit together under its max_connections (100 by default).
//
// # Writes
//
// Write sends the whole batch as one pgx.Batch: pgx pipelines it in one round trip ending in a
// single Sync, which PostgreSQL runs as one implicit transaction, so either every statement
// commits or none does. Operations become statements in order: a run of consecutive puts is
// one INSERT ... ON CONFLICT (k) DO UPDATE over unnest($1::bytea[], $2::bytea[]) (the last put
// of a key in the run wins), a run of consecutive deletes is one DELETE of the keys in $1,
// and a DeletePrefix is one range DELETE. Every connection runs with synchronous_commit=on,
// whatever the server's default, so the commit (with its WAL flush) is done when Write
// returns. Once the batch has been sent, ctx no longer interrupts it.
//
// # Errors
//
// A done ctx yields ctx.Err() itself. A lost or refused connection, a server shutting down,
// too many connections, and serialization failures are wrapped with base.ErrRetryable;
// corruption reported by the server (SQLSTATE XX001, XX002) with base.ErrCorrupt. When a Write
// fails with base.ErrRetryable while its commit was in flight, the batch may or may not have
// been applied; writing the same batch again gives the same final state as long as no other
// writer changed its keys in between. After Close every operation returns kv.ErrClosed.
//
// # Sharing a table
//
// Several Stores, in one process or many, may open the same table at once (Open's CREATE
// TABLE IF NOT EXISTS tolerates the race). Writes from all of them are serialized by
// PostgreSQL's row locks; reads never block writes. Each run of puts and each run of deletes
// locks its rows in key order, so batches that are one such run never deadlock one another. A
// DeletePrefix locks rows in the order its plan reads them (key order on a table large enough
// for an index scan), and a batch of several statements locks statement by statement, so two
// batches touching the same keys can still deadlock. PostgreSQL then aborts one of them after
// deadlock_timeout (1 s by default); the aborted transaction applied nothing, and Write sends
// the batch again (up to 10 times in all), failing with base.ErrRetryable only if it keeps
// being aborted. Connection parameters (host, TLS,
// pool_max_conns, default_query_exec_mode for poolers that cannot keep prepared statements,
// ...) come from the DSN, in the forms pgxpool.ParseConfig accepts.
package pgkv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
)

// DefaultTable is the table used when Options.Table is empty.
const DefaultTable = "mica_kv"

const (
	// defaultPageRows and defaultPageBytes bound one page of a Scan.
	defaultPageRows  = 1000
	defaultPageBytes = 8 << 20
	// maxStatementBytes bounds the key and value bytes of one INSERT or DELETE statement of a
	// Write (far below PostgreSQL's 1 GB message limit); longer runs become several statements
	// of the same transaction.
	maxStatementBytes = 64 << 20
	// maxStatementRows bounds the rows of one INSERT or DELETE statement of a Write.
	maxStatementRows = 10000
	// maxWriteAttempts bounds how many times Write sends a batch whose transaction was
	// aborted by a deadlock or a serialization failure.
	maxWriteAttempts = 10
)

// Options configure Open. The zero value is valid.
type Options struct {
	// Table is the table holding the store: an unquoted SQL identifier, optionally qualified
	// by a schema ("schema.table"), of letters, digits and underscores. Empty means
	// DefaultTable. Names are quoted, so they are case-sensitive.
	Table string
	// MaxConns is the largest number of connections of the main pool; 0 means the DSN's
	// pool_max_conns, else pgxpool's default (the larger of 4 and the number of CPUs).
	MaxConns int32
	// ScanConns is the largest number of connections of the scan pool, which bounds the
	// multi-page scans running at once (later ones wait); 0 means the main pool's size. See
	// the package documentation.
	ScanConns int32
	// Logger receives the store's notable events (connection setup, failed rollbacks). Nil
	// discards them.
	Logger *slog.Logger

	// pageRows and pageBytes replace the Scan page bounds (tests use tiny pages to exercise
	// the multi-page path).
	pageRows  int
	pageBytes int64
}

// Store is a kv.Store over one PostgreSQL table. It is safe for concurrent use.
type Store struct {
	pool      *pgxpool.Pool // every statement but the pages of multi-page scans
	scanPool  *pgxpool.Pool // the transactions of multi-page scans
	log       *slog.Logger
	pageRows  int
	pageBytes int64
	q         queries

	mu sync.Mutex
	// closed is set by Close; afterwards no operation starts.
	closed bool
	// active counts operations in progress. Invariant: active >= 0.
	active int
	// idle is closed when closed is set and active drops to zero.
	idle chan struct{}

	closeOnce sync.Once
}

var _ kv.Store = (*Store)(nil)

// queries holds the SQL of one table.
type queries struct {
	get, multiGet, put, del, delRange, delFrom string
	// scan[first][bounded]: first pages start at k >= $1, later ones at k > $1; bounded
	// pages also stop before $4.
	scan [2][2]string
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// tableIdent validates name and returns it quoted.
func tableIdent(name string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return "", base.Invalidf("pgkv: table name %q has more than one dot", name)
	}
	for _, p := range parts {
		if !identRE.MatchString(p) {
			return "", base.Invalidf("pgkv: table name %q: want letters, digits and underscores (at most 63, not starting with a digit), optionally schema-qualified", name)
		}
	}
	return pgx.Identifier(parts).Sanitize(), nil
}

func newQueries(t string) queries {
	q := queries{
		get:      "SELECT v FROM " + t + " WHERE k = $1",
		multiGet: "SELECT k, v FROM " + t + " WHERE k = ANY($1::bytea[])",
		put: "INSERT INTO " + t + " (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) " +
			"ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
		// The subquery locks the rows in key order (see queuePuts).
		del: "DELETE FROM " + t + " WHERE k IN (SELECT k FROM " + t +
			" WHERE k = ANY($1::bytea[]) ORDER BY k FOR UPDATE)",
		delRange: "DELETE FROM " + t + " WHERE k >= $1 AND k < $2",
		delFrom:  "DELETE FROM " + t + " WHERE k >= $1",
	}
	// A page: at most $2 rows in key order, stopping after the row that brings the running
	// total of key and value bytes to $3 or more. octet_length reads a TOASTed value's size
	// without fetching it.
	for first, lower := range []string{"k > $1", "k >= $1"} {
		for bounded, upper := range []string{"", " AND k < $4"} {
			q.scan[first][bounded] = "SELECT k, v FROM (SELECT k, v, " +
				"sum(octet_length(k) + octet_length(v)) OVER (ORDER BY k ROWS UNBOUNDED PRECEDING) AS total " +
				"FROM " + t + " WHERE " + lower + upper + " ORDER BY k LIMIT $2) AS page " +
				"WHERE total - octet_length(k) - octet_length(v) < $3 ORDER BY k"
		}
	}
	return q
}

// Open connects to the database named by dsn (a postgres:// URL or key=value string, as
// pgxpool.ParseConfig accepts) and creates the table if it is missing. ctx bounds the
// connection and the table creation only.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "pgkv")
	name := opts.Table
	if name == "" {
		name = DefaultTable
	}
	table, err := tableIdent(name)
	if err != nil {
		return nil, err
	}
	if opts.MaxConns < 0 || opts.ScanConns < 0 {
		return nil, base.Invalidf("pgkv: MaxConns %d or ScanConns %d is negative", opts.MaxConns, opts.ScanConns)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The ParseConfigError message masks the password.
		return nil, fmt.Errorf("pgkv: %w", base.Invalidf("%v", err))
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	// Durable commits whatever the server, database or role default is; sent in the startup
	// message, so it costs no round trip.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "mica"
	}
	scanCfg := cfg.Copy()
	if opts.ScanConns > 0 {
		scanCfg.MaxConns = opts.ScanConns
	}
	// Neither pool connects before its first use.
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrap(ctx, "open", err)
	}
	scanPool, err := pgxpool.NewWithConfig(ctx, scanCfg)
	if err != nil {
		pool.Close()
		return nil, wrap(ctx, "open", err)
	}
	s := &Store{
		pool:      pool,
		scanPool:  scanPool,
		log:       log,
		pageRows:  defaultPageRows,
		pageBytes: defaultPageBytes,
		q:         newQueries(table),
		idle:      make(chan struct{}),
	}
	if opts.pageRows > 0 {
		s.pageRows = opts.pageRows
	}
	if opts.pageBytes > 0 {
		s.pageBytes = opts.pageBytes
	}
	if err := s.createTable(ctx, table); err != nil {
		pool.Close()
		scanPool.Close()
		return nil, err
	}
	log.Debug("opened", "host", cfg.ConnConfig.Host, "port", cfg.ConnConfig.Port,
		"database", cfg.ConnConfig.Database, "table", name,
		"max_conns", cfg.MaxConns, "scan_conns", scanCfg.MaxConns)
	return s, nil
}

// createTable creates the table if missing. Two sessions running CREATE TABLE IF NOT EXISTS
// at once can both pass the existence check, and the loser then fails on a catalog unique
// index (23505), with duplicate_table (42P07) or with duplicate_object (42710: the
// table's row type already exists); by then the table exists, so it tries again.
func (s *Store) createTable(ctx context.Context, table string) error {
	sql := "CREATE TABLE IF NOT EXISTS " + table + " (k bytea PRIMARY KEY, v bytea NOT NULL)"
	for attempt := 0; ; attempt++ {
		_, err := s.pool.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if err != nil && attempt < 3 && errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P07" || pgErr.Code == "42710") {
			s.log.Debug("concurrent table creation, retrying", "table", table, "err", err)
			continue
		}
		if err != nil {
			return wrap(ctx, "create table", err)
		}
		return nil
	}
}

// enter registers an operation, or returns kv.ErrClosed. Every successful enter is paired
// with a leave.
func (s *Store) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return kv.ErrClosed
	}
	s.active++
	return nil
}

func (s *Store) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if s.closed && s.active == 0 {
		close(s.idle)
	}
}

// begin checks ctx and registers an operation.
func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.enter()
}

// Close waits for operations in progress to finish, then closes the pools and their
// connections. The table and its data stay. It is idempotent and always returns nil. It must
// not be called from inside a Scan callback.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		busy := s.active > 0
		s.mu.Unlock()
		if busy {
			<-s.idle
		}
		s.pool.Close()
		s.scanPool.Close()
	})
	return nil
}

// Get implements kv.Reader.
func (s *Store) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	if err := s.begin(ctx); err != nil {
		return nil, false, err
	}
	defer s.leave()
	var v []byte
	err := s.pool.QueryRow(ctx, s.q.get, nonNil(key)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap(ctx, "get", err)
	}
	return nonNil(v), true, nil
}

// MultiGet implements kv.Reader: one statement, so one snapshot and one round trip.
func (s *Store) MultiGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	arg := make([][]byte, len(keys))
	for i, k := range keys {
		arg[i] = nonNil(k)
	}
	rows, err := s.pool.Query(ctx, s.q.multiGet, arg)
	if err != nil {
		return nil, wrap(ctx, "multiget", err)
	}
	found := make(map[string][]byte, len(keys))
	var k, v []byte
	_, err = pgx.ForEachRow(rows, []any{&k, &v}, func() error {
		found[string(k)] = nonNil(v)
		return nil
	})
	if err != nil {
		return nil, wrap(ctx, "multiget", err)
	}
	used := make(map[string]bool, len(found))
	for i, k := range keys {
		v, ok := found[string(k)]
		if !ok {
			continue
		}
		if used[string(k)] {
			// A repeated key gets its own copy.
			v = append([]byte{}, v...)
		}
		used[string(k)] = true
		out[i] = v
	}
	return out, nil
}

// page is one page of a Scan: rows in key order.
type page struct {
	keys, vals [][]byte
	bytes      int64
}

// readPage reads the page of rows after (or, when first, from) start and below end (nil: no
// end), with at most limit rows. q is the pool or a transaction.
func (s *Store) readPage(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, start, end []byte, first bool, limit int) (page, error) {
	f, b := 0, 0
	if first {
		f = 1
	}
	args := []any{start, limit, s.pageBytes}
	if end != nil {
		b = 1
		args = append(args, end)
	}
	var p page
	rows, err := q.Query(ctx, s.q.scan[f][b], args...)
	if err != nil {
		return p, err
	}
	var k, v []byte
	_, err = pgx.ForEachRow(rows, []any{&k, &v}, func() error {
		// Scan allocated k and v for this row; keep them.
		p.keys = append(p.keys, nonNil(k))
		p.vals = append(p.vals, nonNil(v))
		p.bytes += int64(len(k) + len(v))
		k, v = nil, nil
		return nil
	})
	return p, err
}

// Scan implements kv.Reader. See the package documentation for pages, snapshots and the
// connection a long scan holds while fn runs. The key and value passed to fn may be retained
// and modified by fn (they are not reused), though the kv contract does not promise it.
func (s *Store) Scan(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.leave()
	start := nonNil(prefix)
	end := kv.PrefixEnd(prefix)

	// Optimistic first page, one statement. If it is the whole range, it is a snapshot.
	p, err := s.readPage(ctx, s.pool, start, end, true, s.pageRows+1)
	if err != nil {
		return wrap(ctx, "scan", err)
	}
	if len(p.keys) <= s.pageRows && p.bytes < s.pageBytes {
		return s.deliver(ctx, p, fn)
	}
	return s.scanPages(ctx, start, end, fn)
}

// scanPages reads the range page by page inside one REPEATABLE READ READ ONLY transaction, on
// a connection of the scan pool.
func (s *Store) scanPages(ctx context.Context, start, end []byte, fn func(key, value []byte) error) error {
	tx, err := s.scanPool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return wrap(ctx, "scan", err)
	}
	defer func() {
		// Read-only: rolling back only ends the transaction and returns the connection.
		if rerr := tx.Rollback(context.WithoutCancel(ctx)); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
			s.log.Warn("scan: rollback", "err", rerr)
		}
	}()
	for first := true; ; first = false {
		p, err := s.readPage(ctx, tx, start, end, first, s.pageRows)
		if err != nil {
			return wrap(ctx, "scan", err)
		}
		if err := s.deliver(ctx, p, fn); err != nil {
			return err
		}
		if len(p.keys) < s.pageRows && p.bytes < s.pageBytes {
			return nil
		}
		start = p.keys[len(p.keys)-1]
	}
}

// deliver calls fn for each row of p, checking ctx every 256 rows.
func (s *Store) deliver(ctx context.Context, p page, fn func(key, value []byte) error) error {
	for i := range p.keys {
		if i%256 == 255 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(p.keys[i], p.vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// Write implements kv.Writer. See the package documentation.
func (s *Store) Write(ctx context.Context, b *kv.Batch) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.leave()
	if b.Empty() {
		return nil
	}
	// Validate the ops before taking a connection.
	if _, err := s.statements(b.Ops()); err != nil {
		return err
	}
	// Waiting for a connection may be cancelled: nothing has been sent yet.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return wrap(ctx, "write", err)
	}
	defer conn.Release()
	if err := ctx.Err(); err != nil {
		return err
	}
	// From here on the batch commits or fails on its own; ctx no longer interrupts it.
	for attempt := 1; ; attempt++ {
		// A pgx.Batch may be sent only once: build it for each attempt.
		batch, _ := s.statements(b.Ops())
		err := conn.SendBatch(context.WithoutCancel(ctx), batch).Close()
		if err == nil {
			return nil
		}
		// A deadlock or serialization failure aborted the transaction: nothing was applied,
		// so sending the batch again is safe.
		var pgErr *pgconn.PgError
		if attempt == maxWriteAttempts || !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") || ctx.Err() != nil {
			return wrap(context.Background(), "write", err)
		}
		s.log.Debug("write: transaction aborted, retrying", "attempt", attempt, "err", err)
		time.Sleep(time.Duration(attempt) * time.Millisecond)
	}
}

// statements turns ops into the statements of one pgx.Batch, in order.
func (s *Store) statements(ops []kv.Op) (*pgx.Batch, error) {
	batch := &pgx.Batch{}
	for i := 0; i < len(ops); {
		switch kind := ops[i].Kind; kind {
		case kv.OpPut, kv.OpDelete:
			j := i
			for j < len(ops) && ops[j].Kind == kind {
				j++
			}
			if kind == kv.OpPut {
				queuePuts(batch, s.q.put, ops[i:j])
			} else {
				queueDeletes(batch, s.q.del, ops[i:j])
			}
			i = j
		case kv.OpDeletePrefix:
			if end := kv.PrefixEnd(ops[i].Key); end != nil {
				batch.Queue(s.q.delRange, nonNil(ops[i].Key), end)
			} else {
				batch.Queue(s.q.delFrom, nonNil(ops[i].Key))
			}
			i++
		default:
			return nil, fmt.Errorf("pgkv: write: %w", base.Invalidf("unknown batch op kind %d", kind))
		}
	}
	return batch, nil
}

// queuePuts queues a run of consecutive puts as INSERT statements. ON CONFLICT DO UPDATE may
// not touch a row twice in one statement, so only the last put of each key is kept (which is
// what applying the run in order leaves). Rows go in key order, so that concurrent batches
// lock the rows they share in the same order and do not deadlock.
func queuePuts(batch *pgx.Batch, sql string, ops []kv.Op) {
	last := make(map[string]int, len(ops))
	for i, op := range ops {
		last[string(op.Key)] = i
	}
	kept := make([]kv.Op, 0, len(last))
	for i, op := range ops {
		if last[string(op.Key)] == i {
			kept = append(kept, op)
		}
	}
	slices.SortFunc(kept, func(a, b kv.Op) int { return bytes.Compare(a.Key, b.Key) })
	var keys, vals [][]byte
	size := 0
	flush := func() {
		if len(keys) > 0 {
			batch.Queue(sql, keys, vals)
			keys, vals, size = nil, nil, 0
		}
	}
	for _, op := range kept {
		if len(keys) == maxStatementRows || (len(keys) > 0 && size+len(op.Key)+len(op.Value) > maxStatementBytes) {
			flush()
		}
		keys = append(keys, nonNil(op.Key))
		vals = append(vals, nonNil(op.Value))
		size += len(op.Key) + len(op.Value)
	}
	flush()
}

// queueDeletes queues a run of consecutive deletes as DELETE statements, in key order (each
// statement also locks its rows in key order; with more than one statement, the order across
// statements matters too).
func queueDeletes(batch *pgx.Batch, sql string, ops []kv.Op) {
	keys := make([][]byte, len(ops))
	for i, op := range ops {
		keys[i] = nonNil(op.Key)
	}
	slices.SortFunc(keys, bytes.Compare)
	for len(keys) > 0 {
		n := min(len(keys), maxStatementRows)
		batch.Queue(sql, keys[:n])
		keys = keys[n:]
	}
}

// wrap turns an error of pgx into the error an operation returns: ctx.Err() when ctx is done
// (the failure is the cancellation's doing), else the error with context, classified.
func wrap(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if class := classify(err); class != nil {
		return fmt.Errorf("pgkv: %s: %w: %w", op, class, err)
	}
	return fmt.Errorf("pgkv: %s: %w", op, err)
}

// classify returns the base error class of a pgx error, or nil.
func classify(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		code := pgErr.Code
		switch {
		case strings.HasPrefix(code, "08"), // connection exception
			strings.HasPrefix(code, "53"), // insufficient resources (too many connections, out of memory, disk full)
			code == "40001",               // serialization_failure
			code == "40P01",               // deadlock_detected
			code == "57P01",               // admin_shutdown
			code == "57P02",               // crash_shutdown
			code == "57P03",               // cannot_connect_now
			code == "57P05":               // idle_session_timeout
			return base.ErrRetryable
		case code == "XX001", code == "XX002": // data_corrupted, index_corrupted
			return base.ErrCorrupt
		case code == "54000": // program_limit_exceeded: a key too long for the index
			return base.ErrInvalid
		}
		return nil
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	switch {
	case errors.As(err, &connectErr),
		errors.As(err, &netErr),
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE),
		pgconn.SafeToRetry(err),
		pgconn.Timeout(err):
		return base.ErrRetryable
	}
	return nil
}

// nonNil returns b, or an empty non-nil slice when b is nil: pgx sends a nil []byte as NULL,
// and the empty key is a key.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
