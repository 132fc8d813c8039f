//go:build linux

package faults

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi/internal/dbtest"
)

// The checker must see every kind of broken promise: it is what makes the
// fault suite able to fail. This runs it on a database (on the test
// server, not the suite's own) written by hand with one of each.
func TestCheckFindsBrokenPromises(t *testing.T) {
	db, _ := dbtest.New(t, dbtest.Bank()...)
	for range 2 {
		db.MustExec("INSERT INTO accounts (owner, balance) VALUES ('x', ?)", opening)
	}
	// Each row is (id, cents); every transfer goes from account 1 to 2.
	rows := []struct{ id, cents int64 }{
		{101, 1},           // request 1: acknowledged as 101, applied once: fine
		{103, 3},           // request 3: answered 503, yet applied
		{104, 4}, {105, 4}, // request 4: unknown outcome, applied twice
		{106, 5}, // no request has 5 cents
		{107, 8}, // request 8: acknowledged as 999, but the row is 107
		{108, 9}, // request 9: no reply, applied
	}
	var total int64
	for _, r := range rows {
		db.MustExec("INSERT INTO transfers (id, from_id, to_id, amount) VALUES (?, 1, 2, ?)", r.id, fmt.Sprintf("%d.%02d", r.cents/100, r.cents%100))
		total += r.cents
	}
	moved := fmt.Sprintf("%d.%02d", total/100, total%100)
	db.MustExec("UPDATE accounts SET balance = balance - ? WHERE id = 1", moved)
	db.MustExec("UPDATE accounts SET balance = balance + ? WHERE id = 2", moved)

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
