package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// Defaults of Config.
const (
	DefaultMaxLag        = time.Second
	DefaultWait          = 50 * time.Millisecond
	DefaultCheckInterval = time.Second
)

// Config configures a Set.
type Config struct {
	// DSNs are the replicas' go-sql-driver/mysql DSNs (see SplitDSNs);
	// each is read through txrunner.ParseDSN, so it gets the settings the
	// primary's DSN gets. It must name the same database as the primary's.
	DSNs []string
	// MaxLag is the most a replica may lag and still get reads; default
	// DefaultMaxLag.
	MaxLag time.Duration
	// Wait is the longest Pick waits for a replica to apply a request's
	// position before the request goes to the primary. Zero (or less)
	// asks the replica without waiting; DefaultWait is the service's
	// default (DBAPI_REPLICA_WAIT).
	Wait time.Duration
	// CheckInterval is how often each replica is checked; default
	// DefaultCheckInterval.
	CheckInterval time.Duration
	// Pool sizes each replica's pool (txrunner.Open).
	Pool txrunner.PoolConfig
	// IOTimeout, when not zero, is the read and write timeout of a
	// replica whose DSN sets none (txrunner.WithIOTimeouts).
	IOTimeout time.Duration
	// Logger gets a line when a replica stops or starts getting reads;
	// default slog.Default(). Lines name replicas by address only.
	Logger *slog.Logger
	// OnCheck, when set, is called with each replica's state after each
	// of its checks: the hook of the dbapi_replica_lag_seconds{replica}
	// gauge. It must not block.
	OnCheck func(State)
}

func (c *Config) setDefaults() {
	if c.MaxLag <= 0 {
		c.MaxLag = DefaultMaxLag
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// SplitDSNs splits DBAPI_MYSQL_REPLICA_DSN: DSNs separated by spaces (so
// a replica's password cannot hold one).
func SplitDSNs(s string) []string { return strings.Fields(s) }

// Route is where Pick sent a read, and why.
type Route uint8

// The routes.
const (
	// RouteReplica: a healthy replica that has applied the request's
	// position (if it had one).
	RouteReplica Route = iota
	// RouteNoReplica: the primary, as no replica is healthy.
	RouteNoReplica
	// RouteBehind: the primary, as the replica Pick chose did not apply
	// the request's position within Wait.
	RouteBehind
	// RouteFailed: the primary, as the replica failed (Pick's wait
	// failed, or the caller reported the request's failure with Failed).
	RouteFailed
	numRoutes
)

// Routes lists every route, for a metric's label values.
func Routes() []Route { return []Route{RouteReplica, RouteNoReplica, RouteBehind, RouteFailed} }

func (r Route) String() string {
	switch r {
	case RouteReplica:
		return "replica"
	case RouteNoReplica:
		return "primary_no_replica"
	case RouteBehind:
		return "primary_behind"
	case RouteFailed:
		return "primary_replica_failed"
	}
	return "route" + strconv.Itoa(int(r))
}

// Set is the replicas of one primary: their pools, their health (each
// checked every CheckInterval by a goroutine of its own) and the choice of
// one for a read. It is safe for concurrent use. A nil *Set is no
// replicas: Pick returns none and counts nothing.
type Set struct {
	cfg      Config
	primary  Querier
	flavour  Flavour // the primary's
	replicas []*Replica
	next     atomic.Uint64 // round robin
	routes   [numRoutes]atomic.Uint64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open opens the replicas of cfg.DSNs, checks each once, and keeps
// checking them until Close. primary is the primary's pool: each check
// reads its position (one small query per replica and CheckInterval).
// With no DSNs it returns a nil *Set and no error.
//
// A replica that cannot be reached is not an error: it is down, gets no
// reads, and is connected to again at each check. The error is for a
// malformed DSN (never quoted: it may hold a password) or a primary whose
// kind cannot be read.
func Open(ctx context.Context, primary Querier, cfg Config) (*Set, error) {
	if len(cfg.DSNs) == 0 {
		return nil, nil
	}
	cfg.setDefaults()
	s := &Set{cfg: cfg, primary: primary}
	seen := map[string]int{}
	for i, dsn := range cfg.DSNs {
		mc, err := txrunner.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("replica DSN %d of %d: %w", i+1, len(cfg.DSNs), err)
		}
		if cfg.IOTimeout > 0 {
			mc = txrunner.WithIOTimeouts(mc, cfg.IOTimeout)
		}
		name := mc.Addr
		if seen[name]++; seen[name] > 1 {
			name += "#" + strconv.Itoa(seen[name])
		}
		s.replicas = append(s.replicas, &Replica{name: name, mc: mc, set: s,
			state: State{Replica: name, Status: StatusUnchecked, Lag: -1}})
	}
	f, err := DetectFlavour(ctx, primary)
	if err != nil {
		return nil, fmt.Errorf("replicas: the primary: %w", err)
	}
	s.flavour = f

	loopCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	var first sync.WaitGroup
	for _, r := range s.replicas {
		first.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			r.loop(loopCtx, first.Done)
		}()
	}
	done := make(chan struct{})
	go func() { first.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// The checks go on; the replicas get reads once they pass.
	}
	return s, nil
}

// Close stops the checks and closes the replicas' pools.
func (s *Set) Close() error {
	if s == nil {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	var errs []error
	for _, r := range s.replicas {
		if p := r.pool.Load(); p != nil {
			errs = append(errs, p.db.Close())
		}
	}
	return errors.Join(errs...)
}

// Flavour is the primary's kind of server: pass it to ReadPosition.
func (s *Set) Flavour() Flavour { return s.flavour }

// Replicas returns the replicas, in the order of their DSNs.
func (s *Set) Replicas() []*Replica {
	if s == nil {
		return nil
	}
	return append([]*Replica(nil), s.replicas...)
}

// Pick chooses where a read-only request runs: a healthy replica (in
// turn) that has applied after, waiting up to Wait (bounded by ctx) for
// it to; after's zero value asks for no position. It returns nil when the
// request should run on the primary, and the Route either way, which it
// counts (see Count). A replica that fails is taken for down until its
// next check passes; Pick itself never fails.
func (s *Set) Pick(ctx context.Context, after Position) (*Replica, Route) {
	if s == nil || len(s.replicas) == 0 {
		return nil, RouteNoReplica
	}
	r := s.healthy()
	if r == nil {
		return nil, s.count(RouteNoReplica)
	}
	p := r.pool.Load()
	if after.IsZero() || r.knows(after) {
		return r, s.count(RouteReplica)
	}
	if after.flavour != p.flavour {
		// A token of another kind of server (the service was moved):
		// no replica can say whether it applied it.
		return nil, s.count(RouteBehind)
	}
	wait := s.cfg.Wait
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d))
	}
	ok, err := Applied(ctx, p.db, p.flavour, after, wait)
	switch {
	case err != nil && ctx.Err() == nil:
		r.markDown("waiting for a position failed: " + err.Error())
		return nil, s.count(RouteFailed)
	case err != nil || !ok:
		return nil, s.count(RouteBehind)
	}
	r.learn(after)
	return r, s.count(RouteReplica)
}

// healthy returns the next healthy replica in turn, or nil.
func (s *Set) healthy() *Replica {
	n := uint64(len(s.replicas))
	start := s.next.Add(1)
	for i := range n {
		if r := s.replicas[(start+i)%n]; r.healthy() {
			return r
		}
	}
	return nil
}

func (s *Set) count(r Route) Route {
	s.routes[r].Add(1)
	return r
}

// Count returns how many reads Pick sent by route r since Open, plus, for
// RouteFailed, the reads reported with Failed (which Pick had counted as
// RouteReplica). For a counter metric of where reads ran.
func (s *Set) Count(r Route) uint64 {
	if s == nil || r >= numRoutes {
		return 0
	}
	return s.routes[r].Load()
}

// States returns each replica's state, in the order of their DSNs.
func (s *Set) States() []State {
	if s == nil {
		return nil
	}
	out := make([]State, len(s.replicas))
	for i, r := range s.replicas {
		out[i] = r.State()
	}
	return out
}

// Summary is one line on the replicas for /readyz's detail, such as
// "replicas: 10.0.0.2:3306 ok (lag 1ms); 10.0.0.3:3306 lagging (lag 3.2s)".
// Replicas never make a service unready: reads go to the primary.
func (s *Set) Summary() string {
	if s == nil {
		return "replicas: none"
	}
	parts := make([]string, len(s.replicas))
	for i, st := range s.States() {
		parts[i] = st.String()
	}
	return "replicas: " + strings.Join(parts, "; ")
}

// Replica is one replica: a pool and its health.
type Replica struct {
	name string
	mc   *mysql.Config
	set  *Set
	pool atomic.Pointer[pool] // nil until a check opened it

	mu     sync.Mutex
	state  State
	known  Position // a position it is known to have applied (MariaDB)
	behind []sample // positions of the primary not known applied, oldest first
}

// pool is a replica's open pool and its kind of server, set together.
type pool struct {
	db      *sqlx.DB
	flavour Flavour
}

// Name is the replica's address (host:port), never its DSN: the label of
// its metric and log lines.
func (r *Replica) Name() string { return r.name }

// DB is the replica's pool: run the read there, with the options the
// operation asks for (READ ONLY, isolation, deadline). It is nil only for
// a replica that was never reached, which Pick never returns.
func (r *Replica) DB() *sqlx.DB {
	if p := r.pool.Load(); p != nil {
		return p.db
	}
	return nil
}

// State returns the replica's state after its last check.
func (r *Replica) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Failed reports that a request on the replica failed for the replica's
// sake (it could not be reached, or the connection broke): the replica
// gets no reads until its next check passes, and the request's re-run on
// the primary is counted as RouteFailed. Do not report the request's own
// errors (a bad parameter, a timeout).
func (r *Replica) Failed(err error) {
	r.set.count(RouteFailed)
	r.markDown("a request failed: " + err.Error())
}

// markDown takes the replica for down until its next check passes.
func (r *Replica) markDown(detail string) {
	r.mu.Lock()
	was := r.state
	r.state.Status, r.state.Detail = StatusDown, detail
	r.known = Position{}
	r.mu.Unlock()
	r.set.transition(was, r.State())
}

func (r *Replica) healthy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state.Status == StatusOK
}

// knows reports whether the replica is known to have applied p.
func (r *Replica) knows(p Position) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return covers(r.known, p)
}

// learn records that the replica has applied p.
func (r *Replica) learn(p Position) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.flavour == MariaDB && (r.known.flavour != MariaDB || !covers(r.known, p)) {
		r.known = mergeMaria(r.known, p)
	}
}
