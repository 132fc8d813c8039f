package bank_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/txrunner"
)

// TestCoalescedTransfersKeepTheBankInvariant runs 64 clients of transfers
// among 8 hot accounts through an executor that coalesces them, and checks
// every reply against the rows: each ok reply names its own transfer row
// and the balances that row left, each refused transfer left no row, and
// money is neither made nor lost.
//
// With one group at a time (the default) groups cannot deadlock with each
// other; with four, they do on these hot rows, and run again or split.
func TestCoalescedTransfersKeepTheBankInvariant(t *testing.T) {
	for _, groups := range []int{1, 4} {
		t.Run(fmt.Sprint(groups, " groups"), func(t *testing.T) { testCoalescedTransfers(t, groups) })
	}
}

func testCoalescedTransfers(t *testing.T, groups int) {
	const (
		accounts = 8
		clients  = 64
		each     = 40
		start    = 20000 // cents per account
	)
	db, _ := dbtest.New(t, dbtest.Bank()...)
	for i := 1; i <= accounts; i++ {
		if _, err := db.Exec("INSERT INTO accounts (id, owner, balance) VALUES (?, ?, ?)", i, fmt.Sprint("owner", i), start/100); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := dbapi.NewRegistry(bank.Operations()...)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sizes := map[int]int{}
	var retries int
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	runner := txrunner.New(db, txrunner.Config{Logger: quiet, OnRetry: func(string) { mu.Lock(); retries++; mu.Unlock() }})
	exec := executor.New(runner, reg, executor.Config{Coalesce: executor.CoalesceConfig{
		MaxGroups: groups,
		OnGroup:   func(_ string, n int) { mu.Lock(); sizes[n]++; mu.Unlock() },
	}})

	// Every transfer has an amount of its own (in cents), so that its row
	// can be told apart from all others.
	type sent struct {
		from, to, cents int
		reply           executor.Reply
	}
	results := make([][]sent, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := c*each + i
				s := sent{from: 1 + n%accounts, to: 1 + (n/accounts+n)%accounts, cents: n + 1}
				if s.to == s.from {
					s.to = 1 + s.from%accounts
				}
				body := fmt.Appendf(nil, `{"from":%d,"to":%d,"amount":"%d.%02d"}`, s.from, s.to, s.cents/100, s.cents%100)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				s.reply = exec.Execute(ctx, executor.Request{Op: "accounts.transfer", Body: body})
				cancel()
				results[c] = append(results[c], s)
			}
		}()
	}
	wg.Wait()
	t.Logf("group sizes (size: groups) %v, %d retries", sizes, retries)
	grouped := false
	for n := range sizes {
		grouped = grouped || n > 1
	}
	if !grouped {
		t.Fatalf("no group held more than one request (sizes %v): the test did not test group commit", sizes)
	}

	type row struct {
		ID     int64  `db:"id"`
		From   int    `db:"from_id"`
		To     int    `db:"to_id"`
		Amount string `db:"amount"`
	}
	var rows []row
	if err := db.Select(&rows, "SELECT id, from_id, to_id, amount FROM transfers ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	byCents := map[int]row{}
	for _, r := range rows {
		var whole, frac int
		if _, err := fmt.Sscanf(r.Amount, "%d.%d", &whole, &frac); err != nil {
			t.Fatal(err)
		}
		c := whole*100 + frac
		if _, dup := byCents[c]; dup {
			t.Fatalf("two transfer rows of %s: a request applied twice", r.Amount)
		}
		byCents[c] = r
	}
	// Balances after each transfer, replayed in id order: a transfer's
	// row is written while it holds both accounts' locks, so the ids of
	// the transfers of one account follow the order they were applied in.
	balance := map[int]int{}
	for i := 1; i <= accounts; i++ {
		balance[i] = start
	}
	after := map[int64][2]int{}
	for _, r := range rows {
		var whole, frac int
		fmt.Sscanf(r.Amount, "%d.%d", &whole, &frac)
		balance[r.From] -= whole*100 + frac
		balance[r.To] += whole*100 + frac
		if balance[r.From] < 0 {
			t.Fatalf("transfer %d took account %d below zero", r.ID, r.From)
		}
		after[r.ID] = [2]int{balance[r.From], balance[r.To]}
	}
	ok, refused, deadlocked := 0, 0, 0
	for _, rs := range results {
		for _, s := range rs {
			r, found := byCents[s.cents]
			switch s.reply.Code {
			case "ok":
				ok++
				var res struct {
					TransferID  int64  `json:"transfer_id"`
					FromBalance string `json:"from_balance"`
					ToBalance   string `json:"to_balance"`
				}
				if err := json.Unmarshal(s.reply.Body, &res); err != nil {
					t.Fatal(err)
				}
				if !found || r.ID != res.TransferID || r.From != s.from || r.To != s.to {
					t.Fatalf("reply %s for %d→%d of %d cents does not match its row %+v", s.reply.Body, s.from, s.to, s.cents, r)
				}
				want := after[r.ID]
				if res.FromBalance != cents(want[0]) || res.ToBalance != cents(want[1]) {
					t.Fatalf("transfer %d replied balances %s, %s; its row left %s, %s", r.ID, res.FromBalance, res.ToBalance, cents(want[0]), cents(want[1]))
				}
			case "insufficient_funds", "deadlock":
				// A deadlock reply comes after the group's retries and
				// then the request's own ran out; it committed nothing.
				if s.reply.Code == "deadlock" {
					deadlocked++
				} else {
					refused++
				}
				if found {
					t.Fatalf("refused transfer of %d cents has row %+v", s.cents, r)
				}
			default:
				t.Fatalf("transfer %d→%d of %d cents: %s %s", s.from, s.to, s.cents, s.reply.Code, s.reply.Body)
			}
		}
	}
	if ok != len(rows) {
		t.Fatalf("%d ok replies, %d transfer rows", ok, len(rows))
	}
	var stored []struct {
		ID      int    `db:"id"`
		Balance string `db:"balance"`
	}
	if err := db.Select(&stored, "SELECT id, balance FROM accounts ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	for _, a := range stored {
		if a.Balance != cents(balance[a.ID]) {
			t.Errorf("account %d holds %s; its transfers leave %s", a.ID, a.Balance, cents(balance[a.ID]))
		}
	}
	t.Logf("%d transfers committed, %d refused for lack of funds, %d answered deadlock", ok, refused, deadlocked)
	if groups > 1 && retries == 0 {
		t.Errorf("%d groups at once on 8 hot accounts and not one deadlock: the test did not test a group that deadlocks", groups)
	}
}

func cents(c int) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }
