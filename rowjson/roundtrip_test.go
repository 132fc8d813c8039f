package rowjson_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/internal/rowtest"
	"github.com/dbapi-dev/dbapi/rowjson"
	"github.com/jmoiron/sqlx"
)

// The rows of the round-trip table, by id.
const (
	rowMin = iota + 1
	rowMax
	rowZero
	rowNull
	rowOther
	nRows = rowOther
)

var rowNames = [nRows + 1]string{"", "min", "max", "zero", "null", "other"}

// rtColumn is one column of the round-trip table: its definition, the
// values bound for each row (rowNull is always NULL), and how the JSON
// rowjson writes follows from the text the mariadb client prints (the
// documented transformation).
type rtColumn struct {
	name   string
	ddl    string
	json   bool           // named in Options.JSON
	values [nRows + 1]any // by row id; values[rowNull] is ignored
	// client is the transformation (a rowtest function) of the client's
	// raw output of a non-NULL value into the JSON rowjson writes.
	client func([]byte) string
	// float, if set, compares a non-NULL value as a number rather than
	// as JSON.
	float *floatTol
}

// floatTol compares numbers within a relative tolerance; with bits 32,
// numbers are also equal when both round to the same float32.
type floatTol struct {
	tol  float64
	bits int
}

func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

func rtColumns() []rtColumn {
	rnd := rand.New(rand.NewPCG(1, 2))
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	// Text of exactly n bytes, mostly 4-byte characters.
	utf8mb4 := func(n int) string {
		return strings.Repeat("😀", n/4) + strings.Repeat("é", n%4/2) + strings.Repeat("a", n%2)
	}
	nines := func(whole, frac int) string { return strings.Repeat("9", whole) + "." + strings.Repeat("9", frac) }
	vals := func(v ...any) [nRows + 1]any { return [nRows + 1]any{nil, v[0], v[1], v[2], nil, v[3]} }
	return []rtColumn{
		{name: "ti", ddl: "TINYINT", values: vals(-128, 127, 0, -1), client: rowtest.Int},
		{name: "tiu", ddl: "TINYINT UNSIGNED", values: vals(0, 255, 0, 1), client: rowtest.Int},
		{name: "si", ddl: "SMALLINT", values: vals(-32768, 32767, 0, 7), client: rowtest.Int},
		{name: "siu", ddl: "SMALLINT UNSIGNED", values: vals(0, 65535, 0, 7), client: rowtest.Int},
		{name: "mi", ddl: "MEDIUMINT", values: vals(-8388608, 8388607, 0, 7), client: rowtest.Int},
		{name: "miu", ddl: "MEDIUMINT UNSIGNED", values: vals(0, 16777215, 0, 7), client: rowtest.Int},
		{name: "i", ddl: "INT", values: vals(math.MinInt32, math.MaxInt32, 0, 7), client: rowtest.Int},
		{name: "iu", ddl: "INT UNSIGNED", values: vals(0, uint32(math.MaxUint32), 0, 7), client: rowtest.Int},
		{name: "bi", ddl: "BIGINT", values: vals(int64(math.MinInt64), int64(math.MaxInt64), 0, int64(rowtest.MaxExact+1)), client: rowtest.Int},
		{name: "bi53", ddl: "BIGINT", values: vals(int64(-rowtest.MaxExact), int64(rowtest.MaxExact), int64(-rowtest.MaxExact-1), int64(rowtest.MaxExact-1)), client: rowtest.Int},
		{name: "biu", ddl: "BIGINT UNSIGNED", values: vals(uint64(0), uint64(math.MaxUint64), uint64(0), uint64(rowtest.MaxExact)), client: rowtest.Int},
		{name: "y", ddl: "YEAR", values: vals(1901, 2155, 0, 2024), client: rowtest.Int},
		{name: "b1", ddl: "BIT(1)", values: vals(0, 1, 0, 1), client: rowtest.Bit},
		{name: "b64", ddl: "BIT(64)", values: vals(uint64(0), uint64(math.MaxUint64), uint64(0), uint64(rowtest.MaxExact+1)), client: rowtest.Bit},
		{name: "d65", ddl: "DECIMAL(65,30)", values: vals("-"+nines(35, 30), nines(35, 30), "0", "0.000000000000000000000000000001"), client: rowtest.Text},
		{name: "d20", ddl: "DECIMAL(20,2)", values: vals("-"+nines(18, 2), nines(18, 2), "0", "2.5"), client: rowtest.Text},
		{name: "d5", ddl: "DECIMAL(5,0)", values: vals("-99999", "99999", "0", "-0"), client: rowtest.Text},
		// The client prints FLOAT with 6 significant digits.
		{name: "f", ddl: "FLOAT", values: vals(-3.40282e38, 3.40282e38, 0.0, 1.1), client: rowtest.Float64, float: &floatTol{tol: 1e-6, bits: 32}},
		{name: "f_tiny", ddl: "FLOAT", values: vals(-1.17549e-38, 1.17549e-38, math.Copysign(0, -1), 1e-45), client: rowtest.Float64, float: &floatTol{tol: 1e-6, bits: 32}},
		{name: "dbl", ddl: "DOUBLE", values: vals(-math.MaxFloat64, math.MaxFloat64, 0.0, 0.1), client: rowtest.Float64, float: &floatTol{bits: 64}},
		{name: "dbl_tiny", ddl: "DOUBLE", values: vals(-math.SmallestNonzeroFloat64, 2.2250738585072014e-308, math.Copysign(0, -1), 1/3.0), client: rowtest.Float64, float: &floatTol{bits: 64}},
		{name: "da", ddl: "DATE", values: vals("1000-01-01", "9999-12-31", "0000-00-00", "2024-02-29"), client: rowtest.Date},
		{name: "dt", ddl: "DATETIME", values: vals("1000-01-01 00:00:00", "9999-12-31 23:59:59", "0000-00-00 00:00:00", "2024-02-29 12:34:56"), client: rowtest.DateTime},
		{name: "dt3", ddl: "DATETIME(3)", values: vals("1000-01-01 00:00:00.000", "9999-12-31 23:59:59.999", "0000-00-00 00:00:00.000", "2024-02-29 12:34:56.7"), client: rowtest.DateTime},
		{name: "dt6", ddl: "DATETIME(6)", values: vals("1000-01-01 00:00:00", "9999-12-31 23:59:59.999999", "0000-00-00 00:00:00",
			time.Date(2024, 2, 29, 12, 34, 56, 120000000, time.UTC)), client: rowtest.DateTime},
		{name: "ts", ddl: "TIMESTAMP NULL", values: vals("1970-01-01 00:00:01", "2038-01-19 03:14:07", "0000-00-00 00:00:00", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)), client: rowtest.DateTime},
		{name: "ts6", ddl: "TIMESTAMP(6) NULL", values: vals("1970-01-01 00:00:01.000000", "2038-01-19 03:14:07.999999", "0000-00-00 00:00:00", "2024-02-29 12:34:56.000001"), client: rowtest.DateTime},
		{name: "tm", ddl: "TIME", values: vals("-838:59:59", "838:59:59", "00:00:00", "-00:00:01"), client: rowtest.Text},
		{name: "tm6", ddl: "TIME(6)", values: vals("-838:59:59.999999", "838:59:59.999999", "00:00:00", "123:45:06.5"), client: rowtest.Text},
		{name: "ch", ddl: "CHAR(10)", values: vals("", strings.Repeat("😀", 10), "0", "a b"), client: rowtest.Text},
		{name: "vc", ddl: "VARCHAR(255)", values: vals("", strings.Repeat("👋🏽", 127)+"é", " ", "héllo \"quoted\" \\ <tag> & \t tab\nnewline 😀"), client: rowtest.Text},
		{name: "tt", ddl: "TINYTEXT", values: vals("", utf8mb4(255), "NULL", "\x01\x1f\u2028"), client: rowtest.Text},
		{name: "tx", ddl: "TEXT", values: vals("", utf8mb4(65535), "0", "ünïcödé"), client: rowtest.Text},
		{name: "mt", ddl: "MEDIUMTEXT", values: vals("", utf8mb4(1<<20+3), "0", "x"), client: rowtest.Text},
		{name: "lt", ddl: "LONGTEXT", values: vals("", utf8mb4(2<<20+1), "0", "x"), client: rowtest.Text},
		{name: "en", ddl: "ENUM('a','b','😀 c')", values: vals("a", "😀 c", "b", "b"), client: rowtest.Text},
		{name: "st", ddl: "SET('a','b','c','😀')", values: vals("", "a,b,c,😀", "", "c,a"), client: rowtest.Set},
		{name: "js", ddl: "JSON", json: true, values: vals("null", `{"big": 123456789012345678901234567890, "s": "é\u00e9😀", "deep": [[[[{"a": [1.50, -0, true, false, null]}]]]]}`, "0", " [1,\n 2] "), client: rowtest.JSON},
		{name: "bn", ddl: "BINARY(4)", values: vals([]byte{}, []byte{0xff, 0xff, 0xff, 0xff}, []byte{0, 0, 0, 0}, []byte("a\x00\n")), client: rowtest.Base64},
		{name: "vb", ddl: "VARBINARY(256)", values: vals([]byte{}, allBytes, []byte{0}, []byte("\t\n\\'\"")), client: rowtest.Base64},
		{name: "tb", ddl: "TINYBLOB", values: vals([]byte{}, randBytes(255), []byte{0}, []byte("x")), client: rowtest.Base64},
		{name: "bl", ddl: "BLOB", values: vals([]byte{}, randBytes(65535), []byte{0}, allBytes), client: rowtest.Base64},
		{name: "lb", ddl: "LONGBLOB", values: vals([]byte{}, randBytes(3<<20), []byte{0}, []byte("x")), client: rowtest.Base64},
	}
}

// TestRoundTrip stores edge values of every column type with bound
// parameters, reads them back through rowjson over both protocols, and
// compares each value with what the mariadb command-line client prints,
// transformed as the package documentation says.
func TestRoundTrip(t *testing.T) {
	db, cfg := dbtest.New(t)
	ctx := context.Background()
	cols := rtColumns()

	ddl := []string{"id INT NOT NULL PRIMARY KEY"}
	names := []string{"id"}
	var jsonCols []string
	for _, c := range cols {
		ddl = append(ddl, c.name+" "+c.ddl)
		names = append(names, c.name)
		if c.json {
			jsonCols = append(jsonCols, c.name)
		}
	}
	db.MustExecContext(ctx, "CREATE TABLE rt ("+strings.Join(ddl, ", ")+") DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
	insert := "INSERT INTO rt (" + strings.Join(names, ", ") + ") VALUES (?" + strings.Repeat(", ?", len(cols)) + ")"
	for id := rowMin; id <= nRows; id++ {
		args := []any{id}
		for _, c := range cols {
			args = append(args, c.values[id])
		}
		if _, err := db.ExecContext(ctx, insert, args...); err != nil {
			t.Fatalf("insert row %s: %v", rowNames[id], err)
		}
	}

	query := "SELECT * FROM rt ORDER BY id"
	text := readAll(t, db, query, false, jsonCols)
	binary := readAll(t, db, query, true, jsonCols)
	if !bytes.Equal(text, binary) {
		t.Errorf("the text and binary protocols give different JSON:\n%.2000s\n%.2000s", text, binary)
	}
	checkRowSchema(t, db, query, jsonCols, text)
	got := rowtest.SplitRows(t, text, names)
	if len(got) != nRows {
		t.Fatalf("got %d rows, want %d", len(got), nRows)
	}

	client := rowtest.NewClient(t, cfg)
	for _, c := range cols {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for id := rowMin; id <= nRows; id++ {
				raw, isNull := client.Value(t, fmt.Sprintf("SELECT ISNULL(%s), %s FROM rt WHERE id = %d", c.name, c.name, id))
				want := "null"
				if !isNull {
					want = c.client(raw)
				}
				if id == rowNull && !isNull {
					t.Errorf("row null: the client printed %.100q, not NULL", raw)
				}
				check(t, rowNames[id], c, want, got[id-1][c.name])
			}
		})
	}
}

// readAll runs query as a plain query (text protocol) or a prepared
// statement (binary protocol) and returns what rowjson.Rows writes.
func readAll(t *testing.T, db *sqlx.DB, query string, prepared bool, jsonCols []string) []byte {
	t.Helper()
	ctx := context.Background()
	var rows *sql.Rows
	var err error
	if prepared {
		st, perr := db.PrepareContext(ctx, query)
		if perr != nil {
			t.Fatal(perr)
		}
		defer st.Close()
		rows, err = st.QueryContext(ctx)
	} else {
		rows, err = db.QueryContext(ctx, query)
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := rowjson.Rows(rows, rowjson.Options{JSON: jsonCols})
	if err != nil {
		t.Fatalf("rowjson.Rows (prepared %v): %v", prepared, err)
	}
	if !json.Valid(out) {
		t.Fatalf("rowjson.Rows (prepared %v) wrote invalid JSON: %.500s", prepared, out)
	}
	return out
}

// check compares got, what rowjson wrote, with want, the JSON text the
// client's output transforms into: as decoded values (numbers as their
// text), or for a FLOAT or DOUBLE as numbers.
func check(t *testing.T, row string, c rtColumn, want string, got json.RawMessage) {
	t.Helper()
	if got == nil {
		t.Errorf("row %s: no value", row)
		return
	}
	v, err := decode(got)
	if err != nil {
		t.Errorf("row %s: %.100s: %v", row, got, err)
		return
	}
	if fw := c.float; fw != nil && want != "null" {
		w, err := strconv.ParseFloat(want, 64)
		if err != nil {
			t.Errorf("row %s: got %.100s, want %s", row, got, want)
			return
		}
		n, ok := v.(json.Number)
		if !ok {
			t.Errorf("row %s: got %.100s, want a number near %g", row, got, w)
			return
		}
		f, err := n.Float64()
		near := math.Abs(f-w) <= fw.tol*math.Abs(w) || (fw.bits == 32 && float32(f) == float32(w))
		if err != nil || !near || math.Signbit(f) != math.Signbit(w) {
			t.Errorf("row %s: got %s, want %g (relative tolerance %g)", row, n, w, fw.tol)
		}
		return
	}
	if w, err := decode([]byte(want)); err != nil || !reflect.DeepEqual(v, w) {
		t.Errorf("row %s: got %.200s, want %.200s", row, got, want)
	}
}

func TestRowsEmptyAndOrder(t *testing.T) {
	db, _ := dbtest.New(t)
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, "SELECT 1 AS z, 2 AS a FROM DUAL WHERE 1 = 0")
	if err != nil {
		t.Fatal(err)
	}
	got, err := rowjson.Rows(rows, rowjson.Options{})
	if err != nil || string(got) != "[]" {
		t.Errorf("no rows: got %s, %v; want []", got, err)
	}
	rows, err = db.QueryContext(ctx, "SELECT 3 AS z, 'x' AS a, NULL AS m, 1.50 AS d, CAST('{\"k\": 1}' AS CHAR) AS j")
	if err != nil {
		t.Fatal(err)
	}
	got, err = rowjson.Rows(rows, rowjson.Options{JSON: []string{"j"}})
	if want := `[{"z":3,"a":"x","m":null,"d":"1.50","j":{"k":1}}]`; err != nil || string(got) != want {
		t.Errorf("got %s, %v; want %s", got, err, want)
	}
}

func TestRowsMaxRows(t *testing.T) {
	db, _ := dbtest.New(t)
	ctx := context.Background()
	for _, tt := range []struct {
		n, max int
		ok     bool
	}{{5, 5, true}, {6, 5, false}, {0, 1, true}, {100, 0, true}} {
		rows, err := db.QueryContext(ctx, "SELECT seq FROM seq_1_to_1000 WHERE seq <= ?", tt.n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rowjson.Rows(rows, rowjson.Options{MaxRows: tt.max})
		if tt.ok {
			var arr []map[string]int
			if err != nil || json.Unmarshal(got, &arr) != nil || len(arr) != tt.n {
				t.Errorf("%d rows, max %d: got %s, %v", tt.n, tt.max, got, err)
			}
			continue
		}
		var de *dbapi.Error
		if !errors.As(err, &de) || de.Kind != dbapi.ETOOLARGE || de.Code != "result_too_large" || !strings.Contains(de.Message, "paginate") {
			t.Errorf("%d rows, max %d: got %s, %v; want a result_too_large error advising pagination", tt.n, tt.max, got, err)
		}
	}
	// The connection is usable after a result was cut short.
	var n int
	if err := db.GetContext(ctx, &n, "SELECT 1"); err != nil || n != 1 {
		t.Errorf("after a capped result: %v", err)
	}
}

func TestOne(t *testing.T) {
	db, _ := dbtest.New(t)
	ctx := context.Background()
	one := func(q string) (json.RawMessage, error) {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return rowjson.One(rows, rowjson.Options{})
	}
	if got, err := one("SELECT 1 AS a, 'b' AS b"); err != nil || string(got) != `{"a":1,"b":"b"}` {
		t.Errorf("one row: got %s, %v", got, err)
	}
	if got, err := one("SELECT 1 AS a FROM DUAL WHERE 1 = 0"); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("no row: got %s, %v; want sql.ErrNoRows", got, err)
	}
	if got, err := one("SELECT seq FROM seq_1_to_2"); !errors.Is(err, rowjson.ErrMultipleRows) {
		t.Errorf("two rows: got %s, %v; want ErrMultipleRows", got, err)
	}
}

func TestColumnErrors(t *testing.T) {
	db, _ := dbtest.New(t)
	ctx := context.Background()
	for _, tt := range []struct {
		query string
		json  []string
		want  string
	}{
		{"SELECT 1 AS a, 2 AS a", nil, `two columns are named "a"`},
		{"SELECT 1 AS a", []string{"b"}, `JSON column "b" is not in the result`},
		{"SELECT 1 AS a", []string{"a"}, `not text`},
		{"SELECT 'not json' AS a", []string{"a"}, `not a JSON document`},
	} {
		rows, err := db.QueryContext(ctx, tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rowjson.Rows(rows, rowjson.Options{JSON: tt.json})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %s, %v; want an error containing %q", tt.query, got, err, tt.want)
		}
	}
}

// A Cache shared by several results encodes each by its own columns: the
// same columns again, other names, other types, other scales, other JSON
// columns, and a bad result in between.
func TestCache(t *testing.T) {
	db, _ := dbtest.New(t)
	ctx := context.Background()
	var cache rowjson.Cache
	for _, tt := range []struct {
		query string
		json  []string
		want  string // "" for an error
	}{
		{"SELECT 1 AS a, 'x' AS b", nil, `[{"a":1,"b":"x"}]`},
		{"SELECT 2 AS a, 'y' AS b", nil, `[{"a":2,"b":"y"}]`},
		{"SELECT 2 AS b, 'y' AS a", nil, `[{"b":2,"a":"y"}]`},
		{"SELECT 'z' AS a, 3 AS b", nil, `[{"a":"z","b":3}]`},
		{"SELECT 1.5 AS a, 3 AS b", nil, `[{"a":"1.5","b":3}]`},
		{"SELECT 1.50 AS a, 3 AS b", nil, `[{"a":"1.50","b":3}]`},
		{"SELECT CAST('[1]' AS CHAR) AS a, 3 AS b", []string{"a"}, `[{"a":[1],"b":3}]`},
		{"SELECT CAST('[1]' AS CHAR) AS a, 3 AS b", nil, `[{"a":"[1]","b":3}]`},
		{"SELECT 1 AS a, 2 AS a", nil, ""},
		{"SELECT CAST('[1]' AS CHAR) AS a, 3 AS b", nil, `[{"a":"[1]","b":3}]`},
		{"SELECT 1 AS a", nil, `[{"a":1}]`},
	} {
		rows, err := db.QueryContext(ctx, tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rowjson.Rows(rows, rowjson.Options{JSON: tt.json, Cache: &cache})
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s: got %s, want an error", tt.query, got)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("%s (json %v): got %s, %v; want %s", tt.query, tt.json, got, err, tt.want)
		}
	}
}
