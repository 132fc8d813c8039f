//go:build linux

package faults

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/jmoiron/sqlx"
)

// twoAccounts returns a bank database with accounts 1 and 2, each holding
// the opening balance.
func twoAccounts(t *testing.T) *sqlx.DB {
	db, _ := dbtest.New(t, dbtest.Bank()...)
	for range 2 {
		db.MustExec("INSERT INTO accounts (owner, balance) VALUES ('x', ?)", opening)
	}
	return db
}

// handRow is a transfers row written by hand: its id and cents.
type handRow struct{ id, cents int64 }

// writeTransfers writes rows as transfers from account 1 to 2 and moves
// their sum between the two balances, as if the transfers had run.
func writeTransfers(db *sqlx.DB, rows []handRow) {
	var total int64
	for _, r := range rows {
		db.MustExec("INSERT INTO transfers (id, from_id, to_id, amount) VALUES (?, 1, 2, ?)", r.id, fmt.Sprintf("%d.%02d", r.cents/100, r.cents%100))
		total += r.cents
	}
	moved := fmt.Sprintf("%d.%02d", total/100, total%100)
	db.MustExec("UPDATE accounts SET balance = balance - ? WHERE id = 1", moved)
	db.MustExec("UPDATE accounts SET balance = balance + ? WHERE id = 2", moved)
}

// The checker must see every kind of broken promise: it is what makes the
// fault suite able to fail. This runs it on a database (on the test
// server, not the suite's own) written by hand with one of each.
func TestCheckFindsBrokenPromises(t *testing.T) {
	db := twoAccounts(t)
	// Each row is (id, cents); every transfer goes from account 1 to 2.
	rows := []handRow{
		{101, 1},           // request 1: acknowledged as 101, applied once: fine
		{103, 3},           // request 3: answered 503, yet applied
		{104, 4}, {105, 4}, // request 4: unknown outcome, applied twice
		{106, 5}, // no request has 5 cents
		{107, 8}, // request 8: acknowledged as 999, but the row is 107
		{108, 9}, // request 9: no reply, applied
	}
	writeTransfers(db, rows)

	l := &load{accounts: []uint64{1, 2}, reqs: []*request{
		{cents: 1, from: 1, to: 2, out: gotSuccess, id: 101},
		{cents: 2, from: 1, to: 2, out: gotSuccess, id: 102}, // lost
		{cents: 3, from: 1, to: 2, out: gotError, status: 503, code: "unavailable"},
		{cents: 4, from: 1, to: 2, out: gotUnknown, status: 500, code: "commit_outcome_unknown"},
		{cents: 6, from: 1, to: 2, out: gotNoResponder},
		{cents: 7, from: 1, to: 2, out: gotUnknown, status: 500, code: "internal"},
		{cents: 8, from: 1, to: 2, out: gotSuccess, id: 999},
		{cents: 9, from: 1, to: 2, out: gotNoReply, transErr: "nats: timeout"},
	}}
	res := &result{}
	if err := l.check(db, res, opening); err != nil {
		t.Fatal(err)
	}
	want := result{sent: 8, acked: 3, lost: 2, dup: 2, appliedOnError: 1, unknown: 3, unknownApplied: 2, noResponders: 1}
	got := result{sent: res.sent, acked: res.acked, lost: res.lost, dup: res.dup, appliedOnError: res.appliedOnError,
		unknown: res.unknown, unknownApplied: res.unknownApplied, noResponders: res.noResponders}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts:\n got %+v\nwant %+v", got, want)
	}
	problems := strings.Join(res.problems, "\n")
	for _, s := range []string{"request 2 was acknowledged", "request 3 got 503 unavailable but was applied",
		"request 4 (500 commit_outcome_unknown) is applied 2 times", "matches no request",
		"request 7 got 500 internal", "request 8 was acknowledged as transfer 999"} {
		if !strings.Contains(problems, s) {
			t.Errorf("no problem reported containing %q; problems:\n%s", s, problems)
		}
	}
	if strings.Contains(problems, "balance") {
		t.Errorf("the ledger reconciles, yet a problem names a balance:\n%s", problems)
	}

	// A half-applied transfer: the ledger check must see it.
	db.MustExec("UPDATE accounts SET balance = balance + 0.01 WHERE id = 2")
	res = &result{}
	if err := l.check(db, res, opening); err != nil {
		t.Fatal(err)
	}
	problems = strings.Join(res.problems, "\n")
	if !strings.Contains(problems, "account 2: balance") || !strings.Contains(problems, "sum of balances") {
		t.Errorf("a balance off by 0.01 went unreported:\n%s", problems)
	}
}

// The durable check resolves each request the stream acknowledged by its
// stored outcome before the usual check: it must see an acknowledged key
// without an outcome, a success outcome applied twice, an error outcome
// that was applied, and an outcome no request accounts for; a publish the
// stream did not acknowledge is counted as unknown, not as a problem.
func TestResolveDurableFindsBrokenPromises(t *testing.T) {
	db := twoAccounts(t)
	rows := []handRow{
		{101, 1},           // request 1: outcome names 101: fine
		{103, 3}, {104, 3}, // request 3: applied twice
		{105, 4}, // request 4: its outcome is an error, yet applied
		{106, 5}, // request 5: publish not acknowledged, applied: counted
	}
	writeTransfers(db, rows)
	for _, o := range []struct {
		key    string
		status int
		code   string
		body   string
	}{
		{msgID(1), 200, "", `{"transfer_id":101}`},
		{msgID(3), 200, "", `{"transfer_id":103}`},
		{msgID(4), 409, "conflict", `{"error":{"code":"conflict"}}`},
		{msgID(5), 200, "", `{"transfer_id":106}`},
		{msgID(99), 200, "", `{"transfer_id":199}`},
	} {
		db.MustExec("INSERT INTO dbapi_durable_outcomes (outcome_key, op, status, code, body, created_at) VALUES (?, 'accounts.transfer', ?, NULLIF(?, ''), ?, UTC_TIMESTAMP(6))",
			o.key, o.status, o.code, o.body)
	}
	l := &load{accounts: []uint64{1, 2}, reqs: []*request{
		{cents: 1, from: 1, to: 2, out: gotStreamAck},
		{cents: 2, from: 1, to: 2, out: gotStreamAck}, // no outcome, no row
		{cents: 3, from: 1, to: 2, out: gotStreamAck},
		{cents: 4, from: 1, to: 2, out: gotStreamAck},
		{cents: 5, from: 1, to: 2, out: gotNoReply, transErr: "context deadline exceeded"},
	}}
	res := &result{}
	if err := resolveDurable(db, l, res); err != nil {
		t.Fatal(err)
	}
	if err := l.check(db, res, opening); err != nil {
		t.Fatal(err)
	}
	want := result{sent: 5, acked: 3, lost: 1, dup: 1, appliedOnError: 1, unknown: 1, unknownApplied: 1}
	got := result{sent: res.sent, acked: res.acked, lost: res.lost, dup: res.dup, appliedOnError: res.appliedOnError,
		unknown: res.unknown, unknownApplied: res.unknownApplied}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts:\n got %+v\nwant %+v", got, want)
	}
	problems := strings.Join(res.problems, "\n")
	for _, s := range []string{"request 2 was acknowledged by the stream but key t2 has no outcome",
		"request 3 (success (transfer 103)) is applied 2 times", "request 4 got 409 conflict but was applied",
		"outcome t99 matches no request"} {
		if !strings.Contains(problems, s) {
			t.Errorf("no problem reported containing %q; problems:\n%s", s, problems)
		}
	}
	if strings.Contains(problems, "request 5") || strings.Contains(problems, "balance") {
		t.Errorf("a counted unknown outcome or a reconciled ledger was reported:\n%s", problems)
	}
}
