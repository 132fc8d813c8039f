package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/catalog"
	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// env is a fresh database with the bank schema and a transaction runner.
type env struct {
	t      *testing.T
	db     *sqlx.DB
	runner *txrunner.Runner
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, _ := dbtest.New(t, dbtest.Bank()...)
	return &env{t: t, db: db, runner: txrunner.New(db, txrunner.Config{})}
}

// call runs op in one transaction, as the consumer does, and returns the
// JSON result.
func (e *env) call(op dbapi.Operation, params string) (string, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var body []byte
	err := e.runner.Run(ctx, txrunner.Options{Isolation: op.Isolation, ReadOnly: op.ReadOnly},
		func(ctx context.Context, tx *sqlx.Tx) error {
			res, err := op.Run(ctx, tx, json.RawMessage(params))
			if err != nil {
				return err
			}
			body, err = json.Marshal(res)
			return err
		})
	return string(body), err
}

// parse builds the operation of one inline file.
func parse(t *testing.T, src string, cfg catalog.Config) dbapi.Operation {
	t.Helper()
	d, err := catalog.Parse("inline.sql", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return d.Operation(cfg)
}

// shipped returns the operations in schema/operations by name.
func shipped(t *testing.T) map[string]dbapi.Operation {
	t.Helper()
	ops, err := catalog.Load(bank.Declared(), catalog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]dbapi.Operation{}
	for _, op := range ops {
		m[op.Name] = op
	}
	return m
}

func wantError(t *testing.T, what string, err error, kind, code string) {
	t.Helper()
	var de *dbapi.Error
	if !errors.As(err, &de) || de.Kind != kind || de.ErrorCode() != code {
		t.Errorf("%s: got %v; want a %s error with code %s", what, err, kind, code)
	}
}

// openAccount inserts an account and returns its id and how the database
// formats its created_at as RFC 3339 with microseconds.
func (e *env) openAccount(owner, balance string) (uint64, string) {
	e.t.Helper()
	res, err := e.db.Exec("INSERT INTO accounts (owner, balance) VALUES (?, ?)", owner, balance)
	if err != nil {
		e.t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	var created string
	if err := e.db.Get(&created, "SELECT DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ') FROM accounts WHERE id = ?", id); err != nil {
		e.t.Fatal(err)
	}
	return uint64(id), created
}

func TestAccountsGet(t *testing.T) {
	e := newEnv(t)
	get := shipped(t)["accounts.get"]
	if !get.ReadOnly || get.Description != "Read one account by id." {
		t.Errorf("accounts.get: got %+v", get)
	}
	owner := `Zoë "Z" O'Brien 😀`
	id, created := e.openAccount(owner, "1234567890123456.78")
	got, err := e.call(get, fmt.Sprintf(`{"id":%d}`, id))
	if err != nil {
		t.Fatal(err)
	}
	ownerJSON, _ := json.Marshal(owner)
	want := fmt.Sprintf(`{"id":%d,"owner":%s,"balance":"1234567890123456.78","created_at":%q}`, id, ownerJSON, created)
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := time.Parse(time.RFC3339, created); err != nil {
		t.Errorf("created_at %q is not RFC 3339: %v", created, err)
	}

	_, err = e.call(get, `{"id":999999}`)
	wantError(t, "unknown id", err, dbapi.ENOTFOUND, "not_found")
	if err == nil || dbapi.AsError(err).Message != "account 999999 does not exist" {
		t.Errorf("unknown id: got message %v", err)
	}
	_, err = e.call(get, `{}`)
	wantError(t, "no id", err, dbapi.EINVALID, "missing_param")
	_, err = e.call(get, `{"id":0}`)
	wantError(t, "id 0", err, dbapi.EINVALID, "bad_param")
	_, err = e.call(get, `{"id":"1 OR 1=1"}`)
	wantError(t, "id not an integer", err, dbapi.EINVALID, "bad_param")
	_, err = e.call(get, `{"id":1,"owner":"x"}`)
	wantError(t, "extra field", err, dbapi.EINVALID, "unknown_param")
}

func TestAccountsList(t *testing.T) {
	e := newEnv(t)
	list := shipped(t)["accounts.list"]
	var ids []uint64
	for i := range 25 {
		id, _ := e.openAccount(fmt.Sprint("owner", i), fmt.Sprintf("%d.05", i))
		ids = append(ids, id)
	}
	type account struct {
		ID        uint64 `json:"id"`
		Owner     string `json:"owner"`
		Balance   string `json:"balance"`
		CreatedAt string `json:"created_at"`
	}
	page := func(params string) []account {
		t.Helper()
		got, err := e.call(list, params)
		if err != nil {
			t.Fatalf("%s: %v", params, err)
		}
		var out []account
		if err := json.Unmarshal([]byte(got), &out); err != nil || out == nil {
			t.Fatalf("%s: got %s, %v", params, got, err)
		}
		return out
	}
	// Walk every page of 10 with keyset pagination.
	var seen []uint64
	params := `{"limit":10}`
	for n := 0; ; n++ {
		p := page(params)
		if n > 3 {
			t.Fatal("pagination does not end")
		}
		if len(p) == 0 {
			break
		}
		if len(p) > 10 {
			t.Fatalf("page of %d rows; limit 10", len(p))
		}
		for _, a := range p {
			seen = append(seen, a.ID)
			i := len(seen) - 1
			if a.Owner != fmt.Sprint("owner", i) || a.Balance != fmt.Sprintf("%d.05", i) || !strings.HasSuffix(a.CreatedAt, "Z") {
				t.Errorf("row %d: got %+v", i, a)
			}
		}
		params = fmt.Sprintf(`{"after":%d,"limit":10}`, p[len(p)-1].ID)
	}
	if fmt.Sprint(seen) != fmt.Sprint(ids) {
		t.Errorf("pages gave ids %v, want %v", seen, ids)
	}
	if p := page(`{}`); len(p) != 25 {
		t.Errorf("default limit: got %d rows, want all 25", len(p))
	}
	if p := page(`{"after":null,"limit":1000}`); len(p) != 25 {
		t.Errorf("after null: got %d rows", len(p))
	}
	if p := page(fmt.Sprintf(`{"after":%d}`, ids[24])); len(p) != 0 {
		t.Errorf("after the last id: got %d rows", len(p))
	}
	for _, bad := range []string{`{"limit":0}`, `{"limit":1001}`, `{"after":-1}`, `{"limit":"ten"}`} {
		_, err := e.call(list, bad)
		wantError(t, bad, err, dbapi.EINVALID, "bad_param")
	}
}

// TestEverything runs testdata/good/everything.sql: every parameter type
// is bound (never spliced) and comes back as rowjson encodes it.
func TestEverything(t *testing.T) {
	e := newEnv(t)
	src, err := os.ReadFile("testdata/good/everything.sql")
	if err != nil {
		t.Fatal(err)
	}
	op := parse(t, string(src), catalog.Config{})
	got, err := e.call(op, `{"i":3,"s":"';-","d":"-12.5","b":true,"t":"2024-02-29T13:34:56.123456+01:00",
		"day":"2024-02-29","raw":"AAEC/w==","doc":{"a": [1, 2.50, "\\u00e9"]},"note":"x' OR '1'='1 -- :i ; ?"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"str":"text :no ; 'quoted' ' :still_no","dq":"dq :no","ident":1,"d":"-12.50","s":"';-","b":1,` +
		`"t":"2024-02-29 12:34:56.123456","day":"2024-02-29","raw":"AAEC/w==","doc":{"a":[1,2.50,"\\u00e9"]},` +
		`"note":"x' OR '1'='1 -- :i ; ?","i":3,"x":3}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got, err = e.call(op, `{"i":-5,"s":""}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"d":"0.00","s":"","b":0,"t":null,"day":null,"raw":null,"doc":null,"note":"a b \"c\"","i":-5,"x":-5}`; !strings.HasSuffix(got, want) {
		t.Errorf("defaults: got %s\nwant the end %s", got, want)
	}
}

func TestExec(t *testing.T) {
	e := newEnv(t)
	src, err := os.ReadFile("testdata/good/insert.sql")
	if err != nil {
		t.Fatal(err)
	}
	insert := parse(t, string(src), catalog.Config{})
	got, err := e.call(insert, `{"owner":"ann"}`)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := e.db.Get(&id, "SELECT id FROM accounts WHERE owner = 'ann'"); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"rows_affected":1,"last_insert_id":%d}`, id); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	_, err = e.call(insert, fmt.Sprintf(`{"owner":%q}`, strings.Repeat("é", 256)))
	wantError(t, "owner too long", err, dbapi.EINVALID, "bad_param")

	update := parse(t, `-- name: test.update
-- param: balance decimal(20,2)
-- result: exec
UPDATE accounts SET balance = :balance`, catalog.Config{})
	e.openAccount("bob", "1.00")
	if got, err := e.call(update, `{"balance":"7.00"}`); err != nil || got != `{"rows_affected":2,"last_insert_id":0}` {
		t.Errorf("update: got %s, %v", got, err)
	}
	// A CHECK constraint the database enforces comes back classified.
	_, err = e.call(update, `{"balance":"-1.00"}`)
	wantError(t, "negative balance", err, dbapi.EINVALID, "check_violation")
}

// All statements of an operation run in one transaction: when a later one
// fails, the earlier ones are rolled back.
func TestStatementsShareTheTransaction(t *testing.T) {
	e := newEnv(t)
	id, _ := e.openAccount("first", "0")
	op := parse(t, fmt.Sprintf(`-- name: test.two
-- param: owner string
-- result: exec
INSERT INTO accounts (owner) VALUES (:owner);
INSERT INTO accounts (id, owner) VALUES (%d, 'duplicate id');
`, id), catalog.Config{})
	_, err := e.call(op, `{"owner":"rolled back"}`)
	wantError(t, "duplicate", err, dbapi.ECONFLICT, "duplicate")
	var n int
	if err := e.db.Get(&n, "SELECT COUNT(*) FROM accounts WHERE owner = 'rolled back'"); err != nil || n != 0 {
		t.Errorf("the first statement was committed (%d rows, %v)", n, err)
	}

	// A user variable set by one statement is seen by the next.
	op = parse(t, `-- name: test.vars
-- param: a int
-- result: one
SET @v = :a * 2;
SELECT @v + 1 AS v`, catalog.Config{})
	if got, err := e.call(op, `{"a":20}`); err != nil || got != `{"v":41}` {
		t.Errorf("variables: got %s, %v", got, err)
	}
}

func TestManyMaxRows(t *testing.T) {
	e := newEnv(t)
	src := `-- name: test.seq
-- param: n int
-- result: many
SELECT seq FROM seq_1_to_5000 WHERE seq <= :n`
	op := parse(t, src, catalog.Config{MaxRows: 100})
	got, err := e.call(op, `{"n":100}`)
	var rows []map[string]int
	if err != nil || json.Unmarshal([]byte(got), &rows) != nil || len(rows) != 100 || rows[99]["seq"] != 100 {
		t.Errorf("100 rows, max 100: got %.100s, %v", got, err)
	}
	_, err = e.call(op, `{"n":101}`)
	wantError(t, "101 rows, max 100", err, dbapi.ETOOLARGE, "result_too_large")

	op = parse(t, strings.Replace(src, "-- result: many", "-- result: many\n-- max-rows: 2", 1), catalog.Config{MaxRows: 100})
	_, err = e.call(op, `{"n":3}`)
	wantError(t, "3 rows, max-rows 2", err, dbapi.ETOOLARGE, "result_too_large")

	op = parse(t, src, catalog.Config{})
	if _, err := e.call(op, fmt.Sprintf(`{"n":%d}`, catalog.DefaultMaxRows)); err != nil {
		t.Errorf("default max rows: %v", err)
	}
	_, err = e.call(op, fmt.Sprintf(`{"n":%d}`, catalog.DefaultMaxRows+1))
	wantError(t, "default max rows + 1", err, dbapi.ETOOLARGE, "result_too_large")

	if got, err := e.call(op, `{"n":0}`); err != nil || got != "[]" {
		t.Errorf("no rows: got %s, %v; want []", got, err)
	}
}

func TestOneResult(t *testing.T) {
	e := newEnv(t)
	op := parse(t, `-- name: test.one
-- param: n int
-- result: one
-- json: j
SELECT seq, JSON_OBJECT('seq', seq) AS j FROM seq_1_to_5 WHERE seq <= :n`, catalog.Config{})
	if got, err := e.call(op, `{"n":1}`); err != nil || got != `{"seq":1,"j":{"seq":1}}` {
		t.Errorf("one row: got %s, %v", got, err)
	}
	_, err := e.call(op, `{"n":0}`)
	wantError(t, "no row", err, dbapi.ENOTFOUND, "not_found")
	if err == nil || !strings.Contains(err.Error(), "no row matches the parameters") {
		t.Errorf("default not-found message: got %v", err)
	}
	_, err = e.call(op, `{"n":2}`)
	wantError(t, "two rows", err, dbapi.ECONFLICT, "multiple_rows")

	// The not-found message may name parameters; they are filled in.
	op = parse(t, `-- name: test.msg
-- param: s string
-- param: n int nullable
-- result: one
-- not-found: nothing for :s, :n (:s)
SELECT 1 AS one FROM DUAL WHERE :s = 'never' AND :n IS NULL`, catalog.Config{})
	_, err = e.call(op, `{"s":"`+strings.Repeat("é", 100)+`"}`)
	if want := "nothing for " + strings.Repeat("é", 32) + "…, null (" + strings.Repeat("é", 32) + "…)"; err == nil || dbapi.AsError(err).Message != want {
		t.Errorf("not-found message: got %v, want %s", err, want)
	}
}

// A read-only operation runs in a READ ONLY transaction.
func TestReadOnly(t *testing.T) {
	e := newEnv(t)
	op := parse(t, `-- name: test.sneaky
-- param: owner string
-- result: exec
-- read-only: true
INSERT INTO accounts (owner) VALUES (:owner)`, catalog.Config{})
	if _, err := e.call(op, `{"owner":"x"}`); err == nil {
		t.Error("a write in a read-only operation succeeded")
	}
	var n int
	if err := e.db.Get(&n, "SELECT COUNT(*) FROM accounts"); err != nil || n != 0 {
		t.Errorf("accounts: %d, %v", n, err)
	}
}
