//go:build linux

package faults

// Read replicas under faults (the issue "Replicas"): a MariaDB primary and
// one GTID replica of the suite's own (internal/mariadbd.StartReplication),
// two bank instances on the primary given the replica
// (DBAPI_MYSQL_REPLICA_DSN), and a mixed load whose every request is
// accounted for:
//
//   - writers: the suite's load (accounts.transfer with unique amounts
//     between eight shared accounts), every transfer checked against the
//     database afterwards as in every fault (load_test.go);
//   - sessions: each owns two accounts and only moves money from the first
//     to the second. After each of its writes it reads them back
//     (accounts.get or accounts.list) with the write's Dbapi-Position as
//     Dbapi-After. As no one else touches its accounts, what a read must
//     show is known exactly: the first account's opening balance less the
//     session's acknowledged transfers (less, as well, any of its
//     transfers of unknown outcome), the second the other way round. A
//     read that misses one of the session's acknowledged transfers breaks
//     read-your-writes. The sessions' transfers are checked against the
//     database with the writers';
//   - plain readers, without a position: accounts.get of a session's
//     account, or accounts.list of every account. They may read stale data
//     (a get is stale when it misses a transfer acknowledged before it was
//     sent: counted, which shows the replica lagged and that the same
//     check does see a stale read), but must never fail.
//
// Each instance serves /metrics (DBAPI_HTTP_ADDR); the suite scrapes
// dbapi_replica_reads_total{route} every 100 ms to tell where reads ran
// before, during and after the fault, the longest time the replica got
// no read, and when reads came back to it after the fault (the recovery).
//
// The faults: the replica killed with -9, then restarted; its SQL thread
// stopped, then started; replication stopped (both threads; full run
// only); MASTER_DELAY longer than DBAPI_REPLICA_MAX_LAG, then removed (the
// replica catches up); and MASTER_DELAY within DBAPI_REPLICA_MAX_LAG, so
// that the replica stays in rotation while it lags: sessions must still
// read their writes, through the wait or on the primary.

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/freeport"
	"github.com/dbapi-dev/dbapi/internal/mariadbd"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/dbapi-dev/dbapi/replica"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// replicaOutage is how long a replica fault lasts: several of the
// service's health checks (one a second), so reads do move.
func replicaOutage(md mode) time.Duration {
	if md.name == full.name {
		return 8 * time.Second
	}
	return 3 * time.Second
}

// replicaReaders is how many sessions and plain readers run besides the
// mode's writers.
func replicaReaders(md mode) (sessions, readers int) {
	if md.name == full.name {
		return 8, 8
	}
	return 4, 4
}

// The delays of the MASTER_DELAY faults, and the DBAPI_REPLICA_MAX_LAG of
// the one that stays in rotation. MASTER_DELAY counts whole seconds from
// the primary's timestamps (whole seconds too), so a delay of 1 s holds a
// transaction back 1 to 2 s.
const (
	delayOver      = 3 * time.Second
	delayWithin    = 1 * time.Second
	maxLagOfWithin = 4 * time.Second
)

// replicaScenario is one fault of the replica.
type replicaScenario struct {
	name   string
	maxLag time.Duration // DBAPI_REPLICA_MAX_LAG; zero: the default (1s)
	// inRotation: the replica's lag stays within maxLag, so it keeps
	// getting reads through the fault; otherwise reads must move to the
	// primary during the fault and come back after it.
	inRotation bool
	// state is the replica's state the instances must report during the
	// fault (in /readyz); with inRotation, the state they must not.
	state    string
	fullOnly bool
	// fault injects the fault and returns once it is over.
	fault func(ctx context.Context, t *testing.T, rep *mariadbd.Replica, d time.Duration) error
}

func replicaScenarios() []replicaScenario {
	return []replicaScenario{
		{name: "replica killed with -9, then restarted", state: "down", fault: func(ctx context.Context, t *testing.T, rep *mariadbd.Replica, d time.Duration) error {
			began := time.Now()
			if err := rep.Kill(); err != nil {
				return err
			}
			// (A mariadbd takes a while to exit after SIGKILL; its
			// sockets stay open until it has.)
			t.Logf("the replica exited %s after SIGKILL", time.Since(began).Round(time.Millisecond))
			sleep(d)
			if err := rep.Start(ctx); err != nil {
				return err
			}
			return rep.WaitRunning(ctx)
		}},
		{name: "replica's SQL thread stopped, then started", state: "not_replicating", fault: func(ctx context.Context, t *testing.T, rep *mariadbd.Replica, d time.Duration) error {
			if err := rep.StopSQLThread(ctx); err != nil {
				return err
			}
			sleep(d)
			if err := rep.StartSQLThread(ctx); err != nil {
				return err
			}
			return rep.WaitRunning(ctx)
		}},
		{name: "replication stopped (STOP SLAVE), then started", state: "not_replicating", fullOnly: true, fault: func(ctx context.Context, t *testing.T, rep *mariadbd.Replica, d time.Duration) error {
			if err := rep.StopReplication(ctx); err != nil {
				return err
			}
			sleep(d)
			return rep.StartReplication(ctx)
		}},
		{name: fmt.Sprintf("replica delayed %s (MASTER_DELAY) over DBAPI_REPLICA_MAX_LAG=1s, then caught up", delayOver),
			state: "lagging",
			fault: func(ctx context.Context, t *testing.T, rep *mariadbd.Replica, d time.Duration) error {
				if err := rep.SetDelay(ctx, delayOver); err != nil {
					return err
				}
				sleep(d)
				return rep.SetDelay(ctx, 0)
			}},
		{name: fmt.Sprintf("replica delayed %s (MASTER_DELAY) within DBAPI_REPLICA_MAX_LAG=%s: stays in rotation", delayWithin, maxLagOfWithin),
			maxLag: maxLagOfWithin, inRotation: true, state: "lagging",
			fault: func(ctx context.Context, t *testing.T, rep *mariadbd.Replica, d time.Duration) error {
				if err := rep.SetDelay(ctx, delayWithin); err != nil {
					return err
				}
				sleep(d)
				return rep.SetDelay(ctx, 0)
			}},
	}
}

// replicaPair is the primary and the replica the replica faults share.
type replicaPair struct {
	repl   *mariadbd.Replication
	rep    *mariadbd.Replica
	admin  *sqlx.DB // root on the primary
	onRepl *sqlx.DB // root on the replica
}

// startReplicaPair starts a primary and one replica in the suite's
// temporary folder, with the suite's server settings, and the service's
// account: created on the primary, so the replica gets it too, with
// SLAVE MONITOR (as the README advises) so that the service tells a
// stopped replication thread from a running one.
func startReplicaPair(ctx context.Context) (*replicaPair, error) {
	dir, err := os.MkdirTemp(suite.tmp, "replication-")
	if err != nil {
		return nil, err
	}
	repl, err := mariadbd.StartReplication(ctx, dir, 1,
		"--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=48M",
		"--max-connections=400",
		"--innodb-flush-log-at-trx-commit=1",
	)
	if err != nil {
		return nil, err
	}
	p := &replicaPair{repl: repl, rep: repl.Replicas[0]}
	if p.admin, err = (&mariadb{repl.Primary}).root(""); err != nil {
		repl.Kill()
		return nil, err
	}
	p.admin.SetMaxOpenConns(4)
	if p.onRepl, err = (&mariadb{p.rep.Server}).root(""); err != nil {
		p.admin.Close()
		repl.Kill()
		return nil, err
	}
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", svcUser, svcPassword),
		fmt.Sprintf("GRANT SLAVE MONITOR ON *.* TO '%s'@'%%'", svcUser),
	} {
		if _, err := p.admin.ExecContext(ctx, q); err != nil {
			p.close()
			return nil, fmt.Errorf("%s: %w", strings.Join(strings.Fields(q)[:2], " "), err)
		}
	}
	return p, p.rep.WaitCaughtUp(ctx, time.Minute)
}

func (p *replicaPair) close() {
	p.admin.Close()
	p.onRepl.Close()
	p.repl.Kill()
}

// withinMaxLag returns once the replica passes, seen from outside, the
// test the service's health check puts it to: it applies the primary's
// position, read now, within maxLag (tried every 0.1 s). A replica that
// cannot be reached or does not replicate fails the test.
func (p *replicaPair) withinMaxLag(ctx context.Context, maxLag time.Duration) error {
	for {
		began := time.Now()
		var pos string
		var res sql.NullInt64
		err := p.admin.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos)
		if err == nil {
			err = p.onRepl.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", pos, maxLag.Seconds()).Scan(&res)
		}
		if err == nil && res.Valid && res.Int64 == 0 && time.Since(began) <= maxLag {
			if st, err := p.rep.Status(ctx); err == nil && st.Running() {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the replica did not apply the primary's position within %s: %w (last: %v)", maxLag, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// reset brings the replica back to normal after a fault: running,
// replicating, without delay, and caught up with the primary.
func (p *replicaPair) reset(ctx context.Context) error {
	if !p.rep.Running() {
		if err := p.rep.Start(ctx); err != nil {
			return err
		}
	}
	st, err := p.rep.Status(ctx)
	if err != nil {
		return err
	}
	if st.SQLDelay != 0 {
		if err := p.rep.SetDelay(ctx, 0); err != nil {
			return err
		}
	} else if !st.Running() {
		if err := p.rep.StartReplication(ctx); err != nil {
			return err
		}
	}
	return p.rep.WaitCaughtUp(ctx, time.Minute)
}

// harness makes a fault's world on the primary: a fresh database (which
// the replica gets through replication), a subject prefix of its own,
// and the instances' environment, with the replica.
func (p *replicaPair) harness(t *testing.T, md mode, maxLag time.Duration) *harness {
	h := newHarnessOn(t, md, p.admin, (&mariadb{p.repl.Primary}).root)
	h.conns = func() ([]int64, error) { return h.connsOn(p.admin) }
	// Over newHarnessOn's: the primary and the NATS server themselves,
	// not the suite's links to its own; the last of a name is the one
	// that counts.
	h.env = append(h.env,
		"DBAPI_MYSQL_DSN="+dsn(p.repl.Primary.Addr(), svcUser, svcPassword, h.dbName).FormatDSN(),
		"DBAPI_MYSQL_REPLICA_DSN="+dsn(p.rep.Addr(), svcUser, svcPassword, h.dbName).FormatDSN(),
		"DBAPI_NATS_URL="+suite.nats.url(),
	)
	if maxLag > 0 {
		h.env = append(h.env, "DBAPI_REPLICA_MAX_LAG="+maxLag.String())
	}
	return h
}

// startWithMetrics starts n instances, each serving /metrics and /readyz
// on a port of its own (DBAPI_HTTP_ADDR), and returns their base URLs.
func (h *harness) startWithMetrics(n int) ([]string, error) {
	ports, err := freeport.Ports(n)
	if err != nil {
		return nil, err
	}
	urls := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		addr := fmt.Sprintf("127.0.0.1:%d", ports[i])
		urls[i] = "http://" + addr
		h.mu.Lock()
		h.started++
		name := strings.ReplaceAll(fmt.Sprintf("%s-%s-%d", h.t.Name(), strings.TrimPrefix(h.prefix, "faults"), h.started), "/", "_")
		h.mu.Unlock()
		go func() {
			// The last of a name wins in a process's environment.
			in, err := startInstance(suite.bin, suite.tmp, name, append(slices.Clip(h.env), "DBAPI_HTTP_ADDR="+addr))
			if err == nil {
				h.mu.Lock()
				h.instances = append(h.instances, in)
				h.mu.Unlock()
			}
			errs <- err
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return urls, first
}

// transfer sends one transfer from one account to another with a fresh
// unique amount, records it with the load's requests (so the check
// accounts for it as for any other) and returns it with its reply's
// Dbapi-Position.
func (l *load) transfer(from, to uint64, wait time.Duration) (*request, string) {
	n := l.seq.Add(1)
	r := &request{cents: n, from: from, to: to}
	body, _ := json.Marshal(map[string]any{"from": from, "to": to, "amount": fmt.Sprintf("%d.%02d", n/100, n%100)})
	r.sent = time.Now()
	l.mu.Lock()
	l.reqs = append(l.reqs, r)
	l.mu.Unlock()
	resp, err := l.nc.RequestMsg(&nats.Msg{Subject: l.subject, Data: body}, wait)
	done := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	r.done = done
	r.settle(resp, err)
	pos := ""
	if err == nil {
		pos = resp.Header.Get(protocol.HeaderPosition)
	}
	return r, pos
}

// session is a client that owns two accounts and only moves money from
// the first to the second, so it knows what they hold.
type session struct {
	from, to uint64

	mu      sync.Mutex
	acked   int64 // cents of its acknowledged transfers
	unknown int64 // cents of its transfers of unknown outcome
	// acks: when each transfer was acknowledged, and acked after it.
	acks []ack
}

// ack is a session's acknowledged transfer: when, and the session's
// acknowledged cents with it.
type ack struct {
	at    time.Time
	acked int64
}

// behind returns how long before sent the oldest acknowledged transfer
// that balance (of account id) misses was acknowledged; false when that
// cannot be told (a transfer of unknown outcome) or none is missed. The
// session's transfers commit in its order, one after the other, so a
// balance shows a prefix of them.
func (s *session) behind(open int64, id uint64, balance int64, sent time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unknown != 0 {
		return 0, false
	}
	shown := balance - open
	if id == s.from {
		shown = open - balance
	}
	i, _ := slices.BinarySearchFunc(s.acks, shown, func(a ack, v int64) int { return cmp.Compare(a.acked, v) })
	// acks[i] shows exactly shown cents or is the first beyond them.
	if i < len(s.acks) && s.acks[i].acked == shown {
		i++
	}
	if i >= len(s.acks) || !s.acks[i].at.Before(sent) {
		return 0, false
	}
	return sent.Sub(s.acks[i].at), true
}

// expect returns the least and the most account id may hold now, in
// cents: the opening balance moved by every acknowledged transfer, and by
// any, all or none of those of unknown outcome.
func (s *session) expect(open int64, id uint64) (lo, hi int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == s.from {
		return open - s.acked - s.unknown, open - s.acked
	}
	return open + s.acked, open + s.acked + s.unknown
}

// stale says whether balance misses a transfer that expect's bounds
// include (a read behind them), and beyond whether it shows more
// transfers than were sent.
func (s *session) judge(id uint64, balance, lo, hi int64) (stale, beyond bool) {
	if id == s.from {
		return balance > hi, balance < lo
	}
	return balance < lo, balance > hi
}

// readLoad runs the sessions and the plain readers.
type readLoad struct {
	nc       *nats.Conn
	prefix   string
	writes   *load // the sessions' transfers go through it
	sessions []*session
	accounts int   // accounts in the database
	open     int64 // opening balance in cents
	wait     time.Duration
	pause    time.Duration

	mu           sync.Mutex
	sessionReads int
	plainReads   int
	failed       int
	violations   int           // read-your-writes broken (or a balance no transfer explains)
	stale        int           // plain reads behind a transfer acknowledged before they were sent
	mostBehind   time.Duration // the most a stale read was behind: from the oldest acknowledgement it missed to its sending
	noPosition   int           // acknowledged writes without a Dbapi-Position
	slowest      time.Duration
	slowestWhat  string
	problems     []string

	stop chan struct{}
	wg   sync.WaitGroup
}

func (rl *readLoad) problem(format string, args ...any) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if len(rl.problems) < 30 {
		rl.problems = append(rl.problems, fmt.Sprintf(format, args...))
	}
}

// accountRow is an account in a read's reply.
type accountRow struct {
	ID      uint64 `json:"id"`
	Balance string `json:"balance"`
}

// cents parses a balance such as "9999998.05".
func cents(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return 0, fmt.Errorf("balance %q: more than two decimals", s)
	}
	frac += strings.Repeat("0", 2-len(frac))
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("balance %q: %w", s, err)
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("balance %q: %w", s, err)
	}
	return w*100 + f, nil
}

// read sends a read-only request, with after as Dbapi-After if set, and
// returns the accounts it read; a failure (an error reply, no reply, a
// reply that does not parse) is counted and described.
func (rl *readLoad) read(op string, params map[string]any, after string, session bool) ([]accountRow, bool) {
	msg := nats.NewMsg(rl.prefix + "." + op)
	msg.Data, _ = json.Marshal(params)
	if after != "" {
		msg.Header.Set(protocol.HeaderAfter, after)
	}
	began := time.Now()
	resp, err := rl.nc.RequestMsg(msg, rl.wait)
	took := time.Since(began)
	var rows []accountRow
	var why string
	switch {
	case err != nil:
		why = "no reply (" + err.Error() + ")"
	case resp.Header.Get(micro.ErrorCodeHeader) != "":
		var eb protocol.ErrorBody
		json.Unmarshal(resp.Data, &eb)
		why = resp.Header.Get(micro.ErrorCodeHeader) + " " + eb.Error.Code + ": " + eb.Error.Message
	case op == "accounts.get":
		var a accountRow
		if err := json.Unmarshal(resp.Data, &a); err != nil || a.ID == 0 {
			why = "bad reply " + string(resp.Data)
		}
		rows = []accountRow{a}
	default:
		if err := json.Unmarshal(resp.Data, &rows); err != nil {
			why = "bad reply " + string(resp.Data)
		}
	}
	rl.mu.Lock()
	if session {
		rl.sessionReads++
	} else {
		rl.plainReads++
	}
	if err == nil && took > rl.slowest {
		rl.slowest = took
		rl.slowestWhat = fmt.Sprintf("%s %v (Dbapi-After %t) sent at %s", op, params, after != "", began.Format("15:04:05.000"))
	}
	if why != "" {
		rl.failed++
	}
	rl.mu.Unlock()
	if why != "" {
		rl.problem("%s %v (Dbapi-After %q) failed: %s", op, params, after, why)
		return nil, false
	}
	return rows, true
}

// runSession writes, then reads its accounts with the write's position,
// one after the other, until halted.
func (rl *readLoad) runSession(s *session) {
	for n := 0; ; n++ {
		select {
		case <-rl.stop:
			return
		default:
		}
		r, pos := rl.writes.transfer(s.from, s.to, rl.wait)
		s.mu.Lock()
		switch r.out {
		case gotSuccess:
			s.acked += r.cents
			s.acks = append(s.acks, ack{at: r.done, acked: s.acked})
		case gotUnknown, gotNoReply:
			s.unknown += r.cents
		}
		s.mu.Unlock()
		if r.out == gotSuccess && pos == "" {
			rl.mu.Lock()
			rl.noPosition++
			rl.mu.Unlock()
			rl.problem("transfer %d (%d->%d) was acknowledged without a Dbapi-Position", r.cents, s.from, s.to)
		}
		if r.out == gotSuccess && pos != "" {
			rl.sessionRead(s, n, pos)
		}
		select {
		case <-rl.stop:
			return
		case <-time.After(rl.pause):
		}
	}
}

// sessionRead reads the session's accounts after its write at pos and
// checks that the read shows every transfer it acknowledged.
func (rl *readLoad) sessionRead(s *session, n int, pos string) {
	ids := []uint64{s.from}
	op, params := "accounts.get", map[string]any{"id": s.from}
	if n%2 == 1 {
		lo, hi := min(s.from, s.to), max(s.from, s.to)
		ids = []uint64{s.from, s.to}
		op, params = "accounts.list", map[string]any{"after": lo - 1, "limit": hi - lo + 1}
	}
	rows, ok := rl.read(op, params, pos, true)
	if !ok {
		return
	}
	var wrong []string
	for _, id := range ids {
		i := slices.IndexFunc(rows, func(a accountRow) bool { return a.ID == id })
		if i < 0 {
			wrong = append(wrong, fmt.Sprintf("account %d missing from %v", id, rows))
			continue
		}
		bal, err := cents(rows[i].Balance)
		if err != nil {
			wrong = append(wrong, err.Error())
			continue
		}
		lo, hi := s.expect(rl.open, id)
		switch stale, beyond := s.judge(id, bal, lo, hi); {
		case stale:
			wrong = append(wrong, fmt.Sprintf("account %d's balance is %d cents, behind the session's own acknowledged transfers (%d to %d)", id, bal, lo, hi))
		case beyond:
			wrong = append(wrong, fmt.Sprintf("account %d's balance is %d cents, beyond the session's transfers (%d to %d)", id, bal, lo, hi))
		}
	}
	if len(wrong) > 0 {
		rl.mu.Lock()
		rl.violations++
		rl.mu.Unlock()
		rl.problem("read-your-writes: %s %v with Dbapi-After %q: %s", op, params, pos, strings.Join(wrong, "; "))
	}
}

// runPlain reads without a position, in turn a session's account (stale
// reads counted) and the list of every account, until halted.
func (rl *readLoad) runPlain() {
	for n := 0; ; n++ {
		select {
		case <-rl.stop:
			return
		default:
		}
		if n%2 == 0 {
			s := rl.sessions[mrand.IntN(len(rl.sessions))]
			id := s.from
			if mrand.IntN(2) == 1 {
				id = s.to
			}
			lo, hi := s.expect(rl.open, id)
			sent := time.Now()
			if rows, ok := rl.read("accounts.get", map[string]any{"id": id}, "", false); ok {
				bal, err := cents(rows[0].Balance)
				if err != nil {
					rl.problem("accounts.get %d: %v", id, err)
				} else if stale, _ := s.judge(id, bal, lo, hi); stale {
					d, known := s.behind(rl.open, id, bal, sent)
					rl.mu.Lock()
					rl.stale++
					if known {
						rl.mostBehind = max(rl.mostBehind, d)
					}
					rl.mu.Unlock()
				}
			}
		} else if rows, ok := rl.read("accounts.list", map[string]any{"limit": 1000}, "", false); ok && len(rows) != rl.accounts {
			// Every account was on the replica before the load began.
			rl.problem("accounts.list returned %d accounts; want %d", len(rows), rl.accounts)
		}
		select {
		case <-rl.stop:
			return
		case <-time.After(rl.pause):
		}
	}
}

func (rl *readLoad) start(readers int) {
	rl.stop = make(chan struct{})
	for _, s := range rl.sessions {
		rl.wg.Add(1)
		go func() { defer rl.wg.Done(); rl.runSession(s) }()
	}
	for range readers {
		rl.wg.Add(1)
		go func() { defer rl.wg.Done(); rl.runPlain() }()
	}
}

func (rl *readLoad) halt() {
	close(rl.stop)
	rl.wg.Wait()
}

// routeCounts is dbapi_replica_reads_total by route, in the order of
// replica.Routes(), summed over the instances.
type routeCounts [4]uint64

func (c routeCounts) replica() uint64 { return c[replica.RouteReplica] }
func (c routeCounts) primary() uint64 {
	return c[replica.RouteNoReplica] + c[replica.RouteBehind] + c[replica.RouteFailed]
}
func (c routeCounts) minus(o routeCounts) routeCounts {
	for i := range c {
		c[i] -= o[i]
	}
	return c
}

// routeSample is what the instances said at a time: their reads by
// route (summed), the replica's states in their /readyz (in instance
// order) and the largest dbapi_replica_lag_seconds (NaN: unknown).
type routeSample struct {
	at     time.Time
	n      routeCounts
	states []string
	lag    float64
}

// routeSampler scrapes the instances' /metrics and /readyz.
type routeSampler struct {
	urls    []string // each instance's http://host:port
	replica string   // the replica's name in the service: its address
	client  *http.Client
	one     sync.Mutex // one scrape at a time, so the samples' counts grow with their times

	mu      sync.Mutex
	samples []routeSample
	errs    int
	lastErr error
	stop    chan struct{}
	done    chan struct{}
}

// scrape reads every instance now and keeps what they said.
func (s *routeSampler) scrape() routeSample {
	s.one.Lock()
	defer s.one.Unlock()
	sm := routeSample{lag: math.Inf(-1)}
	var errs []error
	for _, u := range s.urls {
		c, lag, state, err := s.scrapeOne(u)
		errs = append(errs, err)
		for i := range sm.n {
			sm.n[i] += c[i]
		}
		sm.states = append(sm.states, state)
		if math.IsNaN(lag) || math.IsNaN(sm.lag) {
			sm.lag = math.NaN()
		} else {
			sm.lag = max(sm.lag, lag)
		}
	}
	sm.at = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		s.errs++
		s.lastErr = err
		return sm // a partial sum: not kept
	}
	s.samples = append(s.samples, sm)
	return sm
}

// get returns the body of a GET of url (any status: /readyz may be 503).
func (s *routeSampler) get(url string) (string, error) {
	resp, err := s.client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// scrapeOne reads an instance's reads by route and replica lag from
// /metrics, and the replica's state from /readyz.
func (s *routeSampler) scrapeOne(base string) (n routeCounts, lag float64, state string, err error) {
	lag = math.NaN()
	body, err := s.get(base + "/metrics")
	if err != nil {
		return n, lag, "", err
	}
	found, lags := 0, 0
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, `dbapi_replica_lag_seconds{replica="`+s.replica+`"} `); ok {
			if lag, err = strconv.ParseFloat(strings.TrimSpace(rest), 64); err != nil {
				return n, lag, "", fmt.Errorf("%s: %q: %w", base, line, err)
			}
			lags++
			continue
		}
		rest, ok := strings.CutPrefix(line, `dbapi_replica_reads_total{route="`)
		if !ok {
			continue
		}
		route, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		for _, r := range replica.Routes() {
			if r.String() == route {
				v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
				if err != nil {
					return n, lag, "", fmt.Errorf("%s: %q: %w", base, line, err)
				}
				n[r] = uint64(v)
				found++
			}
		}
	}
	if found != len(n) || lags != 1 {
		return n, lag, "", fmt.Errorf("%s/metrics: %d of the %d dbapi_replica_reads_total routes, %d lags of the replica", base, found, len(n), lags)
	}
	body, err = s.get(base + "/readyz")
	if err != nil {
		return n, lag, "", err
	}
	// "... replicas: 127.0.0.1:3307 lagging (lag 3.2s): ..."
	_, rest, ok := strings.Cut(body, "replicas: "+s.replica+" ")
	if !ok {
		return n, lag, "", fmt.Errorf("%s/readyz names no replica %s: %q", base, s.replica, body)
	}
	state, _, _ = strings.Cut(rest, " ")
	return n, lag, strings.TrimRight(state, ":;\n"), nil
}

// seen returns the replica's states the instances reported from since
// to until, in order of first appearance, and the largest lag.
func (s *routeSampler) seen(since, until time.Time) (states []string, lag float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lag = math.Inf(-1)
	for _, sm := range s.samples {
		if sm.at.Before(since) || sm.at.After(until) {
			continue
		}
		for _, st := range sm.states {
			if !slices.Contains(states, st) {
				states = append(states, st)
			}
		}
		if !math.IsNaN(sm.lag) {
			lag = max(lag, sm.lag)
		}
	}
	return states, lag
}

func (s *routeSampler) run(every time.Duration) {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(every):
				s.scrape()
			}
		}
	}()
}

func (s *routeSampler) halt() {
	close(s.stop)
	<-s.done
}

// backOnReplica returns how long after since the replica's count first
// grew over an interval that began at or after since.
func (s *routeSampler) backOnReplica(since time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 1; i < len(s.samples); i++ {
		if !s.samples[i-1].at.Before(since) && s.samples[i].n.replica() > s.samples[i-1].n.replica() {
			return s.samples[i].at.Sub(since), true
		}
	}
	return 0, false
}

// replicaGap returns the longest time between two samples that saw the
// replica's count grow.
func (s *routeSampler) replicaGap() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var grew []time.Time
	for i := 1; i < len(s.samples); i++ {
		if s.samples[i].n.replica() > s.samples[i-1].n.replica() {
			grew = append(grew, s.samples[i].at)
		}
	}
	return longestGap(grew)
}

// replicaResult is a result with what a replica fault measures besides.
type replicaResult struct {
	*result
	inRotation           bool
	sessionReads         int
	plainReads           int
	readsFailed          int
	violations           int
	stale                int
	mostBehind           time.Duration
	states               []string // the replica's states in /readyz from the fault's start on
	maxLag               float64  // the largest dbapi_replica_lag_seconds then (-Inf: none known)
	noPosition           int
	slowestRead          time.Duration
	before, during, past routeCounts // reads by route: before, during and after the fault
	gap                  time.Duration
	caughtUp             time.Duration // from the fault's end until the replica passed the health check again, seen from outside
}

// detectWithin is the promise on the service's share of the recovery:
// reads are back on the replica within this of it passing the health
// check again (a check a second, each waiting up to
// DBAPI_REPLICA_MAX_LAG, and a busy machine).
const detectWithin = 5 * time.Second

// TestReplicaFaults runs each fault of the replica under the mixed load
// and checks every write and every read.
func TestReplicaFaults(t *testing.T) {
	requireSuite(t)
	md := currentMode()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	began := time.Now()
	pair, err := startReplicaPair(ctx)
	cancel()
	if err != nil {
		t.Fatalf("a primary and a replica: %v", err)
	}
	t.Logf("a primary and a replica started in %s", time.Since(began).Round(time.Millisecond))
	defer pair.close()
	var results []*replicaResult
	for _, sc := range replicaScenarios() {
		if sc.fullOnly && md.name != full.name {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			res := runReplicaScenario(t, md, pair, sc)
			if res != nil {
				results = append(results, res)
			}
			if t.Failed() {
				t.Logf("primary's error log:\n%s\nreplica's error log:\n%s", pair.repl.Primary.ErrLog(), pair.rep.ErrLog())
			}
		})
	}
	if err := writeReplicaReport(md, results); err != nil {
		t.Errorf("report: %v", err)
	}
}

// runReplicaScenario runs one fault of the replica under the mixed load
// and checks its requests.
func runReplicaScenario(t *testing.T, md mode, pair *replicaPair, sc replicaScenario) *replicaResult {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := pair.reset(ctx); err != nil {
		t.Fatalf("the replica is not back to normal before the fault: %v", err)
	}
	h := pair.harness(t, md, sc.maxLag)
	urls, err := h.startWithMetrics(2)
	if err != nil {
		t.Fatal(err)
	}
	nSessions, nReaders := replicaReaders(md)
	shared := openAccounts(t, h.db, 8)
	own := openAccounts(t, h.db, 2*nSessions)
	// Every account is on the replica before the load begins.
	if err := pair.rep.WaitCaughtUp(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	openCents, err := cents(opening)
	if err != nil {
		t.Fatal(err)
	}

	nc, err := nats.Connect(suite.nats.url(), nats.Name("faults-replica-load"), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	wait := md.timeout + 3*time.Second
	l := &load{nc: nc, subject: h.prefix + ".accounts.transfer", accounts: shared, wait: wait, pause: md.pause}
	rl := &readLoad{nc: nc, prefix: h.prefix, writes: l, accounts: len(shared) + len(own), open: openCents,
		wait: wait, pause: md.pause}
	for i := 0; i < len(own); i += 2 {
		rl.sessions = append(rl.sessions, &session{from: own[i], to: own[i+1]})
	}
	smp := &routeSampler{urls: urls, replica: pair.rep.Addr(), client: &http.Client{Timeout: time.Second}}
	res := &replicaResult{result: &result{fault: sc.name, clients: md.clients, recoveryLimit: md.recovery}, inRotation: sc.inRotation}

	began := time.Now()
	smp.scrape()
	smp.run(100 * time.Millisecond)
	l.start(md.clients)
	rl.start(nReaders)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		rl.mu.Lock()
		reads := rl.sessionReads
		rl.mu.Unlock()
		if l.succeeded() >= md.clients && reads >= len(rl.sessions) {
			break
		}
		if time.Now().After(deadline) {
			l.halt()
			rl.halt()
			smp.halt()
			t.Fatalf("only %d transfers and %d session reads in a minute before the fault; instance log:\n%s", l.succeeded(), reads, h.instances[0].tail())
		}
	}
	sleep(md.warm)
	atStart := smp.scrape()
	faultErr := sc.fault(ctx, t, pair.rep, replicaOutage(md))
	atEnd := smp.scrape()
	if faultErr != nil {
		t.Errorf("injecting the fault: %v", faultErr)
	}
	// When the replica passes the service's health check again, seen
	// from outside: how long it takes to catch up is its own affair (and
	// slow on a busy machine); the service's is to notice.
	maxLag := cmp.Or(sc.maxLag, replica.DefaultMaxLag)
	caughtUp := make(chan struct{})
	go func() {
		defer close(caughtUp)
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := pair.withinMaxLag(wctx, maxLag); err != nil {
			t.Errorf("after the fault: %v", err)
			return
		}
		res.caughtUp = time.Since(atEnd.at)
	}()
	// Recovery: reads back on the replica, within detectWithin of it
	// passing the health check.
	for {
		if res.recovery, res.recovered = smp.backOnReplica(atEnd.at); res.recovered {
			break
		}
		limit := time.Minute
		select {
		case <-caughtUp:
			limit = res.caughtUp + detectWithin
		default:
		}
		if time.Since(atEnd.at) > limit {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res.recovered {
		sleep(md.after)
	}
	atHalt := smp.scrape()
	l.halt()
	rl.halt()
	smp.halt()
	<-caughtUp
	res.duration = time.Since(began)
	res.before, res.during, res.past = atStart.n, atEnd.n.minus(atStart.n), atHalt.n.minus(atEnd.n)
	res.gap = smp.replicaGap()
	res.states, res.maxLag = smp.seen(atStart.at, atHalt.at)
	h.stopAll()
	h.waitNoConns()
	for _, in := range h.instances {
		t.Logf("%s: %s", in.name, replicaTransitions(in, atStart.at))
	}

	// The ledger covers every account, the sessions' too.
	l.accounts = append(slices.Clip(shared), own...)
	if err := l.check(h.db, res.result, opening); err != nil {
		t.Fatal(err)
	}
	res.sessionReads, res.plainReads, res.readsFailed = rl.sessionReads, rl.plainReads, rl.failed
	res.violations, res.stale, res.noPosition, res.slowestRead = rl.violations, rl.stale, rl.noPosition, rl.slowest
	res.mostBehind = rl.mostBehind

	t.Logf("writes: %d in %s, %d acknowledged, errors: %s; %d unknown resolved (%d applied)",
		res.sent, res.duration.Round(100*time.Millisecond), res.acked, errorSummary(res.errors), res.unknown, res.unknownApplied)
	t.Logf("reads: %d by sessions, %d plain; %d failed, %d read-your-writes violations, %d stale plain reads (at most %s behind), slowest %s: %s "+
		"(the fault from %s to %s)", res.sessionReads, res.plainReads, res.readsFailed, res.violations, res.stale, res.mostBehind.Round(time.Millisecond),
		res.slowestRead.Round(time.Millisecond), rl.slowestWhat, atStart.at.Format("15:04:05.000"), atEnd.at.Format("15:04:05.000"))
	t.Logf("routes (replica, primary_no_replica, primary_behind, primary_replica_failed): before %v, during %v, after %v; "+
		"the replica %v (lag at most %.3fs); longest without a replica read %s; the replica was within the max lag again %s and reads were back on it %s after the fault (%v); %d failed scrapes (%v)",
		res.before, res.during, res.past, res.states, res.maxLag, res.gap.Round(time.Millisecond), res.caughtUp.Round(time.Millisecond),
		res.recovery.Round(time.Millisecond), res.recovered, smp.errs, smp.lastErr)
	for _, p := range res.problems {
		t.Errorf("broken promise: %s", p)
	}
	for _, p := range rl.problems {
		t.Errorf("broken promise: %s", p)
	}
	if len(res.errors) > 0 {
		t.Errorf("writes failed while only the replica was at fault: %s", errorSummary(res.errors))
	}
	if res.readsFailed > 0 {
		t.Errorf("%d reads failed; a replica must never make a request fail", res.readsFailed)
	}
	if res.violations > 0 {
		t.Errorf("%d reads broke read-your-writes (or showed transfers never sent)", res.violations)
	}
	if res.noPosition > 0 {
		t.Errorf("%d acknowledged writes carried no Dbapi-Position", res.noPosition)
	}
	if res.before.replica() == 0 {
		t.Errorf("no read ran on the replica before the fault: %v", res.before)
	}
	if smp.errs > 0 {
		t.Errorf("%d scrapes of /metrics failed; the last: %v", smp.errs, smp.lastErr)
	}
	if got := slices.Contains(res.states, sc.state); got == sc.inRotation {
		t.Errorf("the instances reported the replica %v during the fault; want %q %s", res.states, sc.state,
			map[bool]string{true: "never", false: "among them"}[sc.inRotation])
	}
	if sc.inRotation {
		// The replica lagged yet kept its reads: plain reads saw it behind
		// (which is also what shows that the check above can see a stale
		// read), and the sessions' reads went to the primary rather than
		// to the lagging replica.
		if res.during.replica() == 0 {
			t.Errorf("the replica got no read during the fault, though its lag stayed within the bound: %v", res.during)
		}
		if res.stale == 0 {
			t.Errorf("no plain read was stale while the replica applied every write %s late", delayWithin)
		}
		if res.during[replica.RouteBehind] == 0 {
			t.Errorf("no session read went to the primary for a replica behind its position: %v", res.during)
		}
	} else if res.during.primary() == 0 {
		t.Errorf("no read moved to the primary during the fault: %v", res.during)
	}
	if !res.recovered || res.recovery > res.caughtUp+detectWithin {
		t.Errorf("reads were not back on the replica within %s of it applying the primary's position within %s (%s after the fault's end)",
			detectWithin, maxLag, res.caughtUp.Round(time.Millisecond))
	}
	if t.Failed() {
		for _, in := range h.instances {
			t.Logf("%s log:\n%s", in.name, in.tail())
		}
	}
	return res
}

// writeReplicaReport writes the replica faults' table next to the suite's
// (DBAPI_FAULTS_OUT, default out/faults.md, gets a sibling
// faults-replica.md) and prints it.
func writeReplicaReport(md mode, results []*replicaResult) error {
	sessions, readers := replicaReaders(md)
	var b strings.Builder
	fmt.Fprintf(&b, "Read replica faults (%s run), %s: a MariaDB primary and one GTID replica, 2 instances given the replica "+
		"(DBAPI_REPLICA_WAIT=50ms, DBAPI_REPLICA_MAX_LAG=1s unless the fault says otherwise); %d writers, %d sessions "+
		"(each writes, then reads its own accounts with Dbapi-After), %d plain readers (no position); DBAPI_TIMEOUT=%s; "+
		"a fault lasts about %s.\n\n",
		md.name, time.Now().UTC().Format("2006-01-02"), md.clients, sessions, readers, md.timeout, replicaOutage(md))
	b.WriteString("| fault | writes | acknowledged | lost | duplicated | applied despite an error | unknown outcomes resolved | write errors | " +
		"reads (sessions + plain) | reads failed | read-your-writes violations | stale plain reads | slowest read | " +
		"reads on replica / primary: before | during | after | replica's states (largest lag) | longest without a replica read | replica within max lag again | recovery |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|---|---|---|--:|--:|---|--:|---|---|---|---|--:|--:|--:|\n")
	for _, r := range results {
		c := r.cells(r.recoveryLimit)
		// fault, load, acknowledged, lost, duplicated, applied despite an
		// error, unknown, error replies: the suite's; then the reads.
		cells := append(c[:8:8],
			fmt.Sprintf("%d + %d", r.sessionReads, r.plainReads),
			fmt.Sprint(r.readsFailed), fmt.Sprint(r.violations), fmt.Sprintf("%d (at most %.1f s behind)", r.stale, r.mostBehind.Seconds()),
			fmt.Sprintf("%.2f s", r.slowestRead.Seconds()),
			routeCell(r.before), routeCell(r.during), routeCell(r.past), statesCell(r.states, r.maxLag),
			fmt.Sprintf("%.1f s", r.gap.Seconds()), fmt.Sprintf("%.1f s", r.caughtUp.Seconds()))
		switch {
		case r.inRotation:
			cells = append(cells, "– (stayed in rotation)")
		case r.recovered:
			cells = append(cells, fmt.Sprintf("%.1f s", r.recovery.Seconds()))
		default:
			cells = append(cells, "none within "+detectWithin.String()+" of that")
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	b.WriteString("\nWrites: every accounts.transfer, the writers' and the sessions', checked against the database as in the tables above. " +
		"Reads failed: an error reply or no reply to a read (must be 0: a replica never makes a request fail). " +
		"Read-your-writes violations: a session's read, sent with its last write's Dbapi-Position as Dbapi-After, that misses one " +
		"of the session's acknowledged transfers (must be 0). Stale plain reads: reads without a position that missed a transfer " +
		"acknowledged before they were sent (allowed), and the most one was behind: from the acknowledgement of the oldest " +
		"transfer it missed to its sending. Reads on replica / primary: dbapi_replica_reads_total of both instances, " +
		"route replica against the three primary_* routes (primary_no_replica, primary_behind, primary_replica_failed), before the " +
		"fault, during it and after its end. Replica's states: what the instances' /readyz said of the replica from the fault's " +
		"start on (scraped with the counts), and the largest dbapi_replica_lag_seconds. Longest without a replica read: the longest time between two scrapes (every 0.1 s) " +
		"that saw the replica's count grow. Replica within max lag again: from the fault's end until the replica, tried from " +
		"outside every 0.1 s, passed the test of the service's health check (replicating, and applying the primary's position " +
		"within DBAPI_REPLICA_MAX_LAG): its own share of the recovery. Recovery: from the fault's end (replica restarted and replicating, thread started, " +
		"delay removed) to reads running on the replica again; the promise: within " + detectWithin.String() + " of the replica " +
		"being within the max lag again.\n")
	out := os.Getenv("DBAPI_FAULTS_OUT")
	if out == "" {
		out = filepath.Join("out", "faults.md")
	}
	out = strings.TrimSuffix(out, filepath.Ext(out)) + "-replica.md"
	fmt.Print("\n" + b.String())
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

// routeCell is "replica / primary", with the primary's routes when any.
func routeCell(c routeCounts) string {
	s := fmt.Sprintf("%d / %d", c.replica(), c.primary())
	if c.primary() == 0 {
		return s
	}
	var parts []string
	for _, r := range replica.Routes()[1:] {
		if c[r] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", strings.TrimPrefix(r.String(), "primary_"), c[r]))
		}
	}
	return s + " (" + strings.Join(parts, ", ") + ")"
}

// replicaTransitions returns the lines an instance logged when the
// replica stopped or started getting reads, shortened, with their times
// from the fault's start.
func replicaTransitions(in *instance, faultStart time.Time) string {
	b, err := os.ReadFile(in.log)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		var e struct {
			Time   time.Time `json:"time"`
			Msg    string    `json:"msg"`
			Status string    `json:"status"`
			Detail string    `json:"detail"`
			Lag    any       `json:"lag"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || !strings.HasPrefix(e.Msg, "replica gets") {
			continue
		}
		s := fmt.Sprintf("%+.1fs %s", e.Time.Sub(faultStart).Seconds(), e.Msg)
		if e.Status != "" {
			s += " (" + e.Status + ": " + e.Detail + ")"
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "the replica never stopped getting reads"
	}
	return strings.Join(out, "; ")
}

// The session's arithmetic decides what counts as a broken
// read-your-writes and how stale a plain read was: check it on a history
// written by hand, with no server.
func TestSessionJudge(t *testing.T) {
	open := int64(1000_00)
	t0 := time.Now()
	s := &session{from: 1, to: 2}
	for i, c := range []int64{5, 7, 11} { // three transfers acknowledged 1 s apart
		s.acked += c
		s.acks = append(s.acks, ack{at: t0.Add(time.Duration(i) * time.Second), acked: s.acked})
	}
	lo, hi := s.expect(open, 1)
	if lo != open-23 || hi != open-23 {
		t.Fatalf("from account: expect %d..%d, want %d", lo, hi, open-23)
	}
	for _, c := range []struct {
		id            uint64
		balance       int64
		stale, beyond bool
		behind        time.Duration // from the first missed ack to t0+3s; -1: none
	}{
		{1, open - 23, false, false, -1},
		{1, open - 12, true, false, 1 * time.Second}, // misses the third, acknowledged at t0+2s
		{1, open, true, false, 3 * time.Second},      // misses all three
		{1, open - 24, false, true, -1},              // more than was sent
		{2, open + 23, false, false, -1},
		{2, open + 5, true, false, 2 * time.Second},
		{2, open + 30, false, true, -1},
	} {
		lo, hi := s.expect(open, c.id)
		stale, beyond := s.judge(c.id, c.balance, lo, hi)
		if stale != c.stale || beyond != c.beyond {
			t.Errorf("account %d balance %d: stale %v beyond %v, want %v %v", c.id, c.balance, stale, beyond, c.stale, c.beyond)
		}
		d, ok := s.behind(open, c.id, c.balance, t0.Add(3*time.Second))
		if ok != (c.behind >= 0) || ok && d != c.behind {
			t.Errorf("account %d balance %d: behind %s (%v), want %s", c.id, c.balance, d, ok, c.behind)
		}
	}
	// A transfer of unknown outcome widens the bounds, and staleness can
	// no longer be timed.
	s.unknown = 13
	if lo, hi := s.expect(open, 1); lo != open-36 || hi != open-23 {
		t.Errorf("from account with an unknown outcome: %d..%d", lo, hi)
	}
	if lo, hi := s.expect(open, 2); lo != open+23 || hi != open+36 {
		t.Errorf("to account with an unknown outcome: %d..%d", lo, hi)
	}
	if stale, beyond := s.judge(1, open-36, open-36, open-23); stale || beyond {
		t.Error("a balance with the unknown transfer applied was judged wrong")
	}
	if _, ok := s.behind(open, 1, open, t0.Add(3*time.Second)); ok {
		t.Error("staleness timed despite an unknown outcome")
	}
	for in, want := range map[string]int64{"9999998.05": 999999805, "12.5": 1250, "7": 700, "0.01": 1} {
		if got, err := cents(in); err != nil || got != want {
			t.Errorf("cents(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := cents("1.005"); err == nil {
		t.Error("cents accepted three decimals")
	}
}

// statesCell is "down, ok (lag 3.2 s)".
func statesCell(states []string, lag float64) string {
	s := strings.Join(states, ", ")
	if !math.IsInf(lag, -1) {
		s += fmt.Sprintf(" (%.1f s)", lag)
	}
	return s
}
