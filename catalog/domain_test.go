package catalog

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi"
)

const lendFile = `-- name: library.lend
-- param: book int
-- param: who string(100)
-- result: one
-- error: chk_books_copies 409 no_copies_left no copies left of book :book
-- error: ` + "`fk loans book`" + ` 404 unknown_book there is no book :book
-- error: uq_loans 409 already_lent :who already has book :book
-- rows: >=1 else 404 unknown_book there is no book :book
SELECT id FROM books WHERE id = :book FOR UPDATE;
-- a comment between statements
UPDATE books SET copies = copies - 1 WHERE id = :book;
-- rows: 1 else 409 not_inserted the loan of :book was not written
INSERT INTO loans (book_id, who) VALUES (:book, :who);
-- rows: 1 else 409 loan_lost the loan vanished
SELECT id, book_id, who FROM loans WHERE id = LAST_INSERT_ID();
`

func TestParseDomainErrors(t *testing.T) {
	d, err := Parse("lend.sql", []byte(lendFile))
	if err != nil {
		t.Fatal(err)
	}
	wantErrors := []ConstraintError{
		{"chk_books_copies", Failure{5, 409, dbapi.ECONFLICT, "no_copies_left", "no copies left of book :book"}},
		{"fk loans book", Failure{6, 404, dbapi.ENOTFOUND, "unknown_book", "there is no book :book"}},
		{"uq_loans", Failure{7, 409, dbapi.ECONFLICT, "already_lent", ":who already has book :book"}},
	}
	if !reflect.DeepEqual(d.Errors, wantErrors) {
		t.Errorf("errors:\n got %+v\nwant %+v", d.Errors, wantErrors)
	}
	type rule struct {
		line int
		rows string
	}
	var got []rule
	for _, st := range d.Statements {
		r := rule{st.Line, "none"}
		if st.Rows != nil {
			r.rows = st.Rows.String() + " " + st.Rows.Else.Code
			if st.Rows.Else.Line != st.Line-1 {
				t.Errorf("statement at line %d: its rule is at line %d", st.Line, st.Rows.Else.Line)
			}
		}
		got = append(got, r)
	}
	want := []rule{{9, ">=1 unknown_book"}, {11, "none"}, {13, "1 not_inserted"}, {15, "1 loan_lost"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statements: got %v, want %v", got, want)
	}
	if !strings.HasPrefix(d.Statements[0].SQL, "SELECT id FROM books") {
		t.Errorf("the rows line is part of the SQL: %q", d.Statements[0].SQL)
	}
	codes := []string{}
	for _, f := range d.Failures() {
		codes = append(codes, f.Code)
	}
	if want := "no_copies_left unknown_book already_lent not_inserted loan_lost"; strings.Join(codes, " ") != want {
		t.Errorf("failures: %v, want %s (one per code, in file order)", codes, want)
	}
	op := d.Operation(Config{})
	if len(op.Errors) != 5 || op.Errors[1] != (dbapi.OperationError{Kind: dbapi.ENOTFOUND, Code: "unknown_book", Message: "there is no book :book"}) {
		t.Errorf("operation errors: %+v", op.Errors)
	}
	if err := op.Validate(); err != nil {
		t.Error(err)
	}
	// The values a message names, and only those, are filled in.
	vals := map[string]any{"book": int64(7), "who": "ann", "other": "secret"}
	if got := expand("no copies left of book :book for :who (:other)", vals); got != "no copies left of book 7 for ann (secret)" {
		t.Errorf("expand: %q", got)
	}
	if got := expand(":who", map[string]any{"who": strings.Repeat("é", 40)}); got != strings.Repeat("é", 32)+"…" {
		t.Errorf("expand cuts long values: %q", got)
	}
}

func TestParseDomainErrorsBad(t *testing.T) {
	head := "-- name: x\n-- param: id int\n-- result: exec\n"
	tests := []struct {
		name, src, err string
	}{
		{"status 503", head + "-- error: c 503 busy try later\nUPDATE t SET a = :id", `x.sql:4: error: c: status 503: want 400 (invalid), 404 (not_found) or 409 (conflict)`},
		{"status 500", head + "-- rows: 1 else 500 oops broken\nUPDATE t SET a = :id", `x.sql:4: rows: status 500: want 400`},
		{"status 413", head + "-- error: c 413 big too big\nUPDATE t SET a = :id", `status 413`},
		{"status text", head + "-- error: c conflict no_copies x\nUPDATE t SET a = :id", `x.sql:4: error: c: want <status> <code> <message>`},
		{"camel code", head + "-- error: c 409 NoCopies none left\nUPDATE t SET a = :id", `x.sql:4: error: c: code "NoCopies": want lower_snake_case`},
		{"dash code", head + "-- error: c 409 no-copies none left\nUPDATE t SET a = :id", `code "no-copies": want lower_snake_case`},
		{"double underscore", head + "-- error: c 409 no__copies none left\nUPDATE t SET a = :id", `want lower_snake_case`},
		{"no message", head + "-- error: c 409 no_copies\nUPDATE t SET a = :id", `x.sql:4: error: c: no message after the code no_copies`},
		{"no code", head + "-- error: c 409\nUPDATE t SET a = :id", `want lower_snake_case`},
		{"retryable table code", head + "-- error: c 409 deadlock try again\nUPDATE t SET a = :id", `x.sql:4: error: c: code "deadlock" is the error table's own, with status 409 and retryable`},
		{"table code, other status", head + "-- error: c 409 not_found gone\nUPDATE t SET a = :id", `code "not_found" is the error table's own, with status 404`},
		{"unknown param", head + "-- error: c 409 no_copies none left of :idd\nUPDATE t SET a = :id", `x.sql:4: error: parameter :idd is not declared`},
		{"mapped twice", head + "-- error: c 409 a x\n-- error: C 409 b y\nUPDATE t SET a = :id", `x.sql:5: error: constraint "C" is mapped twice (first at line 4)`},
		{"dotted name", head + "-- error: t.c 409 a x\nUPDATE t SET a = :id", "write a name with spaces, dots or quotes in backquotes"},
		{"open backquote", head + "-- error: `c 409 a x\nUPDATE t SET a = :id", "unterminated `constraint name`"},
		{"one code two statuses", head + "-- error: c 409 gone x\n-- rows: 1 else 404 gone y\nUPDATE t SET a = :id", `x.sql:5: code gone has status 404 here and 409 at line 4`},
		{"rows without else", head + "-- rows: 1 409 gone x\nUPDATE t SET a = :id", `x.sql:4: rows: want "-- rows: <n> else`},
		{"rows not a number", head + "-- rows: one else 409 gone x\nUPDATE t SET a = :id", `x.sql:4: rows: want`},
		{"rows > ", head + "-- rows: >1 else 409 gone x\nUPDATE t SET a = :id", `x.sql:4: rows: want`},
		{"rows unknown param", head + "-- rows: 1 else 409 gone no :idd\nUPDATE t SET a = :id", `x.sql:4: rows: parameter :idd is not declared`},
		{"rows not directly above", head + "-- rows: 1 else 409 gone x\n\nUPDATE t SET a = :id", `x.sql:4: a "-- rows:" line must be directly above its statement`},
		{"rows above a comment", head + "SELECT 1;\n-- rows: 1 else 409 gone x\n-- why\nUPDATE t SET a = :id", `x.sql:5: a "-- rows:" line must be directly above its statement`},
		{"rows inside a statement", head + "UPDATE t\n-- rows: 1 else 409 gone x\nSET a = :id", `x.sql:5: a "-- rows:" line must be directly above a statement, not inside one`},
		{"rows twice", head + "-- rows: 1 else 409 gone x\n-- rows: 1 else 409 gone x\nUPDATE t SET a = :id", `x.sql:5: a "-- rows:" line must be directly above a statement`},
		{"rows at the end", head + "UPDATE t SET a = :id;\n-- rows: 1 else 409 gone x\n", `x.sql:5: a "-- rows:" line with no statement after it`},
		{"rows and not-found", "-- name: x\n-- param: id int\n-- result: exec\n-- not-found: no :id\n-- rows: 1 else 409 gone x\nUPDATE t SET a = :id",
			`x.sql:5: the last statement has a "-- rows:" line and the file a "-- not-found:" line (line 4): keep one`},
		{"rows 2 on one", "-- name: x\n-- param: id int\n-- result: one\n-- rows: >=1 else 404 gone x\nSELECT :id", `x.sql:4: rows >=1: a "result: one" returns exactly one row`},
		{"rows on a write returning many", "-- name: x\n-- param: id int\n-- result: many\n-- rows: 1 else 404 gone x\nCALL p(:id)", `x.sql:4: rows: the last statement of a "result: many" must be a SELECT`},
		{"header after the rows line", "-- name: x\n-- result: exec\n-- rows: 1 else 409 gone x\n-- param: id int\nUPDATE t SET a = :id", `x.sql:4: header line "-- param:" after the SQL began`},
		{"error in the body", head + "UPDATE t SET a = :id;\n-- error: c 409 a x\nSELECT 1", `x.sql:5: header line "-- error:" after the SQL began`},
	}
	for _, tt := range tests {
		_, err := Parse("x.sql", []byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.err)
		}
	}
	// The table's own non-retryable codes may be used with their status.
	for _, l := range []string{"-- error: c 404 not_found no :id", "-- error: c 409 duplicate taken", "-- error: c 400 check_violation no"} {
		if _, err := Parse("x.sql", []byte(head+l+"\nUPDATE t SET a = :id")); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
}

func TestReturnsRows(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1":                             true,
		"  (SELECT 1) UNION (SELECT 2)":        true,
		"select id from t for update":          true,
		"WITH x AS (SELECT 1) SELECT * FROM x": true,
		"VALUES (1)":                           true,
		"SELECT 'into', `into`, \"into\" -- into\n FROM t /* into */": true,
		"SELECT a INTO @a FROM t":                                     false,
		"select a from t into outfile 'x'":                            false,
		"UPDATE t SET a = 1":                                          false,
		"INSERT INTO t SELECT * FROM u":                               false,
		"CALL p()":                                                    false,
	} {
		if got := returnsRows(Statement{SQL: q}); got != want {
			t.Errorf("returnsRows(%q) = %v, want %v", q, got, want)
		}
	}
}
