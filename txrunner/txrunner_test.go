package txrunner_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// testTimeout bounds every Run in these tests, so a bug shows up as a
// failure rather than a hung test binary. Nothing waits for it to pass.
const testTimeout = time.Minute

// setup gives a test its own database on the real server, with the pool
// the runner uses, and runs stmts on it (table definitions and rows).
// params, when not nil, are extra session variables set by the DSN.
func setup(t *testing.T, params map[string]string, stmts ...string) (*sqlx.DB, *mysql.Config) {
	t.Helper()
	var db *sqlx.DB
	var cfg *mysql.Config
	if params == nil {
		db, cfg = dbtest.New(t)
	} else {
		cfg = dbtest.Config(t)
		for k, v := range params {
			cfg.Params[k] = v
		}
		dbtest.Create(t, cfg)
		var err error
		db, err = txrunner.Open(testContext(t), cfg, txrunner.PoolConfig{MaxOpen: 8})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return db, cfg
}

// otherDB opens a second, separate pool on the test database, for the
// connections that play "another client" (lock holders, KILL).
func otherDB(t *testing.T, cfg *mysql.Config) *sql.DB {
	t.Helper()
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// quietRunner returns a runner on db whose retries back off briefly.
func quietRunner(db *sqlx.DB, cfg txrunner.Config) *txrunner.Runner {
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = time.Millisecond
		cfg.MaxBackoff = 20 * time.Millisecond
	}
	return txrunner.New(db, cfg)
}

func count(t *testing.T, db *sqlx.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Get(&n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func mysqlNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// asDBAPI returns err as a *dbapi.Error, failing the test if it is not one.
func asDBAPI(t *testing.T, err error) *dbapi.Error {
	t.Helper()
	var de *dbapi.Error
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *dbapi.Error", err, err)
	}
	return de
}

// Two transactions lock the same two rows in opposite order. The barrier
// (first attempts only) makes both hold their first row before either asks
// for its second, so InnoDB must pick a deadlock victim (1213), whose Run
// rolls back and re-runs the whole function.
func TestRunRetriesDeadlock(t *testing.T) {
	db, _ := setup(t, nil,
		"CREATE TABLE acct (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB",
		"INSERT INTO acct VALUES (1, 0), (2, 0)")
	var retried sync.Map // cause -> true, from OnRetry
	r := quietRunner(db, txrunner.Config{OnRetry: func(cause string) { retried.Store(cause, true) }})
	ctx := testContext(t)

	var calls atomic.Int32
	var deadlocks atomic.Int32
	ready := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	body := func(me int, first, second int) txrunner.Func {
		attempts := 0 // only this Run's goroutine touches it
		return func(ctx context.Context, tx *sqlx.Tx) error {
			calls.Add(1)
			attempts++
			_, err := tx.ExecContext(ctx, "UPDATE acct SET v = v + 1 WHERE id = ?", first)
			if attempts == 1 {
				close(ready[me])
				select {
				case <-ready[1-me]:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, "UPDATE acct SET v = v + 1 WHERE id = ?", second)
			if mysqlNumber(err) == 1213 {
				deadlocks.Add(1)
			}
			return err
		}
	}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, rows := range [2][2]int{{1, 2}, {2, 1}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.Run(ctx, txrunner.Options{}, body(i, rows[0], rows[1]))
		}()
	}
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Errorf("Run %d: %v", i, err)
		}
	}
	if n := deadlocks.Load(); n < 1 {
		t.Errorf("no statement failed with 1213; the test did not make a deadlock")
	}
	if n := calls.Load(); n < 3 {
		t.Errorf("fn called %d times, want >= 3 (the deadlock victim re-run)", n)
	}
	if _, ok := retried.Load("deadlock"); !ok {
		t.Errorf("OnRetry was not told of the deadlock retry")
	}
	for _, id := range []int{1, 2} {
		if v := count(t, db, "SELECT v FROM acct WHERE id = ?", id); v != 2 {
			t.Errorf("row %d: v = %d, want 2 (each transaction committed once)", id, v)
		}
	}
}

// A row lock held by another client makes the first attempt time out
// (1205); the lock goes away before the second attempt, which commits.
func TestRunRetriesLockWaitTimeout(t *testing.T) {
	db, cfg := setup(t, nil,
		"CREATE TABLE acct (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB",
		"INSERT INTO acct VALUES (1, 0)")
	r := quietRunner(db, txrunner.Config{})
	ctx := testContext(t)

	holder, err := otherDB(t, cfg).BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, "SELECT v FROM acct WHERE id = 1 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	release := sync.OnceFunc(func() {
		if err := holder.Rollback(); err != nil {
			t.Errorf("release lock: %v", err)
		}
	})
	t.Cleanup(release)

	var causes []uint16
	err = r.Run(ctx, txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
		if len(causes) > 0 {
			release() // the first attempt has failed: let the next one through
		}
		if _, err := tx.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 1"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE acct SET v = v + 1 WHERE id = 1")
		causes = append(causes, mysqlNumber(err))
		return err
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := []uint16{1205, 0}; fmt.Sprint(causes) != fmt.Sprint(want) {
		t.Errorf("attempts ended with MySQL errors %v, want %v", causes, want)
	}
	if v := count(t, db, "SELECT v FROM acct WHERE id = 1"); v != 1 {
		t.Errorf("v = %d, want 1", v)
	}
}

// When the conflict never clears, Run gives up after exactly MaxAttempts
// attempts with a conflict error.
func TestRunMaxAttempts(t *testing.T) {
	// The DSN sets the lock wait timeout for every pooled connection.
	db, cfg := setup(t, map[string]string{"innodb_lock_wait_timeout": "1"},
		"CREATE TABLE acct (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB",
		"INSERT INTO acct VALUES (1, 0)")
	ctx := testContext(t)

	holder, err := otherDB(t, cfg).BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, "SELECT v FROM acct WHERE id = 1 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		cfg  txrunner.Config
		opts txrunner.Options
		want int
	}{
		{"runner default", txrunner.Config{MaxAttempts: 3}, txrunner.Options{}, 3},
		{"per-call option wins", txrunner.Config{MaxAttempts: 10}, txrunner.Options{MaxAttempts: 2}, 2},
		{"one attempt", txrunner.Config{}, txrunner.Options{MaxAttempts: 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := quietRunner(db, tt.cfg)
			calls := 0
			err := r.Run(ctx, tt.opts, func(ctx context.Context, tx *sqlx.Tx) error {
				calls++
				_, err := tx.ExecContext(ctx, "UPDATE acct SET v = v + 1 WHERE id = 1")
				return err
			})
			if !errors.Is(err, dbapi.ErrConflict) {
				t.Fatalf("Run: %v, want a conflict", err)
			}
			if code := asDBAPI(t, err).ErrorCode(); code != "lock_wait_timeout" {
				t.Errorf("code %q, want lock_wait_timeout", code)
			}
			if calls != tt.want {
				t.Errorf("fn called %d times, want %d", calls, tt.want)
			}
		})
	}
}

// The transaction's connection is killed after fn's last statement, so
// COMMIT is written to a dead connection and no reply comes. Run must not
// report success, must not retry, and must say the outcome is unknown.
func TestRunCommitLost(t *testing.T) {
	db, cfg := setup(t, nil, "CREATE TABLE item (id INT PRIMARY KEY) ENGINE=InnoDB")
	r := quietRunner(db, txrunner.Config{})
	ctx := testContext(t)
	killer := otherDB(t, cfg) // never the runner's pool: fn must not use it

	calls := 0
	err := r.Run(ctx, txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
		calls++
		var id int64
		if err := tx.GetContext(ctx, &id, "SELECT CONNECTION_ID()"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO item VALUES (1)"); err != nil {
			return err
		}
		// KILL returns once the server has shut the connection's socket.
		_, err := killer.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id))
		return err
	})
	t.Logf("Run after a killed connection: %v", err)
	if !errors.Is(err, dbapi.ErrCommitUnknown) {
		t.Errorf("Run: %v, want %v", err, dbapi.ErrCommitUnknown)
	}
	if calls != 1 {
		t.Errorf("fn called %d times, want 1 (never retry once COMMIT was sent)", calls)
	}
	// The client cannot know, but the test can: the server never saw the
	// COMMIT, so the insert was rolled back with the connection.
	if n := count(t, db, "SELECT COUNT(*) FROM item"); n != 0 {
		t.Errorf("%d rows committed, want 0", n)
	}
	// The pool dropped the dead connection and still works.
	if err := r.Run(ctx, txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO item VALUES (2)")
		return err
	}); err != nil {
		t.Errorf("Run after the lost commit: %v", err)
	}
}

// A COMMIT the server does not answer (here it waits for the global read
// lock another session holds, as it would behind a hung cluster node)
// ends after the connection's read timeout, answered
// commit_outcome_unknown, instead of holding the request for ever: a
// request's deadline never cuts a COMMIT off. The service gives its pool
// such a timeout when the DSN sets none.
func TestRunCommitStalled(t *testing.T) {
	_, cfg := setup(t, nil, "CREATE TABLE item (id INT PRIMARY KEY) ENGINE=InnoDB")
	ctx := testContext(t)
	timed := cfg.Clone()
	timed.ReadTimeout = time.Second
	db, err := txrunner.Open(ctx, timed, txrunner.PoolConfig{MaxOpen: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	locker, err := otherDB(t, cfg).Conn(ctx) // the lock is the session's
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	r := quietRunner(db, txrunner.Config{})
	var committing time.Time
	err = r.Run(ctx, txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO item VALUES (1)"); err != nil {
			return err
		}
		_, err := locker.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK")
		committing = time.Now()
		return err
	})
	waited := time.Since(committing)
	t.Logf("Run with its COMMIT held: %v after %s", err, waited.Round(time.Millisecond))
	if !errors.Is(err, dbapi.ErrCommitUnknown) {
		t.Errorf("Run: %v, want %v", err, dbapi.ErrCommitUnknown)
	}
	if waited > 10*time.Second {
		t.Errorf("Run returned %s after its COMMIT was held; the read timeout is 1s", waited)
	}
	if _, err := locker.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
}

// A panic in fn rolls back, becomes an internal error, and the process
// lives on.
func TestRunPanic(t *testing.T) {
	db, _ := setup(t, nil, "CREATE TABLE item (id INT PRIMARY KEY) ENGINE=InnoDB")
	r := quietRunner(db, txrunner.Config{})
	calls := 0
	err := r.Run(testContext(t), txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
		calls++
		if _, err := tx.ExecContext(ctx, "INSERT INTO item VALUES (1)"); err != nil {
			return err
		}
		panic("boom: secret detail")
	})
	if !errors.Is(err, dbapi.ErrInternal) {
		t.Fatalf("Run: %v, want %v", err, dbapi.ErrInternal)
	}
	if msg := asDBAPI(t, err).Message; strings.Contains(msg, "boom") {
		t.Errorf("client message %q repeats the panic value", msg)
	}
	if calls != 1 {
		t.Errorf("fn called %d times, want 1", calls)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM item"); n != 0 {
		t.Errorf("%d rows committed, want 0", n)
	}
}

// A *dbapi.Error from fn comes back as is (even wrapped), after rollback.
func TestRunReturnsFnError(t *testing.T) {
	db, _ := setup(t, nil, "CREATE TABLE item (id INT PRIMARY KEY) ENGINE=InnoDB")
	r := quietRunner(db, txrunner.Config{})
	want := dbapi.CodeErrorf(dbapi.ECONFLICT, "insufficient_funds", "balance too low")

	tests := []struct {
		name string
		ret  error
	}{
		{"plain", want},
		{"wrapped", fmt.Errorf("transfer: %w", want)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := r.Run(testContext(t), txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
				calls++
				if _, err := tx.ExecContext(ctx, "INSERT INTO item VALUES (1)"); err != nil {
					return err
				}
				return tt.ret
			})
			var got *dbapi.Error
			if !errors.As(err, &got) || got != want {
				t.Fatalf("Run: %v, want the very *dbapi.Error fn returned", err)
			}
			if calls != 1 {
				t.Errorf("fn called %d times, want 1", calls)
			}
			if n := count(t, db, "SELECT COUNT(*) FROM item"); n != 0 {
				t.Errorf("%d rows committed, want 0", n)
			}
		})
	}
}

// A deadline that passes while fn runs gives a timeout, and nothing is
// committed, whether the deadline is the caller's or the per-attempt one.
func TestRunDeadline(t *testing.T) {
	db, _ := setup(t, nil, "CREATE TABLE item (id INT PRIMARY KEY) ENGINE=InnoDB")
	r := quietRunner(db, txrunner.Config{})

	tests := []struct {
		name     string
		deadline time.Duration // of the caller's context
		opts     txrunner.Options
	}{
		{"caller deadline", 300 * time.Millisecond, txrunner.Options{}},
		{"attempt timeout", testTimeout, txrunner.Options{AttemptTimeout: 300 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			calls := 0
			err := r.Run(ctx, tt.opts, func(ctx context.Context, tx *sqlx.Tx) error {
				calls++
				if _, err := tx.ExecContext(ctx, "INSERT INTO item VALUES (1)"); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, "SELECT SLEEP(2)")
				return err
			})
			if !errors.Is(err, dbapi.ErrTimeout) {
				t.Fatalf("Run: %v, want %v", err, dbapi.ErrTimeout)
			}
			if calls > 1 {
				t.Errorf("fn called %d times, want at most 1", calls)
			}
			if n := count(t, db, "SELECT COUNT(*) FROM item"); n != 0 {
				t.Errorf("%d rows committed, want 0", n)
			}
		})
	}
}

// Real statements on real tables give the server's errors, which Run maps
// to dbapi kinds and codes with client-safe messages.
func TestRunErrorMapping(t *testing.T) {
	db, cfg := setup(t, map[string]string{"sql_mode": "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"},
		`CREATE TABLE parent (
			id   INT PRIMARY KEY,
			name VARCHAR(5) NOT NULL,
			qty  INT NOT NULL,
			CONSTRAINT qty_nonneg CHECK (qty >= 0)
		) ENGINE=InnoDB`,
		`CREATE TABLE child (
			id        INT PRIMARY KEY,
			parent_id INT NOT NULL,
			FOREIGN KEY (parent_id) REFERENCES parent (id)
		) ENGINE=InnoDB`,
		"INSERT INTO parent VALUES (1, 'a', 1)",
		"INSERT INTO child VALUES (1, 1)")
	r := quietRunner(db, txrunner.Config{})

	tests := []struct {
		name   string
		query  string
		args   []any
		number uint16 // what the server says
		want   error  // kind sentinel
		code   string // ErrorCode()
	}{
		{"duplicate key", "INSERT INTO parent VALUES (1, 'b', 1)", nil, 1062, dbapi.ErrConflict, "duplicate"},
		{"missing parent", "INSERT INTO child VALUES (2, 999)", nil, 1452, dbapi.ErrInvalid, "foreign_key"},
		{"parent still referenced", "DELETE FROM parent WHERE id = 1", nil, 1451, dbapi.ErrInvalid, "foreign_key"},
		{"check constraint", "INSERT INTO parent VALUES (2, 'b', -1)", nil, 4025, dbapi.ErrInvalid, "check_violation"},
		{"too long", "INSERT INTO parent VALUES (2, ?, 1)", []any{"abcdefgh"}, 1406, dbapi.ErrInvalid, "too_long"},
		{"bad value", "INSERT INTO parent VALUES (2, 'b', ?)", []any{"abc"}, 1366, dbapi.ErrInvalid, "bad_value"},
		{"out of range", "INSERT INTO parent VALUES (2, 'b', 99999999999)", nil, 1264, dbapi.ErrInvalid, "bad_value"},
		{"null", "INSERT INTO parent VALUES (2, NULL, 1)", nil, 1048, dbapi.ErrInvalid, "bad_value"},
		{"statement timeout", "SET STATEMENT max_statement_time = 0.05 FOR SELECT SLEEP(2)", nil, 1969, dbapi.ErrTimeout, dbapi.ETIMEOUT},
		{"unknown table", "SELECT * FROM no_such_table", nil, 1146, dbapi.ErrInternal, dbapi.EINTERNAL},
		{"syntax", "SELEC 1", nil, 1064, dbapi.ErrInternal, dbapi.EINTERNAL},
		{"signal", "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'driver text secret'", nil, 1644, dbapi.ErrInternal, dbapi.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := r.Run(testContext(t), txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
				calls++
				_, err := tx.ExecContext(ctx, tt.query, tt.args...)
				return err
			})
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			if n := mysqlNumber(err); n != tt.number {
				t.Errorf("server error %d, want %d (%v)", n, tt.number, err)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Run: %v, want %v", err, tt.want)
			}
			de := asDBAPI(t, err)
			if de.ErrorCode() != tt.code {
				t.Errorf("code %q, want %q", de.ErrorCode(), tt.code)
			}
			if calls != 1 {
				t.Errorf("fn called %d times, want 1", calls)
			}
			checkClientSafe(t, de, cfg)
		})
	}
	if n := count(t, db, "SELECT COUNT(*) FROM parent"); n != 1 {
		t.Errorf("parent has %d rows, want 1", n)
	}
}

// checkClientSafe fails if the message meant for clients holds the
// driver's or server's text, or anything from the DSN.
func checkClientSafe(t *testing.T, de *dbapi.Error, cfg *mysql.Config) {
	t.Helper()
	if de.Message == "" {
		t.Errorf("empty client message")
	}
	var me *mysql.MySQLError
	var leaks []string
	if errors.As(de, &me) {
		leaks = append(leaks, me.Message)
	} else if de.Err != nil {
		leaks = append(leaks, de.Err.Error())
	}
	leaks = append(leaks, "Error ", "driver text", cfg.Addr, cfg.User+"@", "tcp(")
	if cfg.DBName != "" {
		leaks = append(leaks, cfg.DBName)
	}
	if cfg.Passwd != "" {
		leaks = append(leaks, cfg.Passwd)
	}
	for _, s := range leaks {
		if s != "" && strings.Contains(de.Message, s) {
			t.Errorf("client message %q contains %q", de.Message, s)
		}
	}
}

func TestOpenConnectionRefused(t *testing.T) {
	cfg, err := txrunner.ParseDSN("app:s3cret@tcp(127.0.0.1:1)/nodb")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 10 * time.Second
	db, err := txrunner.Open(testContext(t), cfg, txrunner.PoolConfig{})
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on a closed port")
	}
	t.Logf("Open: %v", err)
	if !errors.Is(err, dbapi.ErrUnavailable) {
		t.Errorf("Open: %v, want %v", err, dbapi.ErrUnavailable)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q contains the password", err)
	}
	checkClientSafe(t, asDBAPI(t, err), cfg)
}

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn           string
		parseTime     bool
		interpolate   bool
		loc           string
		timeZone      string
		collation     string
		extraParamKey string // another session variable that must survive
	}{
		{
			dsn:       "app:pw@tcp(db:3306)/bank",
			parseTime: true, interpolate: true, loc: "UTC", timeZone: "'+00:00'", collation: "utf8mb4_unicode_ci",
		},
		{
			dsn:       "app:pw@tcp(db:3306)/bank?parseTime=false",
			parseTime: false, interpolate: true, loc: "UTC", timeZone: "'+00:00'", collation: "utf8mb4_unicode_ci",
		},
		{
			dsn:       "app:pw@tcp(db:3306)/bank?interpolateParams=false",
			parseTime: true, interpolate: false, loc: "UTC", timeZone: "'+00:00'", collation: "utf8mb4_unicode_ci",
		},
		{
			dsn:       "app:pw@tcp(db:3306)/bank?loc=Local",
			parseTime: true, interpolate: true, loc: "Local", timeZone: "'+00:00'", collation: "utf8mb4_unicode_ci",
		},
		{
			dsn:       "app:pw@tcp(db:3306)/bank?loc=Europe%2FParis&parseTime=true",
			parseTime: true, interpolate: true, loc: "Europe/Paris", timeZone: "'+00:00'", collation: "utf8mb4_unicode_ci",
		},
		{
			dsn:       "app:pw@tcp(db:3306)/bank?time_zone=%27%2B02%3A00%27",
			parseTime: true, interpolate: true, loc: "UTC", timeZone: "'+02:00'", collation: "utf8mb4_unicode_ci",
		},
		{
			dsn:       "app:pw@tcp(db:3306)/bank?collation=utf8mb4_bin&sql_mode=%27STRICT_ALL_TABLES%27",
			parseTime: true, interpolate: true, loc: "UTC", timeZone: "'+00:00'", collation: "utf8mb4_bin",
			extraParamKey: "sql_mode",
		},
		{
			dsn:       "app:pw@tcp(db:3306)/bank?charset=utf8mb4",
			parseTime: true, interpolate: true, loc: "UTC", timeZone: "'+00:00'", collation: "",
		},
		{
			// Interpolation is unsafe with these charsets: never forced on.
			dsn:       "app:pw@tcp(db:3306)/bank?charset=sjis",
			parseTime: true, interpolate: false, loc: "UTC", timeZone: "'+00:00'", collation: "",
		},
		{
			dsn:       "app:pw@tcp(db:3306)/bank?charset=GBK%2Cutf8mb4",
			parseTime: true, interpolate: false, loc: "UTC", timeZone: "'+00:00'", collation: "",
		},
		{
			dsn:       "app:pw@tcp(db:3306)/bank?collation=big5_chinese_ci",
			parseTime: true, interpolate: false, loc: "UTC", timeZone: "'+00:00'", collation: "big5_chinese_ci",
		},
		{
			// A '?' in the password is not the start of the parameters.
			dsn:       "app:p?w@tcp(db:3306)/bank",
			parseTime: true, interpolate: true, loc: "UTC", timeZone: "'+00:00'", collation: "utf8mb4_unicode_ci",
		},
		{
			dsn:       "app:p?parseTime=false@tcp(db:3306)/bank?interpolateParams=false",
			parseTime: true, interpolate: false, loc: "UTC", timeZone: "'+00:00'", collation: "utf8mb4_unicode_ci",
		},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			cfg, err := txrunner.ParseDSN(tt.dsn)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ParseTime != tt.parseTime {
				t.Errorf("ParseTime = %v, want %v", cfg.ParseTime, tt.parseTime)
			}
			if cfg.InterpolateParams != tt.interpolate {
				t.Errorf("InterpolateParams = %v, want %v", cfg.InterpolateParams, tt.interpolate)
			}
			if cfg.Loc == nil || cfg.Loc.String() != tt.loc {
				t.Errorf("Loc = %v, want %s", cfg.Loc, tt.loc)
			}
			if got := cfg.Params["time_zone"]; got != tt.timeZone {
				t.Errorf("time_zone = %q, want %q", got, tt.timeZone)
			}
			if cfg.Collation != tt.collation {
				t.Errorf("Collation = %q, want %q", cfg.Collation, tt.collation)
			}
			if tt.extraParamKey != "" && cfg.Params[tt.extraParamKey] == "" {
				t.Errorf("parameter %s lost", tt.extraParamKey)
			}
			// The result must still be a DSN the driver accepts.
			if _, err := mysql.NewConnector(cfg); err != nil {
				t.Errorf("NewConnector: %v", err)
			}
		})
	}
}

func TestParseDSNErrorsHidePassword(t *testing.T) {
	for _, dsn := range []string{
		"app:s3cret@tcp(db:3306",
		"app:s3cret@tcp(db:3306)",
		"app:s3cret@tcp(db:3306)/bank?parseTime=maybe",
		"app:s3cret@tcp(db:3306)/bank?timeout=soon",
		"app:s3cret@tcp(db:3306)/bank?loc=Nowhere%2FAtAll",
		"app:s3cret@tcp(db:3306)/bank?collation=sjis_japanese_ci&interpolateParams=true",
	} {
		t.Run(dsn, func(t *testing.T) {
			_, err := txrunner.ParseDSN(dsn)
			if err == nil {
				t.Fatal("ParseDSN accepted an invalid DSN")
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		dsn       string
		want      string // must appear
		forbidden string // must not appear
	}{
		{"app:s3cret@tcp(db:3306)/bank", "app:xxxxx@tcp(db:3306)/bank", "s3cret"},
		{"app:p%40ss:w@rd@tcp(db:3306)/bank?parseTime=false", "app:xxxxx@tcp(db:3306)/bank", "w@rd"},
		{"app@tcp(db:3306)/bank", "app@tcp(db:3306)/bank", "xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			cfg, err := txrunner.ParseDSN(tt.dsn)
			if err != nil {
				t.Fatal(err)
			}
			got := txrunner.Redact(cfg)
			if !strings.Contains(got, tt.want) {
				t.Errorf("Redact = %q, want it to contain %q", got, tt.want)
			}
			if strings.Contains(got, tt.forbidden) {
				t.Errorf("Redact = %q contains %q", got, tt.forbidden)
			}
			if cfg.Passwd == "xxxxx" {
				t.Errorf("Redact changed its argument")
			}
			// The redacted DSN still parses to the same settings.
			back, err := mysql.ParseDSN(got)
			if err != nil {
				t.Fatalf("redacted DSN does not parse: %v", err)
			}
			back.Passwd = cfg.Passwd
			if back.FormatDSN() != cfg.FormatDSN() {
				t.Errorf("redacted DSN parses to %s, want the settings of %s", back.FormatDSN(), cfg.FormatDSN())
			}
		})
	}
}
