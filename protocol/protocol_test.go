package protocol_test

import (
	"bufio"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/nats-io/nats.go/micro"
)

// README.md's error table must list exactly the codes of the table, with
// the same status, kind and retryable flag.
func TestREADMEErrorTable(t *testing.T) {
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type row struct {
		status    int
		kind      string
		retryable bool
	}
	got := map[string]row{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "### Error table":
			in = true
			continue
		case !in:
			continue
		case strings.HasPrefix(line, "#"):
			in = false
			continue
		case !strings.HasPrefix(line, "| `"):
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 5 {
			t.Fatalf("README row %q: want code | status | kind | retryable | meaning", line)
		}
		code := strings.Trim(strings.TrimSpace(cells[0]), "`")
		status, err := strconv.Atoi(strings.TrimSpace(cells[1]))
		if err != nil {
			t.Fatalf("README row %q: status: %v", line, err)
		}
		if _, dup := got[code]; dup {
			t.Errorf("README lists %q twice", code)
		}
		got[code] = row{status, strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3]) == "yes"}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]row{}
	for _, c := range protocol.Codes() {
		want[c.Code] = row{c.Status, c.Kind, c.Retryable}
	}
	for code, w := range want {
		g, ok := got[code]
		switch {
		case !ok:
			t.Errorf("README's error table lacks %q (%+v)", code, w)
		case g != w:
			t.Errorf("README says %q is %+v; the table says %+v", code, g, w)
		}
	}
	for code := range got {
		if _, ok := want[code]; !ok {
			t.Errorf("README lists %q, which the table does not have", code)
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		kind, code string
		status     int
		retryable  bool
		wantCode   string
	}{
		{protocol.KindConflict, "deadlock", 409, true, "deadlock"},
		{protocol.KindConflict, "lock_wait_timeout", 409, true, "lock_wait_timeout"},
		{protocol.KindConflict, "duplicate", 409, false, "duplicate"},
		{protocol.KindConflict, "insufficient_funds", 409, false, "insufficient_funds"},
		{protocol.KindInvalid, "duplicate_param", 400, false, "duplicate_param"},
		{protocol.KindInvalid, "same_account", 400, false, "same_account"},
		{protocol.KindUnavailable, "idempotency_race", 503, true, "idempotency_race"},
		{protocol.KindUnavailable, "stopping", 503, true, "stopping"},
		{protocol.KindOverloaded, "overloaded", 503, true, "overloaded"},
		{protocol.KindTimeout, "timeout", 504, true, "timeout"},
		{protocol.KindTimeout, "", 504, true, "timeout"},
		{protocol.KindCommitUnknown, "commit_outcome_unknown", 500, false, "commit_outcome_unknown"},
		{protocol.KindNotFound, "not_found", 404, false, "not_found"},
		{protocol.KindTooLarge, "anything_big", 413, false, "anything_big"},
		{"no_such_kind", "odd", 500, false, "odd"},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.code, func(t *testing.T) {
			c := protocol.Lookup(tt.kind, tt.code)
			if c.Status != tt.status || c.Retryable != tt.retryable || c.Code != tt.wantCode {
				t.Errorf("Lookup = %+v, want status %d retryable %v code %s", c, tt.status, tt.retryable, tt.wantCode)
			}
		})
	}
}

// Every row is well formed: a kind of its own status, a meaning, and each
// kind listed as a code (the fallback of an operation's own codes).
func TestCodesTable(t *testing.T) {
	kindStatus := map[string]int{}
	for _, c := range protocol.Codes() {
		if c.Meaning == "" || c.Status < 400 || c.Status > 599 {
			t.Errorf("row %+v", c)
		}
		if s, ok := kindStatus[c.Kind]; ok && s != c.Status {
			t.Errorf("kind %s has statuses %d and %d", c.Kind, s, c.Status)
		}
		kindStatus[c.Kind] = c.Status
	}
	for kind := range kindStatus {
		if c := protocol.Lookup(kind, ""); c.Kind != kind || c.Code != kind {
			t.Errorf("kind %s has no row of its own", kind)
		}
	}
}

func TestHeaderNamesMatchMicro(t *testing.T) {
	if protocol.HeaderErrorCode != micro.ErrorCodeHeader || protocol.HeaderError != micro.ErrorHeader {
		t.Fatalf("error headers %q %q, micro uses %q %q", protocol.HeaderErrorCode, protocol.HeaderError, micro.ErrorCodeHeader, micro.ErrorHeader)
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		name string
		h    map[string][]string
		want []string
	}{
		{"absent", map[string][]string{"Other": {"x"}}, nil},
		{"canonical", map[string][]string{"Idempotency-Key": {"k"}}, []string{"k"}},
		{"lower case", map[string][]string{"idempotency-key": {"k"}}, []string{"k"}},
		{"upper case", map[string][]string{"IDEMPOTENCY-KEY": {"k"}}, []string{"k"}},
		{"two spellings", map[string][]string{"idempotency-key": {"b"}, "Idempotency-Key": {"a"}, "Other": {"x"}}, []string{"a", "b"}},
		{"repeated", map[string][]string{"Idempotency-Key": {"a", "a"}}, []string{"a", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := protocol.Values(tt.h, protocol.HeaderIdempotencyKey); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Values = %q, want %q", got, tt.want)
			}
		})
	}
}
