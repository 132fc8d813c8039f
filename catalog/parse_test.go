package catalog

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func parseFile(t *testing.T, path string) (*Definition, error) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(filepath.Base(path), src)
}

func TestParseGood(t *testing.T) {
	d, err := parseFile(t, "testdata/good/accounts_list.sql")
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "accounts.list" || d.Description != "List accounts by id, keyset paginated." ||
		d.Result != ResultMany || d.Isolation != sql.LevelReadCommitted || !d.ReadOnly || d.Coalesce ||
		d.Timeout != 2*time.Second || d.MaxRows != 500 {
		t.Errorf("header: got %+v", d)
	}
	if len(d.Params) != 2 {
		t.Fatalf("params: got %+v", d.Params)
	}
	after, limit := d.Params[0], d.Params[1]
	if after.Name != "after" || after.Kind != KindInt || !after.Nullable || after.Default != nil || after.Min != nil || after.Line != 4 {
		t.Errorf("after: got %+v", after)
	}
	if limit.Name != "limit" || limit.Kind != KindInt || limit.Nullable || string(limit.Default) != "100" ||
		limit.def != int64(100) || limit.Min.String() != "1" || limit.Max.String() != "1000" {
		t.Errorf("limit: got %+v", limit)
	}
	want := []Statement{{
		SQL:    "SELECT id, owner, balance, created_at FROM accounts WHERE id > COALESCE(?, 0) ORDER BY id LIMIT ?",
		Params: []string{"after", "limit"},
		Line:   11,
	}}
	if !reflect.DeepEqual(d.Statements, want) {
		t.Errorf("statements: got %#v", d.Statements)
	}

	d, err = parseFile(t, "testdata/good/everything.sql")
	if err != nil {
		t.Fatal(err)
	}
	if d.Description != "Every parameter type, several statements, and text that looks like parameters but is not." ||
		d.Result != ResultOne || d.NotFound != "nothing here" || !reflect.DeepEqual(d.JSON, []string{"doc"}) ||
		d.ReadOnly || !d.Coalesce || d.Isolation != sql.LevelDefault || d.Timeout != 0 {
		t.Errorf("header: got %+v", d)
	}
	var kinds []string
	for _, p := range d.Params {
		kinds = append(kinds, fmt.Sprintf("%s %s(%d,%d,%d) null=%v", p.Name, p.Kind, p.Size, p.Precision, p.Scale, p.Nullable))
	}
	wantKinds := []string{
		"i int(0,0,0) null=false", "d decimal(0,20,2) null=true", "s string(3,0,0) null=false",
		"b bool(0,0,0) null=false", "t time(0,0,0) null=true", "day date(0,0,0) null=true",
		"raw bytes(4,0,0) null=true", "doc json(0,0,0) null=true", "note string(0,0,0) null=false",
	}
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Errorf("params: got %q, want %q", kinds, wantKinds)
	}
	if p := d.param("i"); p.Min.String() != "-5" || p.Max.String() != "5" || p.Default != nil {
		t.Errorf("i: got %+v", p)
	}
	if p := d.param("d"); p.def != "0.00" {
		t.Errorf("d: got %+v", p)
	}
	if p := d.param("b"); p.def != false {
		t.Errorf("b: got %+v", p)
	}
	if p := d.param("note"); p.def != `a b "c"` {
		t.Errorf("note default: got %#v", p.def)
	}
	if len(d.Statements) != 2 || d.Statements[0].SQL != "SET @x = ?" || d.Statements[0].Line != 20 ||
		d.Statements[1].Line != 21 ||
		!reflect.DeepEqual(d.Statements[1].Params, []string{"d", "s", "b", "t", "day", "raw", "doc", "note", "i"}) {
		t.Errorf("statements: got %#v", d.Statements)
	}
	if !strings.Contains(d.Statements[1].SQL, `'text :no ; ''quoted'' \' :still_no' AS str, "dq :no" AS dq, `+"`ident:no`") {
		t.Errorf("quoted text changed: %s", d.Statements[1].SQL)
	}
}

func TestParseBad(t *testing.T) {
	tests := map[string]string{ // file: the error's start
		"no_name.sql":        `no_name.sql:1: missing header line "-- name: <operation name>"`,
		"no_result.sql":      `no_result.sql:1: missing header line "-- result: one|many|exec"`,
		"unknown_key.sql":    `unknown_key.sql:2: unknown header key "parm"`,
		"dup_key.sql":        `dup_key.sql:3: "result" is given twice (first at line 2)`,
		"bad_name.sql":       `bad_name.sql:1: operation name "accounts get"`,
		"bad_type.sql":       `bad_type.sql:3: param: type "integer"`,
		"bad_size.sql":       `bad_size.sql:3: param: type "decimal(20)"`,
		"bad_result.sql":     `bad_result.sql:2: result "all": want one, many or exec`,
		"bad_coalesce.sql":   `bad_coalesce.sql:3: coalesce "yes": want true or false`,
		"bad_timeout.sql":    `bad_timeout.sql:3: timeout "soon"`,
		"bad_default.sql":    `bad_default.sql:3: param: default "abc" does not fit: parameter "n": want an integer`,
		"bad_min.sql":        `bad_min.sql:3: param: min applies only to int and decimal parameters`,
		"dup_param.sql":      `dup_param.sql:4: parameter "id" is declared twice`,
		"undeclared.sql":     `undeclared.sql:6: parameter :owner is not declared`,
		"unused.sql":         `unused.sql:4: parameter "other" is declared but the SQL does not use it`,
		"positional.sql":     `positional.sql:4: positional '?' placeholders are not supported`,
		"unterminated.sql":   `unterminated.sql:4: unterminated 'string'`,
		"commit.sql":         `commit.sql:6: COMMIT statements are not allowed`,
		"late_header.sql":    `late_header.sql:4: header line "-- param:" after the SQL began`,
		"max_rows_one.sql":   `max_rows_one.sql:3: max-rows applies only to "result: many"`,
		"empty_body.sql":     `empty_body.sql:6: no SQL statement after the header`,
		"set_system.sql":     `set_system.sql:3: SET statements are not allowed`,
		"not_found_ref.sql":  `not_found_ref.sql:4: not-found: parameter :idd is not declared`,
		"not_found_many.sql": `not_found_many.sql:3: not-found applies only to "result: one" and "result: exec"`,
	}
	files, err := filepath.Glob("testdata/bad/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("testdata/bad has %d files; the table has %d", len(files), len(tests))
	}
	for _, f := range files {
		want, ok := tests[filepath.Base(f)]
		if !ok {
			t.Errorf("%s: not in the table", f)
			continue
		}
		d, err := parseFile(t, f)
		var pe *Error
		if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %+v, %v\nwant an *Error starting %s", f, d, err, want)
		}
	}
}

func TestParseParamLine(t *testing.T) {
	tests := []struct {
		line string
		err  string
	}{
		{`a string(10) nullable default="x y"`, ""},
		{`a string default="x\" y"`, ""},
		{`a int min=-3 max=-3 default=-3`, ""},
		{`a decimal(5,2) min=0.01 max=999.99 default="1.5"`, ""},
		{`a decimal(65,30)`, ""},
		{`a bytes(2) default="AAE="`, ""},
		{`a json default={"k":[1]}`, ""},
		{`a time default="2024-01-01T00:00:00Z"`, ""},
		{`a bool nullable default=null`, ""},
		{`a`, "want"},
		{`1a int`, "name"},
		{`a int(3)`, "takes no size"},
		{`a string(0)`, "positive"},
		{`a string(3,1)`, "one size"},
		{`a decimal(66,2)`, "precision"},
		{`a decimal(2,3)`, "precision"},
		{`a int nullable nullable`, "twice"},
		{`a int min=1 min=2`, "twice"},
		{`a int min=5 max=4`, "above max"},
		{`a int min=1.5`, "integer"},
		{`a int default=1 default=2`, "twice"},
		{`a int default=x`, "JSON value"},
		{`a int default=6 max=5`, "must be at most 5"},
		{`a string(1) default="ab"`, "at most 1 characters"},
		{`a int default=null`, "must not be null"},
		{`a string default="abc`, "unterminated"},
		{`a int required`, `"required"`},
		{`a bytes default="!!"`, "base64"},
	}
	for _, tt := range tests {
		_, err := parseParam(tt.line)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.line, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: got %v, want an error containing %q", tt.line, err, tt.err)
		}
	}
}

func TestLoad(t *testing.T) {
	ops, err := Load(os.DirFS("testdata/good"), Config{MaxRows: 7})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, op := range ops {
		names = append(names, op.Name)
		if err := op.Validate(); err != nil {
			t.Error(err)
		}
	}
	if want := []string{"accounts.list", "test.everything", "test.insert"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names: got %v, want %v", names, want)
	}
	if op := ops[1]; !op.Coalesce {
		t.Errorf("test.everything: Coalesce not set from its header")
	}
	if op := ops[0]; !op.ReadOnly || op.Coalesce || op.Isolation != sql.LevelReadCommitted || op.Timeout != 2*time.Second ||
		op.Description != "List accounts by id, keyset paginated." {
		t.Errorf("accounts.list: got %+v", op)
	}

	// The first bad file stops the load.
	_, err = Load(os.DirFS("testdata/bad"), Config{})
	if err == nil || !strings.HasPrefix(err.Error(), "bad_coalesce.sql:3: ") {
		t.Errorf("bad folder: got %v, want the first file's error", err)
	}

	dup := fstest.MapFS{
		"a.sql":        {Data: []byte("-- name: x\n-- result: one\nSELECT 1")},
		"b.sql":        {Data: []byte("-- name: x\n-- result: many\nSELECT 2")},
		"sub/c.sql":    {Data: []byte("not read")},
		"README.md":    {Data: []byte("not read")},
		"notes.sql.gz": {Data: []byte("not read")},
	}
	if _, err := Load(dup, Config{}); err == nil || err.Error() != `b.sql:1: operation "x" is also declared at a.sql:1` {
		t.Errorf("duplicate: got %v", err)
	}
	delete(dup, "b.sql")
	if ops, err := Load(dup, Config{}); err != nil || len(ops) != 1 {
		t.Errorf("one file: got %v, %v", ops, err)
	}
	if ops, err := Load(fstest.MapFS{}, Config{}); err != nil || len(ops) != 0 {
		t.Errorf("empty folder: got %v, %v", ops, err)
	}
}
