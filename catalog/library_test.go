package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/catalog"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/schema"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/go-sql-driver/mysql"
)

// library is the lending library of examples/library on a fresh database,
// its operations loaded from the example's files.
func library(t *testing.T) (*env, map[string]dbapi.Operation, []*catalog.Definition) {
	t.Helper()
	db, _ := dbtest.New(t, schema.Set{FS: os.DirFS("../examples/library/migrations"), VersionTable: schema.AppVersionTable})
	e := &env{t: t, db: db, runner: txrunner.New(db, txrunner.Config{})}
	defs, err := catalog.LoadDefinitions(os.DirFS("../examples/library/operations"))
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]dbapi.Operation{}
	for _, op := range catalog.Operations(defs, catalog.Config{}) {
		ops[op.Name] = op
	}
	return e, ops, defs
}

// wantOwn checks that err is the operation's own error: its status's kind,
// its code, its message with the request's values, not retryable.
func wantOwn(t *testing.T, what string, err error, kind, code, msg string) {
	t.Helper()
	var de *dbapi.Error
	if !errors.As(err, &de) {
		t.Errorf("%s: got %v, want %s %s", what, err, kind, code)
		return
	}
	if de.Kind != kind || de.ErrorCode() != code || de.Message != msg || de.Retryable() {
		t.Errorf("%s: got %s %s %q retryable %v, want %s %s %q", what, de.Kind, de.ErrorCode(), de.Message, de.Retryable(), kind, code, msg)
	}
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Get(&n, q, args...); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// The library answers in its own words: every mapping of every kind of
// constraint, and every row rule, with the transaction rolled back.
func TestLibraryDomainErrors(t *testing.T) {
	e, ops, _ := library(t)
	add, lend, ret, remove := ops["books.add"], ops["books.lend"], ops["loans.return"], ops["books.remove"]

	got, err := e.call(add, `{"isbn":"978-0","title":"Dune","copies":1}`)
	if err != nil || !strings.HasPrefix(got, `{"id":1,"isbn":"978-0","title":"Dune","copies":1,"added_at":"`) {
		t.Fatalf("add: %s, %v", got, err)
	}
	// UNIQUE key.
	_, err = e.call(add, `{"isbn":"978-0","title":"Dune again"}`)
	wantOwn(t, "duplicate isbn", err, dbapi.ECONFLICT, "duplicate_isbn", "a book with ISBN 978-0 is already in the catalogue")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1062 || txrunner.Aborts(err) {
		t.Errorf("the driver's error is not kept for the logs, or aborts the transaction: %v", err)
	}

	got, err = e.call(lend, `{"book":1,"borrower":"ann"}`)
	if err != nil || !strings.HasPrefix(got, `{"id":1,"book_id":1,"title":"Dune","borrower":"ann","lent_at":"`) || !strings.HasSuffix(got, `,"copies_left":0}`) {
		t.Fatalf("lend: %s, %v", got, err)
	}
	// CHECK constraint: the UPDATE breaks it, the loan is not written.
	_, err = e.call(lend, `{"book":1,"borrower":"bob"}`)
	wantOwn(t, "no copies", err, dbapi.ECONFLICT, "no_copies_left", "no copies left of book 1")
	// FOREIGN KEY, a missing parent: 404 here.
	_, err = e.call(lend, `{"book":7,"borrower":"bob"}`)
	wantOwn(t, "unknown book", err, dbapi.ENOTFOUND, "unknown_book", "there is no book 7")
	if n := e.count("SELECT COUNT(*) FROM loans"); n != 1 {
		t.Errorf("%d loans, want 1", n)
	}
	// FOREIGN KEY, a row still referenced: 409 in another operation.
	_, err = e.call(remove, `{"id":1}`)
	wantOwn(t, "remove lent book", err, dbapi.ECONFLICT, "book_has_loans", "book 1 has loans and stays in the catalogue")
	// Row rule on the last statement of an exec.
	_, err = e.call(remove, `{"id":9}`)
	wantOwn(t, "remove unknown", err, dbapi.ENOTFOUND, "unknown_book", "there is no book 9")

	// Row rule on a statement before the last: the second UPDATE never
	// runs, nothing is kept.
	if got, err := e.call(ret, `{"loan":1}`); err != nil || got != `{"rows_affected":1,"last_insert_id":0}` {
		t.Fatalf("return: %s, %v", got, err)
	}
	_, err = e.call(ret, `{"loan":1}`)
	wantOwn(t, "returned twice", err, dbapi.ENOTFOUND, "not_lent", "loan 1 is not out (there is no such loan, or it was returned)")
	if n := e.count("SELECT copies FROM books WHERE id = 1"); n != 1 {
		t.Errorf("copies = %d after a return and a refused return, want 1", n)
	}
	_, err = e.call(ret, `{"loan":"9"}`)
	wantOwn(t, "unknown loan", err, dbapi.ENOTFOUND, "not_lent", "loan 9 is not out (there is no such loan, or it was returned)")

	// A constraint the file does not map keeps the generic code.
	bad := parse(t, "-- name: t.bad\n-- param: id int\n-- result: exec\n-- error: chk_other 409 other x\nUPDATE books SET copies = -1 WHERE id >= :id", catalog.Config{})
	_, err = e.call(bad, `{"id":1}`)
	wantError(t, "unmapped check", err, dbapi.EINVALID, "check_violation")
}

// Row rules count the rows a query returns or a write changes, on every
// statement and every result kind; the first rule that breaks ends the
// operation.
func TestRowRules(t *testing.T) {
	e, ops, _ := library(t)
	for _, b := range []string{`{"isbn":"1","title":"A","copies":2}`, `{"isbn":"2","title":"B","copies":0}`} {
		if _, err := e.call(ops["books.add"], b); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, src, params string
		want              string // the result, or "code: message"
	}{
		{"select before, kept", "-- param: id int\n-- result: exec\n-- rows: 1 else 404 no_book no book :id\nSELECT id FROM books WHERE id = :id FOR UPDATE;\nUPDATE books SET title = 'x' WHERE id = :id",
			`{"id":1}`, `{"rows_affected":1,"last_insert_id":0}`},
		{"select before, broken", "-- param: id int\n-- result: exec\n-- rows: 1 else 404 no_book no book :id\nSELECT id FROM books WHERE id = :id FOR UPDATE;\nUPDATE books SET title = 'x' WHERE id = :id",
			`{"id":5}`, "no_book: no book 5"},
		{"at least, kept", "-- result: many\n-- rows: >=2 else 409 too_few fewer than two\nSELECT id FROM books ORDER BY id",
			``, `[{"id":1},{"id":2}]`},
		{"at least, broken", "-- result: many\n-- rows: >=3 else 409 too_few fewer than three\nSELECT id FROM books ORDER BY id",
			``, "too_few: fewer than three"},
		{"exactly, many, broken", "-- result: many\n-- rows: 1 else 409 not_one not one\nSELECT id FROM books",
			``, "not_one: not one"},
		{"zero rows wanted", "-- param: isbn string\n-- result: exec\n-- rows: 0 else 409 taken isbn :isbn is taken\nSELECT id FROM books WHERE isbn = :isbn;\nINSERT INTO books (isbn, title) VALUES (:isbn, 'C')",
			`{"isbn":"1"}`, "taken: isbn 1 is taken"},
		{"one, none", "-- param: id int\n-- result: one\n-- rows: 1 else 404 no_book no book :id\nSELECT id FROM books WHERE id = :id",
			`{"id":7}`, "no_book: no book 7"},
		{"one, several", "-- result: one\n-- rows: 1 else 409 ambiguous several books\nSELECT id FROM books",
			``, "ambiguous: several books"},
		{"one, one", "-- param: id int\n-- result: one\n-- rows: 1 else 404 no_book no book :id\nSELECT id FROM books WHERE id = :id",
			`{"id":2}`, `{"id":2}`},
		{"write counts changed rows", "-- param: id int\n-- result: exec\n-- rows: 1 else 409 none_left none left of :id\nUPDATE books SET copies = copies - 1 WHERE id = :id AND copies > 0;\nSELECT 1",
			`{"id":2}`, "none_left: none left of 2"},
		{"select into counts rows", "-- param: id int\n-- result: one\n-- rows: 1 else 404 no_book no book :id\nSELECT copies INTO @c FROM books WHERE id = :id;\nSELECT @c AS c",
			`{"id":3}`, "no_book: no book 3"},
		{"first broken rule wins", "-- param: id int\n-- result: exec\n-- rows: 1 else 404 first first rule\nUPDATE books SET title = 'y' WHERE id = :id;\n-- rows: 1 else 404 second second rule\nUPDATE books SET title = 'z' WHERE id = :id",
			`{"id":8}`, "first: first rule"},
	}
	for _, tt := range tests {
		op := parse(t, "-- name: t.rule\n"+tt.src, catalog.Config{})
		got, err := e.call(op, tt.params)
		if err != nil {
			de := dbapi.AsError(err)
			got = de.ErrorCode() + ": " + de.Message
		}
		if got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
	if n := e.count("SELECT COUNT(*) FROM books WHERE title IN ('x', 'y', 'z') OR isbn = 'C'"); n != 1 {
		t.Errorf("%d books changed, want 1 (the only call whose rules held)", n)
	}
	if n := e.count("SELECT copies FROM books WHERE id = 1"); n != 2 {
		t.Errorf("copies of book 1 = %d, want 2", n)
	}
}

// Check finds constraint names the database does not have, and reads the
// result's column types of every operation that returns rows.
func TestCheckLibrary(t *testing.T) {
	e, _, defs := library(t)
	extra := []struct{ name, src string }{
		{"typo.sql", "-- name: t.typo\n-- param: id int\n-- result: exec\n-- error: chk_book_copies 409 none_left none\n-- error: uq_books_isbn 409 taken taken\nUPDATE books SET copies = copies - 1 WHERE id = :id"},
		{"case.sql", "-- name: t.case\n-- param: id int\n-- result: exec\n-- error: FK_LOANS_BOOK 409 lent lent\n-- error: primary 409 dup dup\nDELETE FROM books WHERE id = :id"},
		{"call.sql", "-- name: t.call\n-- result: many\nCALL nosuch()"}, // the server prepares a CALL of no procedure
	}
	for _, f := range extra {
		d, err := catalog.Parse(f.name, []byte(f.src))
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	problems, err := catalog.Check(ctx, e.db.DB, defs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.Error())
	}
	var dbName string
	if err := e.db.Get(&dbName, "SELECT DATABASE()"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`typo.sql:4: error: database ` + dbName + ` has no constraint "chk_book_copies" (no CHECK, UNIQUE, PRIMARY KEY or FOREIGN KEY of that name`,
	}
	if len(got) != len(want) {
		t.Fatalf("problems:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: %s\nwant %s", i, got[i], want[i])
		}
	}
	if e.count("SELECT COUNT(*) FROM books") != 0 || e.count("SELECT COUNT(*) FROM loans") != 0 {
		t.Error("the check wrote rows")
	}

	byName := map[string]*catalog.Definition{}
	for _, d := range defs {
		byName[d.Name] = d
	}
	// Real column types: the result schema of books.lend.
	lend := byName["books.lend"]
	if lend.Columns == nil || lend.Columns.Row == nil {
		t.Fatalf("books.lend: no columns read: %+v", lend.Columns)
	}
	var s struct {
		Properties map[string]struct {
			Type        any
			AnyOf       []map[string]any
			Pattern     string
			Format      string
			Description string
		}
		Required []string
	}
	if err := json.Unmarshal(lend.ResultSchema(), &s); err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.Required, ",") != "id,book_id,title,borrower,lent_at,copies_left" {
		t.Errorf("books.lend columns: %v", s.Required)
	}
	for col, want := range map[string]string{
		"title": `"string" VARCHAR`, "borrower": `"string" VARCHAR`, "copies_left": `"integer" INT`,
		"lent_at": `["string","null"] DATETIME(3), in UTC with 3 fractional digits; a zero date is null`,
		"id":      `<nil> UNSIGNED BIGINT; beyond 2^53 a string of digits`,
	} {
		p := s.Properties[col]
		typ, _ := json.Marshal(p.Type)
		if p.Type == nil {
			typ = []byte("<nil>")
		}
		if got := string(typ) + " " + p.Description; got != want {
			t.Errorf("books.lend %s: %s, want %s", col, got, want)
		}
	}
	list := byName["loans.list"].ResultSchema()
	if !strings.HasPrefix(string(list), `{"type":"array","items":{"type":"object","properties":{"id":`) ||
		!strings.Contains(string(list), `"returned_at":{"description":"DATETIME(3), in UTC with 3 fractional digits; a zero date is null","format":"date-time","type":["string","null"]}`) {
		t.Errorf("loans.list: %s", list)
	}
	if got := string(byName["loans.return"].ResultSchema()); got != string(dbapi.ResultExec.Schema()) {
		t.Errorf("loans.return: %s", got)
	}
	// What cannot be known says so.
	for name, why := range map[string]string{
		"t.call": "Column types unknown: the last statement is not a SELECT",
	} {
		if got := string(byName[name].ResultSchema()); !strings.Contains(got, why) {
			t.Errorf("%s: %s, want it to say %q", name, got, why)
		}
	}
	d, err := catalog.Parse("x.sql", []byte("-- name: t.x\n-- result: one\nSELECT 1 AS one"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(d.ResultSchema()); got != `{"description":"Column types unknown: the database was not asked (the columns are read by dbapi check, serve, and describe when it reaches the database).","type":"object"}` {
		t.Errorf("before the check: %s", got)
	}
}
