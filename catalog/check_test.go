package catalog_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/catalog"
)

// Check lists every statement the server refuses, as file:line: the
// server's reason, and accepts the good ones; nothing runs.
func TestCheck(t *testing.T) {
	e := newEnv(t)
	defs := make([]*catalog.Definition, 0, 4)
	for _, f := range []struct{ name, src string }{
		{"good.sql", "-- name: t.good\n-- param: id int\n-- result: one\nSELECT id, owner FROM accounts WHERE id = :id"},
		{"column.sql", "-- name: t.column\n-- param: id int\n-- result: one\n\nSELECT id, nosuch FROM accounts WHERE id = :id"},
		{"syntax.sql", "-- name: t.syntax\n-- result: exec\nUPDATE accounts SET balance = balance +;"},
		{"second.sql", "-- name: t.second\n-- param: id int\n-- result: exec\nDELETE FROM transfers WHERE id = :id;\n\nDELETE FROM nosuch WHERE id = :id;"},
		{"write.sql", "-- name: t.write\n-- result: exec\nINSERT INTO accounts (owner) VALUES ('never')"},
	} {
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
	want := []string{
		"column.sql:5: Unknown column 'nosuch' in ", // 'field list' on MySQL, 'SELECT' on MariaDB 10.11
		"syntax.sql:3: You have an error in your SQL syntax",
		"second.sql:6: Table '",
	}
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d: %v", len(problems), len(want), problems)
	}
	for i, p := range problems {
		if !strings.HasPrefix(p.Error(), want[i]) {
			t.Errorf("problem %d = %q, want it to start with %q", i, p, want[i])
		}
	}
	if !strings.Contains(problems[2].Error(), "nosuch' doesn't exist") {
		t.Errorf("problem 2 = %q, want the missing table named", problems[2])
	}
	var n int
	if err := e.db.Get(&n, "SELECT COUNT(*) FROM accounts"); err != nil || n != 0 {
		t.Errorf("the check wrote rows: %d accounts (%v)", n, err)
	}
}

// A one result that matches several rows is a 409 multiple_rows, and an
// exec with a not-found line that changes no row is a 404 that rolls back.
func TestForeseeableErrors(t *testing.T) {
	e := newEnv(t)
	ins := parse(t, "-- name: t.ins\n-- param: owner string\n-- result: exec\nINSERT INTO accounts (owner) VALUES (:owner)", catalog.Config{})
	for _, o := range []string{"a", "a", "b"} {
		if _, err := e.call(ins, `{"owner":"`+o+`"}`); err != nil {
			t.Fatal(err)
		}
	}
	byOwner := parse(t, "-- name: t.by_owner\n-- param: owner string\n-- result: one\nSELECT id FROM accounts WHERE owner = :owner", catalog.Config{})
	if _, err := e.call(byOwner, `{"owner":"b"}`); err != nil {
		t.Errorf("one row: %v", err)
	}
	_, err := e.call(byOwner, `{"owner":"a"}`)
	wantError(t, "two rows", err, dbapi.ECONFLICT, "multiple_rows")

	rename := parse(t, `-- name: t.rename
-- param: owner string
-- param: to string
-- result: exec
-- not-found: no account of :owner
INSERT INTO transfers (from_id, to_id, amount) SELECT id, id, 1 FROM accounts WHERE owner = 'b';
UPDATE accounts SET owner = :to WHERE owner = :owner`, catalog.Config{})
	if got, err := e.call(rename, `{"owner":"b","to":"c"}`); err != nil || got != `{"rows_affected":1,"last_insert_id":0}` {
		t.Errorf("rename b: %s, %v", got, err)
	}
	_, err = e.call(rename, `{"owner":"nobody","to":"c"}`)
	wantError(t, "rename nobody", err, dbapi.ENOTFOUND, "not_found")
	if de := dbapi.AsError(err); de.Message != "no account of nobody" {
		t.Errorf("message = %q, want %q", de.Message, "no account of nobody")
	}
	var n int
	if err := e.db.Get(&n, "SELECT COUNT(*) FROM transfers"); err != nil || n != 1 {
		t.Errorf("the not-found exec did not roll back: %d transfers (%v), want 1", n, err)
	}
	// Without the not-found line, no row changed is a plain result.
	plain := parse(t, "-- name: t.plain\n-- param: owner string\n-- result: exec\nDELETE FROM accounts WHERE owner = :owner", catalog.Config{})
	if got, err := e.call(plain, `{"owner":"nobody"}`); err != nil || got != `{"rows_affected":0,"last_insert_id":0}` {
		t.Errorf("plain exec: %s, %v", got, err)
	}
}
