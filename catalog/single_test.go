package catalog

import "testing"

func TestSingleSelect(t *testing.T) {
	for _, c := range []struct {
		name, src string
		want      bool
	}{
		{"one select", "-- name: t.a\n-- result: one\n-- read-only: true\nSELECT 1 AS x", true},
		{"lower case, many rows", "-- name: t.a\n-- result: many\n-- read-only: true\nselect 1 AS x", true},
		{"not read-only", "-- name: t.a\n-- result: one\nSELECT 1 AS x", false},
		{"isolation", "-- name: t.a\n-- result: one\n-- read-only: true\n-- isolation: serializable\nSELECT 1 AS x", false},
		{"two statements", "-- name: t.a\n-- result: one\n-- read-only: true\nSELECT 1;\nSELECT 2 AS x", false},
		{"exec", "-- name: t.a\n-- result: exec\n-- read-only: true\nSELECT 1", false},
		{"for update", "-- name: t.a\n-- result: one\n-- read-only: true\nSELECT 1 AS x FROM DUAL FOR  UPDATE", false},
		{"lock in share mode", "-- name: t.a\n-- result: one\n-- read-only: true\nSELECT 1 AS x FROM DUAL LOCK IN SHARE MODE", false},
		{"into", "-- name: t.a\n-- result: one\n-- read-only: true\nSELECT 1 AS x INTO @x", false},
		{"not a select", "-- name: t.a\n-- result: many\n-- read-only: true\nSHOW TABLES", false},
		{"a word containing into", "-- name: t.a\n-- result: one\n-- read-only: true\nSELECT 1 AS intox", true},
	} {
		d, err := Parse("t.sql", []byte(c.src))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := d.singleSelect(); got != c.want {
			t.Errorf("%s: singleSelect %v, want %v", c.name, got, c.want)
		}
		if op := d.Operation(Config{}); (op.Statement != nil) != c.want {
			t.Errorf("%s: Statement set %v, want %v", c.name, op.Statement != nil, c.want)
		}
	}
}
