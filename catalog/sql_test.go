package catalog

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitSQL(t *testing.T) {
	type stmt struct {
		sql    string
		params []string
		line   int
	}
	tests := []struct {
		name string
		src  string
		want []stmt
		err  string // substring of the error; "" means none
	}{
		{"one", "SELECT :a", []stmt{{"SELECT ?", []string{"a"}, 1}}, ""},
		{"repeated param", "SELECT :a + :a, :b_2", []stmt{{"SELECT ? + ?, ?", []string{"a", "a", "b_2"}, 1}}, ""},
		{"adjacent", "SELECT(:a),:b;", []stmt{{"SELECT(?),?", []string{"a", "b"}, 1}}, ""},
		{"split", "UPDATE t SET a=:a;\nSELECT :b ;\n", []stmt{{"UPDATE t SET a=?", []string{"a"}, 1}, {"SELECT ?", []string{"b"}, 2}}, ""},
		{"empty statements dropped", ";;  ;\n-- c\n;SELECT 1;;", []stmt{{"SELECT 1", nil, 3}}, ""},
		{"single quotes", `SELECT ':a;b', 'it''s :x', 'back\'slash :y;'`, []stmt{{`SELECT ':a;b', 'it''s :x', 'back\'slash :y;'`, nil, 1}}, ""},
		{"escaped backslash ends string", `SELECT 'a\\', :p`, []stmt{{`SELECT 'a\\', ?`, []string{"p"}, 1}}, ""},
		{"double quotes", `SELECT ":a;" , "x"":b"`, []stmt{{`SELECT ":a;" , "x"":b"`, nil, 1}}, ""},
		{"backticks", "SELECT `:a;b`, `x``:y` FROM t", []stmt{{"SELECT `:a;b`, `x``:y` FROM t", nil, 1}}, ""},
		{"backslash in backticks is literal", "SELECT `a\\`, :p", []stmt{{"SELECT `a\\`, ?", []string{"p"}, 1}}, ""},
		{"dash comment", "SELECT 1 -- :a; x\n, :b", []stmt{{"SELECT 1 -- :a; x\n, ?", []string{"b"}, 1}}, ""},
		{"double dash without space is minus", "SELECT 1--:a", []stmt{{"SELECT 1--?", []string{"a"}, 1}}, ""},
		{"hash comment", "SELECT 1 # :a; x\n, :b", []stmt{{"SELECT 1 # :a; x\n, ?", []string{"b"}, 1}}, ""},
		{"block comment", "SELECT /* :a;\n */ :b", []stmt{{"SELECT /* :a;\n */ ?", []string{"b"}, 1}}, ""},
		{"executable comment is code", "/*!50000 SELECT 1 */", []stmt{{"/*!50000 SELECT 1 */", nil, 1}}, ""},
		{"double colon", "SELECT a::b, ::c, :d", []stmt{{"SELECT a::b, ::c, ?", []string{"d"}, 1}}, ""},
		{"assignment", "SELECT @v := :a", []stmt{{"SELECT @v := ?", []string{"a"}, 1}}, ""},
		{"colon then digit or space", "SELECT '1' :1, lbl: 2", []stmt{{"SELECT '1' :1, lbl: 2", nil, 1}}, ""},
		{"line numbers", "\n\n  -- c\n  SELECT\n:a;\n\n'x\ny';\nSELECT 2", []stmt{{"-- c\n  SELECT\n?", []string{"a"}, 4}, {"'x\ny'", nil, 7}, {"SELECT 2", nil, 9}}, ""},
		{"set user variable", "SET @a = :a", []stmt{{"SET @a = ?", []string{"a"}, 1}}, ""},
		{"rollback to savepoint", "SAVEPOINT s; ROLLBACK TO s", []stmt{{"SAVEPOINT s", nil, 1}, {"ROLLBACK TO s", nil, 1}}, ""},
		{"unicode", "SELECT '😀;:a', :é", []stmt{{"SELECT '😀;:a', :é", nil, 1}}, ""},
		{"positional", "SELECT 1,\n ?", nil, "line 2: positional"},
		{"unterminated single", "SELECT 1;\nSELECT 'a", nil, "line 2: unterminated 'string'"},
		{"unterminated double", `SELECT "a\"`, nil, `line 1: unterminated "string"`},
		{"unterminated backtick", "SELECT `a", nil, "unterminated `identifier`"},
		{"unterminated comment", "SELECT 1 /* :a", nil, "line 1: unterminated /* comment"},
		{"commit", "UPDATE t SET a = 1;\n\ncommit", nil, "line 3: COMMIT statements are not allowed"},
		{"begin after comment", "/* x */ BEGIN", nil, "BEGIN statements are not allowed"},
		{"start transaction", "START TRANSACTION", nil, "START statements"},
		{"rollback", "ROLLBACK", nil, "ROLLBACK statements"},
		{"set system variable", "SET SESSION sql_mode = ''", nil, "SET statements"},
		{"set @@", "SET @@autocommit = 0", nil, "SET statements"},
		{"ddl", "(CREATE TABLE x (a INT))", nil, "CREATE statements"},
		{"lock", "LOCK TABLES t WRITE", nil, "LOCK statements"},
		{"use", "use other", nil, "USE statements"},
		{"header after SQL", "SELECT 1\n-- param: a int\n", nil, `line 2: header line "-- param:" after the SQL began`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := splitSQL(tt.src, 1)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var g []stmt
			for _, s := range got {
				g = append(g, stmt{s.SQL, s.Params, s.Line})
			}
			if !reflect.DeepEqual(g, tt.want) {
				t.Errorf("got  %#v\nwant %#v", g, tt.want)
			}
		})
	}
}
