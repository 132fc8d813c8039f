package service

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi/internal/rowtest"
	"github.com/dbapi-dev/dbapi/txrunner"
)

// The rows of the types table, by id. Every column gets its edge values in
// the same rows; the null row binds null to every column.
const (
	rowMin = iota + 1
	rowMax
	rowZero
	rowNull
	rowOther
	nRows = rowOther
)

var rowNames = [nRows + 1]string{"", "min", "max", "zero", "null", "other"}

// edge is one value of a column: the JSON text of the argument sql.exec
// binds (integers bind as int64 or uint64, other numbers as their exact
// decimal text, strings as strings, objects as JSON text), and the JSON
// text the API must return for the stored value.
type edge struct{ arg, want string }

// typeCase is one column of the types table.
type typeCase struct {
	col  string
	ddl  string
	bind string // the INSERT's expression around the placeholder; "" is "?"
	json bool   // a JSON document: named in "json" and "-- json:"
	vals [nRows + 1]edge
	// over, if set, is a value just past the column's range or length:
	// sql.exec must refuse it with a 400 of code overCode.
	over, overCode string
	// client is the documented transformation (a rowtest function) of
	// what the mariadb client prints for a non-NULL value into the JSON
	// the API returns.
	client func([]byte) string
}

// sameEdge is a value the API returns as it was sent; strEdge a string.
func sameEdge(v string) edge { return edge{v, v} }
func strEdge(s string) edge  { return edge{rowtest.Quote(s), rowtest.Quote(s)} }

// digitsEdge is an integer beyond 2^53, returned as a string of its digits.
func digitsEdge(v string) edge { return edge{v, `"` + v + `"`} }

// edges lays out the four non-NULL edge values by row id.
func edges(min, max, zero, other edge) [nRows + 1]edge {
	return [nRows + 1]edge{rowMin: min, rowMax: max, rowZero: zero, rowOther: other}
}

// typeCases are the columns of the types table and their edge values.
func typeCases() []typeCase {
	rnd := rand.New(rand.NewPCG(3, 4))
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
	// b64 binds bytes as base64 (for FROM_BASE64(?)); the API returns the
	// same base64. Binary columns pad to their length, hence the edges with
	// a different want.
	b64 := func(b []byte) edge { s := rowtest.Quote(base64.StdEncoding.EncodeToString(b)); return edge{s, s} }
	// Text of exactly n bytes, mostly 4-byte characters.
	utf8mb4 := func(n int) string {
		return strings.Repeat("😀", n/4) + strings.Repeat("é", n%4/2) + strings.Repeat("a", n%2)
	}
	nines := func(whole, frac int) string { return strings.Repeat("9", whole) + "." + strings.Repeat("9", frac) }
	tinyBlob := randBytes(255)
	blob := randBytes(65535)
	const vcLen = 15000 // characters: at 4 bytes each, most of the 65,535 bytes a row may have

	return []typeCase{
		{col: "ti", ddl: "TINYINT", vals: edges(sameEdge("-128"), sameEdge("127"), sameEdge("0"), sameEdge("-1")),
			over: "128", overCode: "bad_value", client: rowtest.Int},
		{col: "tiu", ddl: "TINYINT UNSIGNED", vals: edges(sameEdge("0"), sameEdge("255"), sameEdge("0"), sameEdge("1")),
			over: "-1", overCode: "bad_value", client: rowtest.Int},
		// JSON booleans bind as 1 and 0.
		{col: "bo", ddl: "BOOLEAN", vals: edges(edge{"false", "0"}, edge{"true", "1"}, sameEdge("0"), sameEdge("-1")), client: rowtest.Int},
		{col: "si", ddl: "SMALLINT", vals: edges(sameEdge("-32768"), sameEdge("32767"), sameEdge("0"), sameEdge("7")), client: rowtest.Int},
		{col: "mi", ddl: "MEDIUMINT UNSIGNED", vals: edges(sameEdge("0"), sameEdge("16777215"), sameEdge("0"), sameEdge("7")), client: rowtest.Int},
		{col: "i", ddl: "INT", vals: edges(sameEdge("-2147483648"), sameEdge("2147483647"), sameEdge("0"), sameEdge("7")),
			over: "2147483648", overCode: "bad_value", client: rowtest.Int},
		{col: "iu", ddl: "INT UNSIGNED", vals: edges(sameEdge("0"), sameEdge("4294967295"), sameEdge("0"), sameEdge("7")), client: rowtest.Int},
		// Beyond 2^53 a BIGINT is a string, so no client loses precision.
		{col: "bi", ddl: "BIGINT", vals: edges(digitsEdge("-9223372036854775808"), digitsEdge("9223372036854775807"), sameEdge("0"), digitsEdge("9007199254740993")),
			over: "9223372036854775808", overCode: "bad_value", client: rowtest.Int},
		// The edges of the exact range: ±2^53 are numbers, -2^53-1 is not.
		{col: "bi53", ddl: "BIGINT", vals: edges(sameEdge("-9007199254740992"), sameEdge("9007199254740992"), sameEdge("0"), digitsEdge("-9007199254740993")), client: rowtest.Int},
		// 2^64-1 binds as a uint64; 2^64 as decimal text, out of range.
		{col: "biu", ddl: "BIGINT UNSIGNED", vals: edges(sameEdge("0"), digitsEdge("18446744073709551615"), sameEdge("0"), digitsEdge("9007199254740993")),
			over: "18446744073709551616", overCode: "bad_value", client: rowtest.Int},
		// YEAR 0 is stored as 0000.
		{col: "y", ddl: "YEAR", vals: edges(sameEdge("1901"), sameEdge("2155"), sameEdge("0"), sameEdge("2024")),
			over: "2156", overCode: "bad_value", client: rowtest.Int},
		{col: "b1", ddl: "BIT(1)", vals: edges(sameEdge("0"), sameEdge("1"), sameEdge("0"), sameEdge("1")), client: rowtest.Bit},
		{col: "b64", ddl: "BIT(64)", vals: edges(sameEdge("0"), digitsEdge("18446744073709551615"), sameEdge("0"), sameEdge("9007199254740992")), client: rowtest.Bit},
		// DECIMAL keeps exactly its digits: bound as strings, or as JSON
		// numbers, whose exact text is bound (more digits than a float64
		// has); the server rounds extra fraction digits.
		{col: "d65", ddl: "DECIMAL(65,30)", vals: edges(strEdge("-"+nines(35, 30)), strEdge(nines(35, 30)),
			edge{`"0"`, rowtest.Quote("0." + strings.Repeat("0", 30))}, strEdge("0.000000000000000000000000000001")),
			over: rowtest.Quote("1" + strings.Repeat("0", 35)), overCode: "bad_value", client: rowtest.Text},
		{col: "d20", ddl: "DECIMAL(20,2)", vals: edges(strEdge("-"+nines(18, 2)), edge{"999999999999999999.99", rowtest.Quote(nines(18, 2))},
			edge{"0", `"0.00"`}, edge{"12345678901234567.8", `"12345678901234567.80"`}), client: rowtest.Text},
		{col: "d5", ddl: "DECIMAL(5,0)", vals: edges(edge{"-99999", `"-99999"`}, edge{"99999", `"99999"`}, edge{`"-0"`, `"0"`}, edge{"2.5", `"3"`}),
			over: "100000", overCode: "bad_value", client: rowtest.Text},
		// FLOAT is read as 32 bits: 1.1 stays 1.1.
		{col: "f", ddl: "FLOAT", vals: edges(edge{"-3.40282e38", "-3.40282e+38"}, edge{"3.40282e38", "3.40282e+38"}, sameEdge("0"), sameEdge("1.1")), client: rowtest.Float32},
		// MariaDB stores -0 as 0.
		{col: "f_tiny", ddl: "FLOAT", vals: edges(sameEdge("1e-45"), sameEdge("1.17549e-38"), edge{"-0.0", "0"}, edge{"-1.5E3", "-1500"}), client: rowtest.Float32},
		{col: "dbl", ddl: "DOUBLE", vals: edges(edge{"-1.7976931348623157e308", "-1.7976931348623157e+308"}, edge{"1.7976931348623157e308", "1.7976931348623157e+308"},
			sameEdge("0"), sameEdge("0.1")), client: rowtest.Float64},
		{col: "dbl_tiny", ddl: "DOUBLE", vals: edges(sameEdge("5e-324"), sameEdge("2.2250738585072014e-308"), edge{"-0.0", "0"}, sameEdge("0.3333333333333333")), client: rowtest.Float64},
		// The zero date is null.
		{col: "da", ddl: "DATE", vals: edges(strEdge("1000-01-01"), strEdge("9999-12-31"), edge{`"0000-00-00"`, "null"}, strEdge("2024-02-29")), client: rowtest.Date},
		// DATETIME(n) and TIMESTAMP(n): RFC 3339 in UTC with the column's n
		// fractional digits, whatever the bound text had.
		{col: "dt", ddl: "DATETIME", vals: edges(edge{`"1000-01-01 00:00:00"`, `"1000-01-01T00:00:00Z"`}, edge{`"9999-12-31 23:59:59"`, `"9999-12-31T23:59:59Z"`},
			edge{`"0000-00-00 00:00:00"`, "null"}, edge{`"2024-02-29T12:34:56"`, `"2024-02-29T12:34:56Z"`}), client: rowtest.DateTime},
		{col: "dt3", ddl: "DATETIME(3)", vals: edges(edge{`"1000-01-01 00:00:00"`, `"1000-01-01T00:00:00.000Z"`}, edge{`"9999-12-31 23:59:59.999"`, `"9999-12-31T23:59:59.999Z"`},
			edge{`"0000-00-00 00:00:00.000"`, "null"}, edge{`"2024-02-29 12:34:56.7"`, `"2024-02-29T12:34:56.700Z"`}), client: rowtest.DateTime},
		{col: "dt6", ddl: "DATETIME(6)", vals: edges(edge{`"1000-01-01 00:00:00"`, `"1000-01-01T00:00:00.000000Z"`}, edge{`"9999-12-31 23:59:59.999999"`, `"9999-12-31T23:59:59.999999Z"`},
			edge{`"0000-00-00 00:00:00"`, "null"}, edge{`"2024-02-29 12:34:56.000001"`, `"2024-02-29T12:34:56.000001Z"`}), client: rowtest.DateTime},
		{col: "ts", ddl: "TIMESTAMP NULL", vals: edges(edge{`"1970-01-01 00:00:01"`, `"1970-01-01T00:00:01Z"`}, edge{`"2038-01-19 03:14:07"`, `"2038-01-19T03:14:07Z"`},
			edge{`"0000-00-00 00:00:00"`, "null"}, edge{`"2000-01-01 00:00:00"`, `"2000-01-01T00:00:00Z"`}), client: rowtest.DateTime},
		{col: "ts6", ddl: "TIMESTAMP(6) NULL", vals: edges(edge{`"1970-01-01 00:00:01"`, `"1970-01-01T00:00:01.000000Z"`}, edge{`"2038-01-19 03:14:07.999999"`, `"2038-01-19T03:14:07.999999Z"`},
			edge{`"0000-00-00 00:00:00"`, "null"}, edge{`"2024-02-29 12:34:56.5"`, `"2024-02-29T12:34:56.500000Z"`}), client: rowtest.DateTime},
		// TIME as the server writes it: negative, and beyond 24 hours.
		{col: "tm", ddl: "TIME", vals: edges(strEdge("-838:59:59"), strEdge("838:59:59"), strEdge("00:00:00"), strEdge("-00:00:01")), client: rowtest.Text},
		{col: "tm6", ddl: "TIME(6)", vals: edges(strEdge("-838:59:59.999999"), strEdge("838:59:59.999999"), edge{`"0:0:0"`, `"00:00:00.000000"`},
			edge{`"123:45:06.5"`, `"123:45:06.500000"`}), client: rowtest.Text},
		// CHAR drops its trailing spaces on reading.
		{col: "ch", ddl: "CHAR(10)", vals: edges(strEdge(""), strEdge(strings.Repeat("😀", 10)), strEdge("0"), edge{`"a b  "`, `"a b"`}), client: rowtest.Text},
		// The longest values: every character 4 bytes.
		{col: "vc", ddl: fmt.Sprintf("VARCHAR(%d)", vcLen), vals: edges(strEdge(""), strEdge(strings.Repeat("😀", vcLen)), strEdge(" "),
			strEdge("héllo \"quoted\" \\ <tag> & \t tab\nnewline \x01 \u2028 😀")),
			over: rowtest.Quote(strings.Repeat("😀", vcLen+1)), overCode: "too_long", client: rowtest.Text},
		// Characters are code points: 👋🏽 is two.
		{col: "vc255", ddl: "VARCHAR(255)", vals: edges(strEdge(""), strEdge(strings.Repeat("👋🏽", 127)+"é"), strEdge("0"), strEdge("NULL")),
			over: rowtest.Quote(strings.Repeat("é", 256)), overCode: "too_long", client: rowtest.Text},
		// (Past TEXT's 65,535 bytes, MariaDB reports a cut 4-byte
		// character as error 1366, bad_value, so the over value is ASCII.)
		{col: "tx", ddl: "TEXT", vals: edges(strEdge(""), strEdge(utf8mb4(65535)), strEdge("0"), strEdge("ünïcödé")),
			over: rowtest.Quote(strings.Repeat("a", 65536)), overCode: "too_long", client: rowtest.Text},
		// An integer binds to an ENUM as the member's index.
		{col: "en", ddl: "ENUM('a','b','😀 c')", vals: edges(strEdge("a"), strEdge("😀 c"), edge{"2", `"b"`}, strEdge("b")),
			over: `"d"`, overCode: "bad_value", client: rowtest.Text},
		// SET: an array of members, in the column's order.
		{col: "st", ddl: "SET('a','b','c','😀')", vals: edges(edge{`""`, "[]"}, edge{`"😀,c,b,a"`, `["a","b","c","😀"]`}, edge{"0", "[]"},
			edge{`"c,a"`, `["a","c"]`}), over: `"a,d"`, overCode: "bad_value", client: rowtest.Set},
		// A JSON document, embedded as stored, compacted. Bound as a string
		// of JSON text (kept as written), or as an object (re-encoded with
		// its keys sorted and its numbers' exact text). A JSON null document
		// reads as null, like SQL NULL (documented).
		{col: "js", ddl: "JSON", json: true, vals: edges(edge{`"[]"`, "[]"},
			edge{`{"s":"é\u00e9😀","deep":[[[[{"a":[1.50,-0,1e400,true,false,null]}]]]],"big":123456789012345678901234567890}`,
				`{"big":123456789012345678901234567890,"deep":[[[[{"a":[1.50,-0,1e400,true,false,null]}]]]],"s":"éé😀"}`},
			edge{`"null"`, "null"}, edge{`" [1,\n 2, \"x\\u00e9\"] "`, `[1,2,"x\u00e9"]`}), client: rowtest.JSON},
		// Binary columns are base64; bound through FROM_BASE64(?) or UNHEX(?).
		// BINARY(n) pads with zero bytes.
		{col: "bn", ddl: "BINARY(4)", bind: "FROM_BASE64(?)", vals: edges(edge{`""`, `"AAAAAA=="`}, b64([]byte{0xff, 0xff, 0xff, 0xff}),
			edge{`"AA=="`, `"AAAAAA=="`}, edge{rowtest.Quote(base64.StdEncoding.EncodeToString([]byte("a\x00\n"))), `"YQAKAA=="`}), client: rowtest.Base64},
		{col: "vb", ddl: "VARBINARY(256)", bind: "FROM_BASE64(?)", vals: edges(b64(nil), b64(allBytes), b64([]byte{0}), b64([]byte("\t\n\\'\"\r"))),
			over: rowtest.Quote(base64.StdEncoding.EncodeToString(make([]byte, 257))), overCode: "too_long", client: rowtest.Base64},
		{col: "tb", ddl: "TINYBLOB", bind: "UNHEX(?)", vals: edges(edge{`""`, `""`}, edge{rowtest.Quote(hex.EncodeToString(tinyBlob)), rowtest.Quote(base64.StdEncoding.EncodeToString(tinyBlob))},
			edge{`"00"`, `"AA=="`}, edge{`"0A"`, `"Cg=="`}), client: rowtest.Base64},
		{col: "bl", ddl: "BLOB", bind: "FROM_BASE64(?)", vals: edges(b64(nil), b64(blob), b64([]byte{0}), b64(allBytes)),
			over: rowtest.Quote(base64.StdEncoding.EncodeToString(make([]byte, 65536))), overCode: "too_long", client: rowtest.Base64},
	}
}

// typesOperation is a declared operation that reads the types table; %s
// is its JSON columns.
const typesOperation = `-- name: test.types
-- description: The rows of the types table from id "from" on.
-- param: from int min=1
-- result: many
-- read-only: true
-- json: %s
SELECT * FROM types WHERE id >= :from ORDER BY id
`

// TestTypesRoundTrip stores edge values of every column type through
// sql.exec with bound arguments, reads them back through sql.query and a
// declared operation, and compares each value with the JSON the README
// documents for it and with what the mariadb client prints for it.
//
// It runs twice: with the driver's client-side interpolation (the
// service's default), where arguments are spliced into the SQL text and
// results come in the text protocol, and with interpolateParams=false,
// where statements with arguments are server-side prepared statements and
// results come in the binary protocol.
func TestTypesRoundTrip(t *testing.T) {
	t.Run("interpolated", func(t *testing.T) { testTypesRoundTrip(t, false) })
	t.Run("prepared", func(t *testing.T) { testTypesRoundTrip(t, true) })
}

func testTypesRoundTrip(t *testing.T, prepared bool) {
	cases := typeCases()
	var jsonCols []string
	for _, c := range cases {
		if c.json {
			jsonCols = append(jsonCols, c.col)
		}
	}
	dir := t.TempDir()
	writeOp(t, dir, "types.sql", fmt.Sprintf(typesOperation, strings.Join(jsonCols, ", ")))
	e := newEnv(t)
	cfg := e.config()
	cfg.AllowRawSQL, cfg.OperationsDir = true, dir
	if prepared {
		sep := "?"
		if strings.Contains(cfg.MySQLDSN, "?") {
			sep = "&"
		}
		cfg.MySQLDSN += sep + "interpolateParams=false"
	}
	if dc, err := txrunner.ParseDSN(cfg.MySQLDSN); err != nil || dc.InterpolateParams == prepared {
		t.Fatalf("the service's DSN %s: InterpolateParams is not %v (%v)", cfg.MySQLDSN, !prepared, err)
	}
	ddl := []string{"id INT NOT NULL PRIMARY KEY"}
	names := []string{"id"}
	binds := []string{"?"}
	for _, c := range cases {
		ddl = append(ddl, c.col+" "+c.ddl)
		names = append(names, c.col)
		binds = append(binds, c.placeholder())
	}
	// The table comes from a migration of the test's own
	// (DBAPI_MIGRATIONS_DIR), so the declared operation checks out at start.
	create := "CREATE TABLE types (" + strings.Join(ddl, ", ") + ") DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
	migrations := t.TempDir()
	writeOp(t, migrations, "00001_types.sql", "-- +goose Up\n"+create+";\n")
	cfg.MigrationsDir = migrations
	e.start(cfg)

	sqlExec := func(sql string, args []string) reply {
		return e.call("sql.exec", map[string]any{"sql": sql, "args": json.RawMessage("[" + strings.Join(args, ",") + "]")})
	}

	insert := "INSERT INTO types (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(binds, ", ") + ")"
	for id := rowMin; id <= nRows; id++ {
		args := []string{strconv.Itoa(id)}
		for _, c := range cases {
			arg := c.vals[id].arg
			if id == rowNull {
				arg = "null"
			}
			args = append(args, arg)
		}
		if r := sqlExec(insert, args); r.err != nil || r.status != 0 || string(r.body) != `{"rows_affected":1,"last_insert_id":0}` {
			t.Fatalf("sql.exec insert row %s: %v", rowNames[id], r)
		}
	}

	// One past the edge is refused, so the edges are the column's limits.
	for _, c := range cases {
		if c.over == "" {
			continue
		}
		r := sqlExec("INSERT INTO types (id, "+c.col+") VALUES (?, "+c.placeholder()+")", []string{"100", c.over})
		if r.err != nil || r.status != 400 || r.code != c.overCode {
			t.Errorf("%s: sql.exec of a value past the limit: %v; want 400 %s", c.col, r, c.overCode)
		}
	}

	// The same rows, read with and without a bound argument (when
	// prepared, the binary and the text protocol) and by the declared
	// operation, are the same bytes.
	reads := []struct {
		name, op string
		params   map[string]any
	}{
		{"sql.query", "sql.query", map[string]any{"sql": "SELECT * FROM types ORDER BY id", "json": jsonCols}},
		{"sql.query with an argument", "sql.query", map[string]any{"sql": "SELECT * FROM types WHERE id >= ? ORDER BY id", "args": []int{1}, "json": jsonCols}},
		{"the declared operation", "test.types", map[string]any{"from": 1}},
	}
	var queried []byte
	for i, rd := range reads {
		r := e.call(rd.op, rd.params)
		if r.err != nil || r.status != 0 {
			t.Fatalf("%s: %v", rd.name, r)
		}
		if i == 0 {
			queried = r.body
		} else if !bytes.Equal(r.body, queried) {
			t.Errorf("%s returns different bytes than %s: %s", rd.name, reads[0].name, firstDiff(r.body, queried))
		}
	}
	// The service's connections prepare statements in the prepared mode
	// only (this query is one when they do).
	r := e.call("sql.query", map[string]any{"sql": "SELECT VARIABLE_VALUE > 0 AS prepared FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = ?", "args": []string{"COM_STMT_PREPARE"}})
	want := `[{"prepared":0}]`
	if prepared {
		want = `[{"prepared":1}]`
	}
	if r.err != nil || r.status != 0 || string(r.body) != want {
		t.Errorf("the session's prepared statements: %v; want %s", r, want)
	}

	got := rowtest.SplitRows(t, queried, names)
	if len(got) != nRows {
		t.Fatalf("sql.query returned %d rows, want %d", len(got), nRows)
	}

	// The API returns what the README documents for each value.
	for _, c := range cases {
		for id := rowMin; id <= nRows; id++ {
			want := c.vals[id].want
			if id == rowNull {
				want = "null"
			}
			if g := got[id-1][c.col]; string(g) != want {
				t.Errorf("%s (%s), row %s: got %.200s, want %.200s", c.col, c.ddl, rowNames[id], g, want)
			}
		}
	}

	// And the same as what the mariadb client prints, transformed as
	// documented.
	t.Run("mariadb client", func(t *testing.T) {
		cl := rowtest.NewClient(t, e.db)
		for _, c := range cases {
			t.Run(c.col, func(t *testing.T) {
				t.Parallel()
				for id := rowMin; id <= nRows; id++ {
					raw, isNull := cl.Value(t, fmt.Sprintf("SELECT ISNULL(%s), %s FROM types WHERE id = %d", c.col, c.col, id))
					want := "null"
					if !isNull {
						want = c.client(raw)
					}
					if id == rowNull && !isNull {
						t.Errorf("row null: the client printed %.100q, not NULL", raw)
					}
					if g := got[id-1][c.col]; string(g) != want {
						t.Errorf("row %s: the API returned %.200s; the client printed %.200q, which is %.200s", rowNames[id], g, raw, want)
					}
				}
			})
		}
	})
}

// firstDiff describes where a and b first differ.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(i-60, 0)
	return fmt.Sprintf("at byte %d:\n\t...%.120s\n\t...%.120s", i, a[from:], b[from:])
}

// placeholder is the column's expression for a bound value in an INSERT.
func (c typeCase) placeholder() string {
	if c.bind == "" {
		return "?"
	}
	return c.bind
}
