package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/internal/natstest"
	"github.com/dbapi-dev/dbapi/schema"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// env is one test's service environment: a fresh database, a NATS server,
// and a subject prefix and queue group no other test uses.
type env struct {
	t      *testing.T
	db     *mysql.Config
	url    string
	prefix string
	nc     *nats.Conn // the clients' connection
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cfg := dbtest.Config(t)
	dbtest.Create(t, cfg)
	var b [4]byte
	rand.Read(b[:])
	e := &env{t: t, db: cfg, url: natstest.URL(t), prefix: "dbapitest" + hex.EncodeToString(b[:])}
	e.nc = natstest.Connect(t, e.url)
	return e
}

// config returns a service configuration for this environment.
func (e *env) config() Config {
	return Config{
		MySQLDSN:        e.db.FormatDSN(),
		NATSURL:         e.url,
		Prefix:          e.prefix,
		QueueGroup:      e.prefix,
		PoolSize:        16,
		Timeout:         30 * time.Second,
		MaxAttempts:     10,
		Grace:           20 * time.Second,
		MaxPayload:      1 << 20,
		MaxBatch:        100,
		MaxRows:         1000,
		IdemTTL:         time.Hour,
		LogLevel:        "error",
		Migrate:         true,
		MigrationsTable: schema.AppVersionTable,
	}
}

// start runs a service in process and closes it when the test ends.
func (e *env) start(cfg Config, extra ...func(*Main)) *Main {
	e.t.Helper()
	m := NewMain(cfg, bankApp())
	m.Logger = testLogger()
	for _, f := range extra {
		f(m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		m.Close()
		e.t.Fatalf("start service: %v", err)
	}
	e.t.Cleanup(func() { m.Close() })
	return m
}

// sqlx opens the test database directly, to check what was committed.
func (e *env) sqlx() *sqlx.DB {
	e.t.Helper()
	db, err := sqlx.Open("mysql", e.db.FormatDSN())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

// lockAccounts locks the accounts table from a connection of its own, so
// that every request that touches it waits, and returns unlock, which
// releases it; unlock may be called more than once and runs anyway when
// the test ends.
func (e *env) lockAccounts() (unlock func()) {
	e.t.Helper()
	ctx := context.Background()
	conn, err := e.sqlx().Conn(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "LOCK TABLES accounts WRITE"); err != nil {
		conn.Close()
		e.t.Fatal(err)
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
				e.t.Error(err)
			}
			conn.Close()
		})
	}
	e.t.Cleanup(unlock)
	return unlock
}

// reply is what a client saw.
type reply struct {
	status int    // 0 on success, else Nats-Service-Error-Code
	code   string // error body's code
	retry  bool   // error body's retryable
	msg    string // Nats-Service-Error
	body   []byte
	err    error // transport error (no responders, timeout)
}

func (r reply) String() string {
	if r.err != nil {
		return "transport error: " + r.err.Error()
	}
	if r.status != 0 {
		return fmt.Sprintf("%d %s: %s", r.status, r.code, r.msg)
	}
	return "ok " + string(r.body)
}

// call sends one request and waits up to wait for the reply.
func call(nc *nats.Conn, subject string, body []byte, header nats.Header, wait time.Duration) reply {
	msg := &nats.Msg{Subject: subject, Data: body, Header: header}
	resp, err := nc.RequestMsg(msg, wait)
	if err != nil {
		return reply{err: err}
	}
	r := reply{body: resp.Data}
	if s := resp.Header.Get(micro.ErrorCodeHeader); s != "" {
		r.status, _ = strconv.Atoi(s)
		r.msg = resp.Header.Get(micro.ErrorHeader)
		var eb executor.ErrorBody
		if err := json.Unmarshal(resp.Data, &eb); err != nil {
			r.code = "unparseable error body: " + string(resp.Data)
		}
		r.code, r.retry = eb.Error.Code, eb.Error.Retryable
	}
	return r
}

func (e *env) call(op string, params any) reply {
	body, err := json.Marshal(params)
	if err != nil {
		e.t.Fatal(err)
	}
	return call(e.nc, e.prefix+"."+op, body, nil, 30*time.Second)
}

// openAccounts opens n accounts with the given balance and returns their ids.
func (e *env) openAccounts(n int, balance string) []uint64 {
	e.t.Helper()
	ids := make([]uint64, n)
	for i := range ids {
		r := e.call("accounts.open", map[string]string{"owner": fmt.Sprint("owner", i), "balance": balance})
		var a struct{ ID uint64 }
		if r.status != 0 || r.err != nil || json.Unmarshal(r.body, &a) != nil || a.ID == 0 {
			e.t.Fatalf("accounts.open: %v", r)
		}
		ids[i] = a.ID
	}
	return ids
}

// checkLedger checks that the committed data is consistent: every balance
// equals the opening balance plus transfers in minus transfers out (so no
// transfer is half-applied), none is negative, the total is unchanged, and
// the transfers table holds exactly the transfers in wantIDs.
func checkLedger(t *testing.T, db *sqlx.DB, opening string, n int, wantIDs map[int64]bool) {
	t.Helper()
	var bad []string
	err := db.Select(&bad, `
		SELECT CONCAT(a.id, ': ', a.balance, ' != ', CAST(? AS DECIMAL(20,2)) + COALESCE(i.s, 0) - COALESCE(o.s, 0))
		FROM accounts a
		LEFT JOIN (SELECT to_id, SUM(amount) s FROM transfers GROUP BY to_id) i ON i.to_id = a.id
		LEFT JOIN (SELECT from_id, SUM(amount) s FROM transfers GROUP BY from_id) o ON o.from_id = a.id
		WHERE a.balance <> CAST(? AS DECIMAL(20,2)) + COALESCE(i.s, 0) - COALESCE(o.s, 0) OR a.balance < 0`, opening, opening)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Errorf("account balance does not match its transfers: %s", b)
	}
	var sum, want string
	if err := db.QueryRow("SELECT CAST(SUM(balance) AS CHAR), CAST(? * ? AS DECIMAL(20,2)) FROM accounts", opening, n).Scan(&sum, &want); err != nil {
		t.Fatal(err)
	}
	if sum != want {
		t.Errorf("sum of balances = %s, want %s", sum, want)
	}
	var ids []int64
	if err := db.Select(&ids, "SELECT id FROM transfers"); err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(wantIDs) {
		t.Errorf("transfers table has %d rows; clients got %d success replies", len(ids), len(wantIDs))
	}
	for _, id := range ids {
		if !wantIDs[id] {
			t.Errorf("transfer %d is committed but no client got a success reply for it", id)
		}
	}
}

// tally collects replies from concurrent clients.
type tally struct {
	mu     sync.Mutex
	ok     map[int64]bool
	codes  map[string]int
	others []string
}

func newTally() *tally { return &tally{ok: map[int64]bool{}, codes: map[string]int{}} }

func (ty *tally) add(r reply, allowed ...string) {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	if r.err == nil && r.status == 0 {
		var res bank.TransferResult
		if err := json.Unmarshal(r.body, &res); err != nil || res.TransferID == 0 {
			ty.others = append(ty.others, "bad success body: "+string(r.body))
			return
		}
		if ty.ok[res.TransferID] {
			ty.others = append(ty.others, fmt.Sprintf("transfer id %d replied twice", res.TransferID))
		}
		ty.ok[res.TransferID] = true
		return
	}
	key := r.code
	if r.err != nil {
		key = "transport: " + r.err.Error()
	}
	ty.codes[key]++
	for _, a := range allowed {
		if key == a {
			return
		}
	}
	if len(ty.others) < 20 {
		ty.others = append(ty.others, r.String())
	}
}

func randomTransfer(accounts []uint64) map[string]any {
	i := mrandN(len(accounts))
	j := (i + 1 + mrandN(len(accounts)-1)) % len(accounts)
	cents := 1 + mrandN(20000)
	return map[string]any{"from": accounts[i], "to": accounts[j], "amount": fmt.Sprintf("%d.%02d", cents/100, cents%100)}
}

// Test 1: many clients, many transfers in random directions among a few
// hot accounts. Nothing is lost, created or half-applied; every failure is
// a clean insufficient_funds; no client ever sees a deadlock.
func TestConcurrentTransfersKeepTheLedger(t *testing.T) {
	const clients, total, hot = 64, 20000, 10
	e := newEnv(t)
	e.start(e.config())
	accounts := e.openAccounts(hot, "1000.00")

	ty := newTally()
	var wg sync.WaitGroup
	for c := range clients {
		n := total / clients
		if c < total%clients {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				ty.add(e.call("accounts.transfer", randomTransfer(accounts)), "insufficient_funds")
			}
		}()
	}
	wg.Wait()
	for _, o := range ty.others {
		t.Errorf("unexpected reply: %s", o)
	}
	if got := len(ty.ok) + ty.codes["insufficient_funds"]; got != total {
		t.Errorf("%d replies, want %d", got, total)
	}
	t.Logf("%d transfers committed, %d insufficient_funds", len(ty.ok), ty.codes["insufficient_funds"])
	checkLedger(t, e.sqlx(), "1000.00", hot, ty.ok)
}

// Test 3: stopping the service while clients keep sending. Every success
// reply is committed; nothing that got an error or no reply is half-applied.
func TestGracefulStopUnderLoad(t *testing.T) {
	const clients, hot = 32, 5
	e := newEnv(t)
	m := e.start(e.config())
	accounts := e.openAccounts(hot, "1000.00")

	ty := newTally()
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				r := e.call("accounts.transfer", randomTransfer(accounts))
				ty.add(r, "insufficient_funds", "stopping", "transport: "+nats.ErrNoResponders.Error())
				if errors.Is(r.err, nats.ErrNoResponders) {
					return // the service is gone
				}
			}
		}()
	}
	// Stop once the load is flowing.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		ty.mu.Lock()
		n := len(ty.ok)
		ty.mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	close(stopped)
	wg.Wait()
	for _, o := range ty.others {
		t.Errorf("unexpected reply: %s", o)
	}
	if len(ty.ok) < 300 {
		t.Fatalf("only %d transfers succeeded before the stop", len(ty.ok))
	}
	t.Logf("replies: %d ok, others %v", len(ty.ok), ty.codes)
	checkLedger(t, e.sqlx(), "1000.00", hot, ty.ok)
}

// Test 4: three instances in one queue group share the load and no request
// is handled twice. They also migrate the same database at the same time.
func TestScaleOut(t *testing.T) {
	const instances, clients, total, hot = 3, 32, 3000, 10
	e := newEnv(t)
	mains := make([]*Main, instances)
	var wg sync.WaitGroup
	for i := range mains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := NewMain(e.config(), bankApp())
			m.Logger = testLogger()
			if err := m.Run(context.Background()); err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
			mains[i] = m
		}()
	}
	wg.Wait()
	for _, m := range mains {
		t.Cleanup(func() { m.Close() })
	}
	if t.Failed() {
		t.FailNow()
	}
	accounts := e.openAccounts(hot, "1000.00")

	ty := newTally()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < total; i += clients {
				ty.add(e.call("accounts.transfer", randomTransfer(accounts)), "insufficient_funds")
			}
		}()
	}
	wg.Wait()
	for _, o := range ty.others {
		t.Errorf("unexpected reply: %s", o)
	}
	var handled uint64
	for i, m := range mains {
		n := m.Consumer.Handled()
		t.Logf("instance %d handled %d requests", i, n)
		if n == 0 {
			t.Errorf("instance %d handled no requests", i)
		}
		handled += n
	}
	if want := uint64(total + hot); handled != want {
		t.Errorf("instances handled %d requests in all; %d were sent", handled, want)
	}
	checkLedger(t, e.sqlx(), "1000.00", hot, ty.ok)
}

// bankApp is the bank example as examples/bank serves it.
func bankApp() App {
	return App{Name: "bank", Operations: bank.Operations(), Declared: bank.Declared(), Migrations: bank.Migrations()}
}

// testLogger logs errors only, as text on stderr.
func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}
