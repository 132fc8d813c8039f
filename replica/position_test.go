package replica

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi"
)

func TestTokenRoundTrip(t *testing.T) {
	tests := []struct {
		flavour    Flavour
		text, want string // want: the normal form
	}{
		{MariaDB, "0-1-42", "0-1-42"},
		{MariaDB, "0-1-42,1-2-7", "0-1-42,1-2-7"},
		{MariaDB, "4294967295-4294967295-18446744073709551615", "4294967295-4294967295-18446744073709551615"},
		{MySQL, "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5", "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"},
		// gtid_executed breaks its lines after commas.
		{MySQL, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18,\n2174b383-5441-11e8-b90a-c80aa9429562:1-3",
			"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18,2174b383-5441-11e8-b90a-c80aa9429562:1-3"},
		{MySQL, "3e11fa47-71ca-11e1-9e33-c80aa9429562:tag_1:1-5", "3e11fa47-71ca-11e1-9e33-c80aa9429562:tag_1:1-5"},
	}
	for _, tt := range tests {
		p, err := newPosition(tt.flavour, tt.text)
		if err != nil {
			t.Fatalf("%q: %v", tt.text, err)
		}
		tok := p.Token()
		if strings.Contains(tok, tt.want) || strings.ContainsAny(tok, " ,:\n") {
			t.Errorf("token %q shows the position or holds separators", tok)
		}
		back, err := ParsePosition(tok)
		if err != nil {
			t.Fatalf("ParsePosition(%q): %v", tok, err)
		}
		if back != p || back.GTID() != tt.want || back.Flavour() != tt.flavour || back.String() != tok {
			t.Errorf("%q: round trip %+v, want %q of %s", tt.text, back, tt.want, tt.flavour)
		}
	}
	if (Position{}).Token() != "" || !(Position{}).IsZero() {
		t.Error("the zero Position has a token")
	}
}

func TestParsePositionRefuses(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"plain GTID", "0-1-42"},
		{"unknown prefix", "x1." + enc("0-1-42")},
		{"unknown version", "m2." + enc("0-1-42")},
		{"not base64", "m1.***"},
		{"padded base64", "m1." + base64.URLEncoding.EncodeToString([]byte("0-1-4"))},
		{"empty position", "m1."},
		{"not a GTID", "m1." + enc("0-1")},
		{"SQL", "m1." + enc("0-1-1' OR 1=1")},
		{"domain over 32 bits", "m1." + enc("4294967296-1-1")},
		{"seq over 64 bits", "m1." + enc("0-1-18446744073709551616")},
		{"trailing comma", "m1." + enc("0-1-1,")},
		{"MySQL text as MariaDB", "m1." + enc("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5")},
		{"MariaDB text as MySQL", "y1." + enc("0-1-42")},
		{"MySQL without interval", "y1." + enc("3e11fa47-71ca-11e1-9e33-c80aa9429562")},
		{"MySQL bad uuid", "y1." + enc("3e11fa47-71ca-11e1-9e33:1-5")},
		{"too long", "m1." + strings.Repeat("A", maxToken)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePosition(tt.token)
			var e *dbapi.Error
			if !errors.As(err, &e) || e.Kind != dbapi.EINVALID || e.Code != "bad_position" || !p.IsZero() {
				t.Fatalf("ParsePosition(%q) = %+v, %v; want a bad_position error", tt.token, p, err)
			}
			if strings.Contains(e.Message, "SQL") && strings.Contains(e.Message, "1=1") {
				t.Errorf("the message repeats the token: %s", e.Message)
			}
		})
	}
}

func TestCoversAndMerge(t *testing.T) {
	pos := func(s string) Position {
		p, err := newPosition(MariaDB, s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		known, p string
		want     bool
	}{
		{"0-1-10", "0-1-10", true},
		{"0-1-10", "0-1-9", true},
		{"0-1-10", "0-1-11", false},
		{"0-2-10", "0-1-9", true}, // only domain and seq_no count
		{"0-1-10", "1-1-1", false},
		{"0-1-10,1-1-5", "1-1-5", true},
		{"0-1-10,1-1-5", "0-1-3,1-1-6", false},
		{"", "0-1-1", false},
		{"0-1-1", "", true},
	}
	for _, tt := range tests {
		if got := covers(pos(tt.known), pos(tt.p)); got != tt.want {
			t.Errorf("covers(%q, %q) = %v", tt.known, tt.p, got)
		}
	}
	my, _ := newPosition(MySQL, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5")
	if covers(my, my) {
		t.Error("covers compares MySQL sets; it should leave them to the server")
	}
	merged := mergeMaria(pos("0-1-10,2-1-3"), pos("1-2-4,0-2-12"))
	if merged.GTID() != "0-2-12,1-2-4,2-1-3" {
		t.Errorf("merge = %q", merged.GTID())
	}
	if mergeMaria(Position{}, pos("0-1-1")).GTID() != "0-1-1" {
		t.Error("merge with the zero Position")
	}
}

func TestOpenRefusesABadDSNWithoutQuotingIt(t *testing.T) {
	for _, dsn := range []string{
		"user:s3cret@tcp(127.0.0.1:1)/db?timeout=soon",
		"user:s3cret@tcp(127.0.0.1:1)db",
	} {
		s, err := Open(context.Background(), nil, Config{DSNs: []string{"root@tcp(127.0.0.1:1)/db", dsn}})
		if err == nil || s != nil {
			t.Fatalf("Open(%q) = %v, %v", dsn, s, err)
		}
		if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "replica DSN 2 of 2") {
			t.Errorf("error %q: want the DSN's number and no password", err)
		}
	}
	if s, err := Open(context.Background(), nil, Config{DSNs: SplitDSNs("  ")}); s != nil || err != nil {
		t.Errorf("no DSNs: %v, %v; want a nil Set", s, err)
	}
	var none *Set
	if r, route := none.Pick(context.Background(), Position{}); r != nil || route != RouteNoReplica || none.Count(RouteNoReplica) != 0 ||
		none.Close() != nil || none.States() != nil || none.Summary() != "replicas: none" {
		t.Error("a nil Set is not no replicas")
	}
}

func TestSplitDSNs(t *testing.T) {
	got := SplitDSNs(" a@tcp(h1:3306)/db \n\tb:p@tcp(h2:3306)/db ")
	if len(got) != 2 || got[0] != "a@tcp(h1:3306)/db" || got[1] != "b:p@tcp(h2:3306)/db" {
		t.Errorf("SplitDSNs = %q", got)
	}
}

func TestRouteNames(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Routes() {
		if seen[r.String()] || strings.HasPrefix(r.String(), "route") {
			t.Errorf("route %d: name %q", r, r)
		}
		seen[r.String()] = true
	}
	if len(seen) != int(numRoutes) {
		t.Errorf("Routes lists %d of %d", len(seen), numRoutes)
	}
}
