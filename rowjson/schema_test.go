package rowjson_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/internal/schematest"
	"github.com/dbapi-dev/dbapi/rowjson"
	"github.com/jmoiron/sqlx"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// rowSchema returns the row schema of query's result.
func rowSchema(t *testing.T, db *sqlx.DB, query string, jsonCols []string) []byte {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	s, err := rowjson.RowSchema(types, jsonCols)
	if err != nil {
		t.Fatalf("RowSchema: %v", err)
	}
	return s
}

// checkRowSchema checks every row of result (what Rows wrote for query)
// against the schema RowSchema gives for the query's columns.
func checkRowSchema(t *testing.T, db *sqlx.DB, query string, jsonCols []string, result []byte) {
	t.Helper()
	schema := schematest.Compile(t, rowSchema(t, db, query, jsonCols))
	var rows []json.RawMessage
	if err := json.Unmarshal(result, &rows); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(r))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(inst); err != nil {
			t.Errorf("row %d does not fit the row schema: %v\n%.300s", i, err, r)
		}
	}
}

// The schema says what the columns hold: NOT NULL columns are never null
// (but dates are, for zero dates), expressions get the server's types, and
// values of another type are refused.
func TestRowSchema(t *testing.T) {
	db, _ := dbtest.New(t)
	db.MustExec(`CREATE TABLE books (
		id BIGINT UNSIGNED NOT NULL PRIMARY KEY, title VARCHAR(100) NOT NULL, note TEXT NULL,
		copies INT NOT NULL, price DECIMAL(10,2) NOT NULL, added DATETIME(3) NOT NULL, doc JSON NULL,
		tags SET('a','b') NOT NULL, cover BLOB NULL)`)
	db.MustExec(`INSERT INTO books VALUES (1, 'Dune', NULL, 3, '9.50', '2024-01-02 03:04:05.678', '{"a":1}', 'a,b', NULL)`)
	query := "SELECT id, title, note, copies, price, added, doc, tags, cover, copies * 2 AS twice, LENGTH(title) AS n FROM books"
	raw := rowSchema(t, db, query, []string{"doc"})
	schema := schematest.Compile(t, raw)
	var s struct {
		Properties map[string]map[string]any
		Required   []string
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if want := "id title note copies price added doc tags cover twice n"; strings.Join(s.Required, " ") != want {
		t.Errorf("required %v, want %s", s.Required, want)
	}
	if !bytes.Contains(raw, []byte(`"properties":{"id":`)) || bytes.Index(raw, []byte(`"n":`)) < bytes.Index(raw, []byte(`"twice":`)) {
		t.Errorf("properties are not in the result's order: %s", raw)
	}
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rowjson.One(rows, rowjson.Options{JSON: []string{"doc"}})
	if err != nil {
		t.Fatal(err)
	}
	valid := func(body string) error {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return schema.Validate(inst)
	}
	if err := valid(string(got)); err != nil {
		t.Fatalf("the row itself does not fit: %v\n%s", err, got)
	}
	var row map[string]any
	if err := json.Unmarshal(got, &row); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		col string
		val any
		ok  bool
	}{
		{"id", nil, false}, {"id", "18446744073709551615", true}, {"id", -1, false}, {"id", "-1", false},
		{"title", nil, false}, {"title", 7, false},
		{"note", nil, true}, {"note", "x", true},
		{"copies", nil, false}, {"copies", 1.5, false}, {"copies", 2147483648, false}, {"copies", "3", false},
		{"price", 9.5, false}, {"price", "9.5x", false}, {"price", "-12.50", true},
		{"added", nil, true}, {"added", "2024-01-02", false},
		{"doc", nil, true}, {"doc", []any{1, "x"}, true},
		{"tags", []any{}, true}, {"tags", "a,b", false}, {"tags", nil, false},
		{"cover", "AAEC", true}, {"cover", "not base64!", false},
		{"twice", nil, false}, {"twice", "9007199254740993", true}, {"twice", 9007199254740993, false},
	} {
		r := map[string]any{}
		for k, v := range row {
			r[k] = v
		}
		r[tt.col] = tt.val
		body, _ := json.Marshal(r)
		if err := valid(string(body)); (err == nil) != tt.ok {
			t.Errorf("%s = %v: schema says %v, want ok %v", tt.col, tt.val, err, tt.ok)
		}
	}
	body, _ := json.Marshal(map[string]any{"id": 1})
	if valid(string(body)) == nil {
		t.Error("a row without most columns fits")
	}
}
