package replica

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/dbapi-dev/dbapi/txrunner"
)

// Status is a replica's health after its last check.
type Status string

// The statuses. Only StatusOK gets reads.
const (
	StatusUnchecked      Status = "unchecked"       // not checked yet
	StatusOK             Status = "ok"              // replicating, lag within MaxLag
	StatusDown           Status = "down"            // cannot be reached, or a request on it failed
	StatusNotReplicating Status = "not_replicating" // a replication thread is stopped (or cannot be seen)
	StatusLagging        Status = "lagging"         // did not apply the primary's position within MaxLag
	StatusUnknown        Status = "unknown"         // the primary's position could not be read
)

// State is a replica's health and lag after its last check.
type State struct {
	Replica string // the replica's Name
	Status  Status
	// Detail says why the replica gets no reads; empty when it does.
	Detail string
	// Lag is how far the replica is behind the primary: the time it took
	// to apply what the primary had committed when the check began, or,
	// while it has not, the age of the oldest position it has not
	// applied. -1 when it could not be measured.
	Lag     time.Duration
	Checked time.Time // when the check ended; zero before the first
}

// Healthy reports whether the replica gets reads.
func (s State) Healthy() bool { return s.Status == StatusOK }

// String is "host:port status (lag 1.2ms)", then the detail.
func (s State) String() string {
	var b strings.Builder
	b.WriteString(s.Replica + " " + string(s.Status))
	if s.Lag >= 0 {
		fmt.Fprintf(&b, " (lag %s)", s.Lag.Round(100*time.Microsecond))
	}
	if s.Detail != "" {
		b.WriteString(": " + s.Detail)
	}
	return b.String()
}

// sample is the primary's position at a time.
type sample struct {
	at  time.Time
	pos Position
}

// maxBehind bounds the samples kept for a replica that does not catch up:
// once full, the oldest keeps ageing and the lag keeps growing.
const maxBehind = 256

// checkSlack is the time a check may take beyond MaxLag (its longest
// wait): connecting, the status and the primary's position.
const checkSlack = 5 * time.Second

// loop checks the replica now, calls firstDone, and checks it again every
// CheckInterval until ctx ends. A check that takes longer (a lagging
// replica is waited for up to MaxLag) is followed by the next at once.
func (r *Replica) loop(ctx context.Context, firstDone func()) {
	r.check(ctx)
	firstDone()
	t := time.NewTicker(r.set.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.check(ctx)
	}
}

// check runs one check and records its state.
func (r *Replica) check(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, r.set.cfg.MaxLag+checkSlack)
	defer cancel()
	st := r.probe(cctx)
	if ctx.Err() != nil {
		return // closing
	}
	st.Replica, st.Checked = r.name, time.Now()
	r.mu.Lock()
	was := r.state
	r.state = st
	if st.Status == StatusDown {
		r.known = Position{}
	}
	r.mu.Unlock()
	r.set.transition(was, st)
	if r.set.cfg.OnCheck != nil {
		r.set.cfg.OnCheck(st)
	}
}

// transition logs a replica that starts or stops getting reads.
func (s *Set) transition(was, now State) {
	switch {
	case now.Status == StatusOK && was.Status != StatusOK:
		s.cfg.Logger.Info("replica gets reads", "replica", now.Replica, "lag", now.Lag)
	case now.Status != StatusOK && (was.Status == StatusOK || was.Status == StatusUnchecked):
		s.cfg.Logger.Warn("replica gets no reads", "replica", now.Replica, "status", now.Status, "detail", now.Detail)
	}
}

// probe finds the replica's state: reachable, replicating, and how far
// behind the primary.
func (r *Replica) probe(ctx context.Context) State {
	p, err := r.open(ctx)
	if err != nil {
		return State{Status: StatusDown, Detail: err.Error(), Lag: -1}
	}
	th, err := replicationThreads(ctx, p)
	if err != nil {
		return State{Status: StatusDown, Detail: err.Error(), Lag: -1}
	}
	now := time.Now()
	pos, err := PrimaryPosition(ctx, r.set.primary, r.set.flavour)
	if err != nil {
		return State{Status: StatusUnknown, Detail: err.Error(), Lag: -1}
	}
	if pos.flavour != p.flavour {
		return State{Status: StatusNotReplicating, Lag: -1,
			Detail: fmt.Sprintf("the replica is %s, the primary %s", p.flavour, pos.flavour)}
	}
	// A replica that is not replicating is not waited for: its lag is
	// the age of the oldest position it misses, and grows.
	wait := r.set.cfg.MaxLag
	if !th.running() {
		wait = 0
	}
	lag, err := r.measure(ctx, p, sample{at: now, pos: pos}, wait)
	switch {
	case err != nil:
		return State{Status: StatusDown, Detail: err.Error(), Lag: -1}
	case !th.running():
		return State{Status: StatusNotReplicating, Detail: th.String(), Lag: lag}
	case lag > r.set.cfg.MaxLag:
		return State{Status: StatusLagging, Lag: lag,
			Detail: fmt.Sprintf("it did not apply the primary's position within %s", r.set.cfg.MaxLag)}
	}
	return State{Status: StatusOK, Lag: lag}
}

// open returns the replica's pool, opening it (txrunner.Open, which
// checks that the server answers) and reading its kind of server the
// first time the replica is reached.
func (r *Replica) open(ctx context.Context) (*pool, error) {
	if p := r.pool.Load(); p != nil {
		return p, nil
	}
	db, err := txrunner.Open(ctx, r.mc, r.set.cfg.Pool)
	if err != nil {
		return nil, err
	}
	f, err := DetectFlavour(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	p := &pool{db: db, flavour: f}
	r.pool.Store(p)
	return p, nil
}

// measure records the primary's position s, waits up to wait for the
// replica to apply it, and returns the replica's lag: the time from s to
// the replica having applied it, or, if it has not, the age of the oldest
// position it has not applied (each check's sample not known applied is
// kept, and dropped once applied).
func (r *Replica) measure(ctx context.Context, p *pool, s sample, wait time.Duration) (time.Duration, error) {
	r.mu.Lock()
	n := len(r.behind)
	if !s.pos.IsZero() && s.pos != r.known && (n == 0 || r.behind[n-1].pos != s.pos) && n < maxBehind {
		r.behind = append(r.behind, s)
	}
	behind := append([]sample(nil), r.behind...)
	r.mu.Unlock()
	if len(behind) == 0 {
		return 0, nil // the primary committed nothing it has not applied
	}
	newest := behind[len(behind)-1]
	ok, err := Applied(ctx, p.db, p.flavour, newest.pos, wait)
	if err != nil {
		return -1, err
	}
	if ok {
		lag := time.Since(s.at)
		r.mu.Lock()
		r.behind = r.behind[len(behind):] // only this goroutine appends
		r.known = newest.pos
		r.mu.Unlock()
		return lag, nil
	}
	applied := 0
	for ; applied < len(behind)-1; applied++ {
		ok, err := Applied(ctx, p.db, p.flavour, behind[applied].pos, 0)
		if err != nil {
			return -1, err
		}
		if !ok {
			break
		}
	}
	r.mu.Lock()
	r.behind = r.behind[applied:]
	if applied > 0 {
		r.known = behind[applied-1].pos
	}
	r.mu.Unlock()
	return time.Since(behind[applied].at), nil
}

// threads is what the replica says of its replication threads.
type threads struct {
	io, sql       string // Yes, No, Connecting ("" unknown)
	ioErr, sqlErr string // the last errors
	// summary replaces io and sql when the server would not show them
	// (MariaDB without the SLAVE MONITOR privilege: Slave_running).
	summary string
}

func (t threads) running() bool {
	if t.summary != "" {
		return t.summary == "ON"
	}
	return t.io == "Yes" && t.sql == "Yes"
}

func (t threads) String() string {
	if t.summary != "" {
		return "Slave_running is " + t.summary
	}
	if t.io == "" && t.sql == "" {
		return "not a replica (no replication status)"
	}
	s := fmt.Sprintf("IO thread %s, SQL thread %s", t.io, t.sql)
	if t.ioErr != "" {
		s += "; IO error: " + t.ioErr
	}
	if t.sqlErr != "" {
		s += "; SQL error: " + t.sqlErr
	}
	return s
}

// MySQL and MariaDB server error numbers read here.
const (
	erParseError           = 1064 // MySQL before 8.0.22 has no SHOW REPLICA STATUS
	erSpecificAccessDenied = 1227 // e.g. SHOW SLAVE STATUS without SLAVE MONITOR
)

// replicationThreads reads the replica's threads: SHOW SLAVE STATUS on
// MariaDB (its columns are Slave_*; 10.5+ also knows SHOW REPLICA STATUS,
// with the same columns), SHOW REPLICA STATUS on MySQL 8.0.22+ (columns
// Replica_*; MySQL 8.4 has no SHOW SLAVE STATUS left), SHOW SLAVE STATUS
// on older MySQL. Both need a privilege (MariaDB SLAVE MONITOR or SUPER,
// MySQL REPLICATION CLIENT); MariaDB without it falls back to the
// Slave_running status, which any user may read.
func replicationThreads(ctx context.Context, p *pool) (threads, error) {
	query := "SHOW SLAVE STATUS"
	if p.flavour == MySQL {
		query = "SHOW REPLICA STATUS"
	}
	cols, err := oneRow(ctx, p.db.DB, query)
	if n, ok := txrunner.ErrorNumber(err); ok && n == erParseError && p.flavour == MySQL {
		cols, err = oneRow(ctx, p.db.DB, "SHOW SLAVE STATUS")
	}
	if n, ok := txrunner.ErrorNumber(err); ok && n == erSpecificAccessDenied {
		if p.flavour != MariaDB {
			return threads{summary: "unknown (grant the user REPLICATION CLIENT)"}, nil
		}
		var name, value string
		if err := p.db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Slave_running'").Scan(&name, &value); err != nil {
			return threads{}, fmt.Errorf("replication status: %w", err)
		}
		return threads{summary: value}, nil
	}
	if err != nil {
		return threads{}, fmt.Errorf("replication status: %w", err)
	}
	get := func(names ...string) string {
		for _, n := range names {
			if v, ok := cols[n]; ok {
				return v
			}
		}
		return ""
	}
	return threads{
		io:     get("Slave_IO_Running", "Replica_IO_Running"),
		sql:    get("Slave_SQL_Running", "Replica_SQL_Running"),
		ioErr:  get("Last_IO_Error"),
		sqlErr: get("Last_SQL_Error"),
	}, nil
}

// oneRow runs query and returns its first row by column name (NULL reads
// as ""); no row is an empty map.
func oneRow(ctx context.Context, db *sql.DB, query string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if !rows.Next() {
		return out, rows.Err()
	}
	vals := make([]sql.NullString, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	for i, n := range names {
		out[n] = vals[i].String
	}
	return out, rows.Err()
}
