//go:build linux

package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

// outcome is what a client learned about one request.
type outcome int

const (
	gotSuccess     outcome = iota
	gotError               // 4xx, 503, 504: the request must have had no effect
	gotUnknown             // commit_outcome_unknown or another 5xx: resolved against the database
	gotNoResponder         // NATS said nobody was subscribed: never delivered, no effect
	gotNoReply             // no reply in time (or the connection failed): resolved against the database
	gotStreamAck           // a durable request the stream acknowledged; its outcome is read before the check
)

// request is one accounts.transfer and what came of it. Its amount in
// cents is unique in the run, so its row in transfers identifies it.
type request struct {
	cents    int64
	from, to uint64
	sent     time.Time
	done     time.Time
	out      outcome
	status   int
	code     string
	id       int64 // transfer_id of a success reply
	probe    bool  // sent by the recovery probe
	transErr string
}

// load runs clients that each send one transfer after another.
type load struct {
	nc       *nats.Conn
	subject  string
	accounts []uint64
	wait     time.Duration // how long a client waits for a reply
	pause    time.Duration // between a client's requests
	// js, when set, makes every request durable: published to
	// <prefix>.durable.accounts.transfer, waiting for the stream's ack.
	js jetstream.JetStream
	// republish: a durable publish that fails, or gets no ack within 2 s,
	// is published again with the same Nats-Msg-Id until the stream acks
	// it or wait passes (what a client does while a stream has no leader,
	// or the ack was lost with a server).
	republish bool

	began time.Time // when runLoad started the clients

	seq  atomic.Int64
	mu   sync.Mutex
	reqs []*request
	stop chan struct{}
	wg   sync.WaitGroup
}

// send sends one transfer with a fresh unique amount and records it.
func (l *load) send(wait time.Duration, probe bool) *request {
	n := l.seq.Add(1)
	i := rand.IntN(len(l.accounts))
	j := (i + 1 + rand.IntN(len(l.accounts)-1)) % len(l.accounts)
	r := &request{cents: n, from: l.accounts[i], to: l.accounts[j], probe: probe}
	body, _ := json.Marshal(map[string]any{"from": r.from, "to": r.to, "amount": fmt.Sprintf("%d.%02d", n/100, n%100)})
	r.sent = time.Now() // before it is shared: measure reads it while the load runs
	l.mu.Lock()
	l.reqs = append(l.reqs, r)
	l.mu.Unlock()
	if l.js != nil {
		attempt := wait
		if l.republish {
			attempt = min(wait, 2*time.Second)
		}
		err := publishDurable(l.js, l.subject, r.cents, body, attempt)
		for l.republish && err != nil && time.Since(r.sent) < wait-100*time.Millisecond {
			time.Sleep(50 * time.Millisecond)
			err = publishDurable(l.js, l.subject, r.cents, body, min(attempt, wait-time.Since(r.sent)))
		}
		done := time.Now()
		l.mu.Lock()
		defer l.mu.Unlock()
		r.done, r.out = done, gotStreamAck
		if err != nil {
			r.out, r.transErr = gotNoReply, err.Error()
		}
		return r
	}
	resp, err := l.nc.RequestMsg(&nats.Msg{Subject: l.subject, Data: body}, wait)
	done := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	r.done = done
	r.settle(resp, err)
	return r
}

// settle records what the reply to a request-reply transfer (or the
// error instead of one) says about it. The caller holds the load's lock.
func (r *request) settle(resp *nats.Msg, err error) {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		r.out = gotNoResponder
	case err != nil:
		r.out, r.transErr = gotNoReply, err.Error()
	case resp.Header.Get(micro.ErrorCodeHeader) == "":
		var res bank.TransferResult
		if err := json.Unmarshal(resp.Data, &res); err != nil || res.TransferID == 0 {
			r.out, r.status, r.code = gotUnknown, 200, "bad success body: "+string(resp.Data)
			break
		}
		r.out, r.id = gotSuccess, res.TransferID
	default:
		r.status, _ = strconv.Atoi(resp.Header.Get(micro.ErrorCodeHeader))
		var eb protocol.ErrorBody
		json.Unmarshal(resp.Data, &eb)
		r.code = eb.Error.Code
		switch {
		case r.status >= 400 && r.status < 500, r.status == 503, r.status == 504:
			r.out = gotError
		default:
			r.out = gotUnknown
		}
	}
}

// start starts clients that send until halt is called.
func (l *load) start(clients int) {
	l.stop = make(chan struct{})
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				l.send(l.wait, false)
				select {
				case <-l.stop:
					return
				case <-time.After(l.pause):
				}
			}
		}()
	}
}

// halt stops the clients and waits for their last requests.
func (l *load) halt() {
	close(l.stop)
	l.wg.Wait()
}

// succeeded returns how many requests have succeeded so far.
func (l *load) succeeded() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		if r.out == gotSuccess && !r.done.IsZero() {
			n++
		}
	}
	return n
}

// probe sends one transfer at a time from since on until one succeeds or
// limit passes, and returns how long after since the success came.
func (l *load) probe(since time.Time, limit time.Duration) (time.Duration, bool) {
	for time.Since(since) < limit {
		r := l.send(2*time.Second, true)
		if r.out == gotSuccess {
			return r.done.Sub(since), true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, false
}

// result is one fault's line in the table.
type result struct {
	fault          string
	clients        int
	duration       time.Duration
	sent           int
	acked          int
	lost           int
	dup            int
	appliedOnError int
	unknown        int // commit_outcome_unknown, other 5xx, no reply
	unknownApplied int
	noResponders   int
	errors         map[string]int // error replies by status and code
	slowest        time.Duration  // the longest wait for a reply that came
	recovery       time.Duration
	recovered      bool
	recoveryLimit  time.Duration // when not the mode's recovery promise
	problems       []string      // every broken promise, for the test log
}

// transferRow is one row of the transfers table.
type transferRow struct {
	ID    int64  `db:"id"`
	From  uint64 `db:"from_id"`
	To    uint64 `db:"to_id"`
	Cents int64  `db:"cents"`
}

// check resolves every request against the transfers table and checks the
// ledger. Every instance must have stopped before, so nothing commits while
// it reads.
func (l *load) check(db *sqlx.DB, res *result, opening string) error {
	var rows []transferRow
	if err := db.Select(&rows, "SELECT id, from_id, to_id, CAST(amount * 100 AS SIGNED) AS cents FROM transfers"); err != nil {
		return fmt.Errorf("read transfers: %w", err)
	}
	byCents := make(map[int64][]transferRow, len(rows))
	for _, r := range rows {
		byCents[r.Cents] = append(byCents[r.Cents], r)
	}
	problem := func(format string, args ...any) {
		if len(res.problems) < 30 {
			res.problems = append(res.problems, fmt.Sprintf(format, args...))
		}
	}
	res.errors = map[string]int{}
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := make(map[int64]bool, len(l.reqs))
	for _, r := range l.reqs {
		seen[r.cents] = true
		if r.out != gotNoReply && r.out != gotNoResponder {
			res.slowest = max(res.slowest, r.done.Sub(r.sent))
		}
		got := byCents[r.cents]
		res.sent++
		if len(got) > 1 {
			res.dup++
			problem("request %d (%s) is applied %d times", r.cents, r.describe(), len(got))
		}
		switch r.out {
		case gotSuccess:
			res.acked++
			switch {
			case len(got) == 0:
				res.lost++
				problem("request %d was acknowledged as transfer %d but is not in the database", r.cents, r.id)
			case len(got) == 1 && (got[0].ID != r.id || got[0].From != r.from || got[0].To != r.to):
				res.lost++
				problem("request %d was acknowledged as transfer %d (%d->%d) but its row is %+v", r.cents, r.id, r.from, r.to, got[0])
			}
		case gotError, gotNoResponder:
			if r.out == gotNoResponder {
				res.noResponders++
			} else {
				res.errors[fmt.Sprintf("%d %s", r.status, r.code)]++
			}
			if len(got) > 0 {
				res.appliedOnError++
				problem("request %d got %s but was applied", r.cents, r.describe())
			}
		case gotUnknown, gotNoReply:
			if r.out == gotUnknown {
				res.errors[fmt.Sprintf("%d %s", r.status, r.code)]++
			} else {
				res.errors["no reply"]++
			}
			res.unknown++
			if len(got) > 0 {
				res.unknownApplied++
			}
			if r.out == gotUnknown && r.code != "commit_outcome_unknown" {
				// 500 internal means a bug; a bad success body too.
				problem("request %d got %s", r.cents, r.describe())
			}
		}
	}
	for cents, got := range byCents {
		if !seen[cents] {
			res.dup += len(got)
			problem("transfer %d (amount %d cents) matches no request", got[0].ID, cents)
		}
	}
	for _, p := range checkLedger(db, opening, len(l.accounts)) {
		problem("%s", p)
	}
	return nil
}

func (r *request) describe() string {
	switch r.out {
	case gotSuccess:
		return fmt.Sprintf("success (transfer %d)", r.id)
	case gotNoResponder:
		return "no responders"
	case gotNoReply:
		return "no reply (" + r.transErr + ")"
	}
	return fmt.Sprintf("%d %s", r.status, r.code)
}

// checkLedger returns what is wrong with the committed data: a balance
// that is not its opening balance plus transfers in minus transfers out
// (a half-applied transfer), a negative balance, or a changed total.
func checkLedger(db *sqlx.DB, opening string, n int) []string {
	var bad []string
	err := db.Select(&bad, `
		SELECT CONCAT('account ', a.id, ': balance ', a.balance, ' != ', CAST(? AS DECIMAL(20,2)) + COALESCE(i.s, 0) - COALESCE(o.s, 0))
		FROM accounts a
		LEFT JOIN (SELECT to_id, SUM(amount) s FROM transfers GROUP BY to_id) i ON i.to_id = a.id
		LEFT JOIN (SELECT from_id, SUM(amount) s FROM transfers GROUP BY from_id) o ON o.from_id = a.id
		WHERE a.balance <> CAST(? AS DECIMAL(20,2)) + COALESCE(i.s, 0) - COALESCE(o.s, 0) OR a.balance < 0`, opening, opening)
	if err != nil {
		return []string{"ledger query: " + err.Error()}
	}
	var sum, want string
	if err := db.QueryRow("SELECT CAST(SUM(balance) AS CHAR), CAST(CAST(? AS DECIMAL(20,2)) * ? AS CHAR) FROM accounts", opening, n).Scan(&sum, &want); err != nil {
		return append(bad, "sum query: "+err.Error())
	}
	if sum != want {
		bad = append(bad, fmt.Sprintf("sum of balances is %s, want %s", sum, want))
	}
	return bad
}

// errorSummary formats error replies by count, most frequent first.
func errorSummary(m map[string]int) string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || l[i].v == l[j].v && l[i].k < l[j].k })
	var parts []string
	for _, e := range l {
		parts = append(parts, fmt.Sprintf("%s ×%d", strings.TrimSpace(e.k), e.v))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
