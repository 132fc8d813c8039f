package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/dbapi-dev/dbapi/replica"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// Defaults for zero CoalesceConfig fields.
const (
	DefaultCoalesceMax    = 8
	DefaultCoalesceGroups = 4
	DefaultCoalesceWait   = 0
)

// CoalesceConfig bounds group commit: the requests of an operation with
// Coalesce set that wait at the same time share one transaction.
//
// A request that finds no group forming starts one and leads it. The
// group starts its transaction as soon as fewer than MaxGroups groups of
// the operation are running, so a lone request never waits. Otherwise it
// takes the requests that come while the running groups run, up to
// MaxGroup (the next ones form the next group), and starts when one of
// them ends. So groups grow with the load by themselves, and a request
// waits for at most the groups started before its own.
//
// Groups that run at once may lock the same rows in different orders and
// deadlock with each other, even when the operation alone always locks in
// one order. So a group that had to run again halves the number of groups
// of its operation that may run at once, and a run of groups that
// committed at the first attempt raises it by one again, up to MaxGroups:
// on rows that many requests touch the groups run about one after
// another, and on rows that few do they run in parallel. A group still
// running a second past its members' last deadline (a COMMIT the server
// does not answer) stops counting as running, so it holds up only its
// own members.
type CoalesceConfig struct {
	// MaxGroup is the most requests one transaction holds; 1 turns
	// coalescing off. Default DefaultCoalesceMax.
	MaxGroup int
	// MaxGroups is how many groups of one operation run at once. Default
	// DefaultCoalesceGroups.
	MaxGroups int
	// MaxWait, when not zero, lets a group that holds more than one
	// request but fewer than MaxGroup, and could start, wait that much
	// longer for more. Default DefaultCoalesceWait: none.
	MaxWait time.Duration
	// OnGroup, when set, is told the size of every group that ran (1 for
	// a request that ran alone), for metrics.
	OnGroup func(op string, size int)
}

func (c *CoalesceConfig) setDefaults() {
	if c.MaxGroup == 0 {
		c.MaxGroup = DefaultCoalesceMax
	}
	if c.MaxGroups <= 0 {
		c.MaxGroups = DefaultCoalesceGroups
	}
	if c.MaxWait < 0 {
		c.MaxWait = DefaultCoalesceWait
	}
}

// savepoint is the name of the savepoint each request of a group runs
// under. One name serves all: a SAVEPOINT with the name of an existing one
// replaces it.
const savepoint = "dbapi_request"

// coalescer forms the groups of one operation.
type coalescer struct {
	cfg     CoalesceConfig
	mu      sync.Mutex
	open    *group          // the group taking members, if any
	running int             // groups running
	limit   int             // groups that may run at once: 1 to MaxGroups
	clean   int             // groups in a row that committed without a retry
	waiting []chan struct{} // leaders waiting to run their group, oldest first
}

// cleanToGrow is how many groups in a row must commit without a retry
// before one more may run at once.
const cleanToGrow = 16

func newCoalescer(cfg CoalesceConfig) *coalescer {
	return &coalescer{cfg: cfg, limit: cfg.MaxGroups}
}

// group is requests that will share a transaction.
type group struct {
	members []*member
	full    chan struct{} // closed once the group holds MaxGroup members
}

// member is one request of a group.
type member struct {
	ctx   context.Context // the request's: its deadline and values
	body  []byte
	hooks []TxHook
	done  chan struct{} // closed when reply (or alone) is set
	reply Reply
	// alone asks the request to run in a transaction of its own: its
	// group could not run as one.
	alone bool
	// answered: done is closed. Only the group's leader answers.
	answered bool
}

// answer gives the member its reply.
func (m *member) answer(r Reply) {
	m.reply, m.answered = r, true
	close(m.done)
}

// runAlone tells the member to run in a transaction of its own.
func (m *member) runAlone() {
	m.alone, m.answered = true, true
	close(m.done)
}

// join adds m to the group forming, or starts one with m as its leader.
func (c *coalescer) join(m *member) (g *group, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil {
		c.open = &group{full: make(chan struct{})}
		leader = true
	}
	g = c.open
	g.members = append(g.members, m)
	if len(g.members) >= c.cfg.MaxGroup {
		c.open = nil // full: the next request starts the next group
		close(g.full)
	}
	return g, leader
}

// seal closes g to new members and returns them, in the order they came.
func (c *coalescer) seal(g *group) []*member {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == g {
		c.open = nil
	}
	return g.members
}

// acquire waits until fewer than limit groups run, and counts one more.
// Groups start in the order their leaders came: a group that waited is
// never overtaken.
func (c *coalescer) acquire() {
	c.mu.Lock()
	if c.running < c.limit && len(c.waiting) == 0 {
		c.running++
		c.mu.Unlock()
		return
	}
	turn := make(chan struct{})
	c.waiting = append(c.waiting, turn)
	c.mu.Unlock()
	<-turn // release counted us as running
}

// release counts a group that ended and lets the groups waiting start,
// oldest first, while fewer than limit run. Groups that run at once can
// lock the same rows in different orders and deadlock; so a group that
// had to run again halves the limit, and cleanToGrow groups in a row
// without a retry raise it by one, up to MaxGroups.
func (c *coalescer) release(retried bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running--
	switch {
	case retried:
		c.limit, c.clean = max(1, c.limit/2), 0
	case c.limit < c.cfg.MaxGroups:
		if c.clean++; c.clean >= cleanToGrow {
			c.limit, c.clean = c.limit+1, 0
		}
	}
	c.startWaiting()
}

// startWaiting starts the groups waiting, oldest first, while fewer than
// limit run. c.mu is held.
func (c *coalescer) startWaiting() {
	for c.running < c.limit && len(c.waiting) > 0 {
		c.running++
		close(c.waiting[0])
		c.waiting[0] = nil
		c.waiting = c.waiting[1:]
	}
}

// giveBack counts a group that is stuck as ended, without a verdict on
// the limit, and lets the groups waiting start (see release).
func (c *coalescer) giveBack() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running--
	c.startWaiting()
}

// forming returns how many members g has if it still takes more, else 0.
func (c *coalescer) forming(g *group) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open != g {
		return 0
	}
	return len(g.members)
}

// groupCommit is group commit: it forms the groups of the operations
// that coalesce and runs each group as one transaction. The executor
// calls it once per request (run); it runs each member's body with the
// executor's attempt, and a request that cannot run in a group with the
// executor's transact.
type groupCommit struct {
	e    *Executor
	cfg  CoalesceConfig
	byOp map[string]*coalescer // the operations that coalesce
}

// newGroupCommit returns the group commit of reg's operations that
// coalesce (none when cfg.MaxGroup is 1).
func newGroupCommit(e *Executor, reg *dbapi.Registry, cfg CoalesceConfig) *groupCommit {
	gc := &groupCommit{e: e, cfg: cfg, byOp: map[string]*coalescer{}}
	if cfg.MaxGroup > 1 {
		for _, op := range reg.Operations() {
			if op.Coalesce {
				gc.byOp[op.Name] = newCoalescer(cfg)
			}
		}
	}
	return gc
}

// coalesces reports whether the requests of op share transactions.
func (gc *groupCommit) coalesces(op string) bool { return gc.byOp[op] != nil }

// waiting returns how many requests may wait in forming groups at once,
// holding a worker but no connection: MaxGroup × MaxGroups when an
// operation coalesces, else none.
func (gc *groupCommit) waiting() int {
	if len(gc.byOp) == 0 {
		return 0
	}
	return gc.cfg.MaxGroup * gc.cfg.MaxGroups
}

// run runs the request in a group with the other requests for op waiting
// at the same time, and returns its own reply once the group committed
// (or failed).
func (gc *groupCommit) run(ctx context.Context, op dbapi.Operation, body []byte, hooks []TxHook) Reply {
	c := gc.byOp[op.Name]
	m := &member{ctx: ctx, body: body, hooks: hooks, done: make(chan struct{})}
	g, leader := c.join(m)
	if leader {
		gc.lead(c, g, op)
	}
	<-m.done
	if m.alone {
		return gc.e.transact(ctx, gc.e.runner, op, body, hooks)
	}
	return m.reply
}

// lead waits for a slot for the group g it leads, seals it, and runs it.
// However that ends, even in a panic of our own code, the slot is given
// back and every member is answered: the members count on their leader.
func (gc *groupCommit) lead(c *coalescer, g *group, op dbapi.Operation) {
	retried := false
	c.acquire()
	var once sync.Once
	defer func() {
		p := recover()
		once.Do(func() { c.release(retried) })
		for _, m := range c.seal(g) {
			if !m.answered {
				m.answer(ErrorReply(dbapi.PanicError("in group commit", p)))
			}
		}
	}()
	// Wait for a slot. Not for ctx: the members who joined count on the
	// leader; a member whose deadline passes meanwhile is answered
	// without running.
	if c.cfg.MaxWait > 0 && c.forming(g) > 1 {
		t := time.NewTimer(c.cfg.MaxWait)
		select {
		case <-g.full:
		case <-t.C:
		}
		t.Stop()
	}
	ms := c.seal(g)
	if c.cfg.OnGroup != nil {
		c.cfg.OnGroup(op.Name, len(ms))
	}
	// A group still running stuckAfter past its members' last deadline
	// waits for what no deadline cuts off: a COMMIT the server does not
	// answer (until the connection's read timeout). It gives its slot
	// back then, so that it holds up its own members only, not every
	// later group of its operation.
	if last, ok := lastDeadline(ms); ok {
		t := time.AfterFunc(time.Until(last)+stuckAfter, func() { once.Do(c.giveBack) })
		defer t.Stop()
	}
	retried = gc.runGroup(op, ms)
}

// stuckAfter is how long past its members' last deadline a group may run
// before it gives its slot back: a COMMIT sent just before the deadline
// normally ends well within it.
const stuckAfter = time.Second

// lastDeadline returns the latest deadline of ms, and false if one has
// none.
func lastDeadline(ms []*member) (time.Time, bool) {
	var last time.Time
	for _, m := range ms {
		d, ok := m.ctx.Deadline()
		if !ok {
			return time.Time{}, false
		}
		if d.After(last) {
			last = d
		}
	}
	return last, !last.IsZero()
}

var (
	// errMemberPanicked ends a group's attempt whose member panicked.
	errMemberPanicked = errors.New("a request of the group panicked")
	// errNeedSavepoints ends a group's attempt without savepoints when a
	// member fails.
	errNeedSavepoints = errors.New("a request of the group failed; running the group again with savepoints")
)

// runGroup runs ms in one transaction and answers each. It reports
// whether the transaction had to run again after a conflict (a deadlock,
// a lock wait timeout).
//
// A SAVEPOINT costs a round trip per request, and is needed only if a
// request fails. So the group first runs without them; if a request fails
// (its error would leave the others' work in place), the whole attempt
// rolls back and the group runs again with a savepoint before each
// request. Only the attempt that commits decides the replies.
func (gc *groupCommit) runGroup(op dbapi.Operation, ms []*member) (retried bool) {
	// Answer the members whose deadline passed while they waited.
	live := ms[:0:0]
	for _, m := range ms {
		if m.ctx.Err() != nil {
			m.answer(ErrorReply(errWaitedTooLong))
			continue
		}
		live = append(live, m)
	}
	ms = live
	if len(ms) == 0 {
		return false
	}
	if len(ms) == 1 {
		m := ms[0]
		m.answer(gc.e.transact(m.ctx, gc.e.runner, op, m.body, m.hooks))
		return false
	}
	hooks := false
	for _, m := range ms {
		hooks = hooks || len(m.hooks) > 0
	}
	gctx, cancel := groupContext(ms)
	defer cancel()
	start := time.Now()
	replies := make([]Reply, len(ms))
	panicked := -1
	savepoints := false
	attempts := 0
	body := func(ctx context.Context, tx *sqlx.Tx) error {
		attempts++
		for i, m := range ms {
			r, err := gc.member(ctx, tx, op, m, savepoints)
			if errors.Is(err, errMemberPanicked) {
				panicked, replies[i] = i, r
				return err
			}
			if err != nil {
				return err
			}
			replies[i] = r
		}
		return nil
	}
	opts := txOptions(op, hooks)
	var pos *replica.Position
	if gc.e.cfg.Replicas != nil {
		opts, pos = gc.e.positioned(opts, func() bool {
			for _, r := range replies {
				if r.Replayed {
					return true
				}
			}
			return false
		})
	}
	err := gc.e.runner.Run(gctx, opts, body)
	retried = attempts > 1
	if errors.Is(err, errNeedSavepoints) {
		savepoints, attempts = true, 0
		err = gc.e.runner.Run(gctx, opts, body)
		retried = retried || attempts > 1
	}
	elapsed := time.Since(start)
	switch {
	case err == nil:
		for i, m := range ms {
			r := replies[i]
			r.TxTime = elapsed
			stamp(&r, pos)
			m.answer(r)
		}
	case panicked >= 0:
		// Nothing committed. The request that panicked gets its 500; the
		// others run again as a group without it.
		r := replies[panicked]
		r.TxTime = elapsed
		ms[panicked].answer(r)
		rest := append(ms[:panicked:panicked], ms[panicked+1:]...)
		return gc.runGroup(op, rest) || retried
	case splits(err):
		// The group kept deadlocking, retries and all, or lost its
		// connection: nothing committed, so each request gets its own
		// transaction and its own retries.
		for _, m := range ms {
			m.runAlone()
		}
	default:
		// A timeout, an unreachable database or a COMMIT whose outcome is
		// unknown: what the group's transaction met, every request met.
		r := ErrorReply(err)
		r.TxTime = elapsed
		for _, m := range ms {
			m.answer(r)
		}
	}
	return retried
}

// member runs one request of a group, under its savepoint if savepoints
// is set. A nil error means the request is answered by r and the group
// goes on (with the request's work kept or rolled back to its savepoint);
// an error ends the group's attempt. A panic in the request's operation
// ends it with errMemberPanicked and the request's 500 reply.
func (gc *groupCommit) member(ctx context.Context, tx *sqlx.Tx, op dbapi.Operation, m *member, savepoints bool) (r Reply, err error) {
	if m.ctx.Err() != nil {
		return ErrorReply(txrunner.Classify(m.ctx.Err())), nil
	}
	if savepoints {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT "+savepoint); err != nil {
			return Reply{}, fmt.Errorf("savepoint: %w", err)
		}
	}
	r, err = func() (r Reply, err error) {
		defer func() {
			if p := recover(); p != nil {
				r, err = ErrorReply(dbapi.PanicError("in transaction", p)), errMemberPanicked
			}
		}()
		return gc.e.attempt(memberContext{Context: ctx, values: m.ctx}, tx, op.Run, m.body, m.hooks)
	}()
	if err == nil && m.ctx.Err() != nil {
		// The request's deadline passed while it ran: as alone, it does
		// not commit.
		err = m.ctx.Err()
	}
	if err == nil {
		return r, nil
	}
	if errors.Is(err, errMemberPanicked) || txrunner.Aborts(err) && !errors.Is(err, m.ctx.Err()) {
		return r, err
	}
	if !savepoints {
		return Reply{}, errNeedSavepoints
	}
	if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+savepoint); rerr != nil {
		return Reply{}, fmt.Errorf("rollback to savepoint: %w", rerr)
	}
	return ErrorReply(txrunner.Classify(err)), nil
}

// splits reports whether a group that failed with err should run its
// requests one by one, each in a transaction of its own with its own
// retries: nothing committed, and err is a conflict the protocol's table
// calls retryable (a deadlock, a lock wait timeout, which fewer requests
// per transaction may avoid), or the database was unavailable (a lost
// connection: the server rolled the transaction back).
func splits(err error) bool {
	e := dbapi.AsError(err)
	switch e.Kind {
	case dbapi.ECONFLICT:
		return protocol.Lookup(e.Kind, e.ErrorCode()).Retryable
	case dbapi.EUNAVAILABLE:
		return true
	}
	return false
}

// groupContext returns the context of a group's transaction: it lasts
// until the latest deadline of its members, carries the first member's
// values (for the transaction's trace and logs), and is cancelled once
// every member's context is cancelled (when the service gives up on
// them all). A member's own deadline is checked around its own part.
func groupContext(ms []*member) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ms[0].ctx)
	var ctx context.Context
	var cancel context.CancelFunc
	if last, ok := lastDeadline(ms); ok {
		ctx, cancel = context.WithDeadline(base, last)
	} else {
		ctx, cancel = context.WithCancel(base)
	}
	var mu sync.Mutex
	left := len(ms)
	stops := make([]func() bool, len(ms))
	for i, m := range ms {
		stops[i] = context.AfterFunc(m.ctx, func() {
			if !errors.Is(m.ctx.Err(), context.Canceled) {
				return // its deadline passed; the member is skipped or rolled back
			}
			mu.Lock()
			left--
			all := left == 0
			mu.Unlock()
			if all {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// memberContext is the context a member's operation runs with: the
// group's deadline and cancellation (a member's own deadline must not cut
// a statement off and break the connection every member uses), and the
// member's own values (its trace and request id).
type memberContext struct {
	context.Context
	values context.Context
}

func (c memberContext) Value(key any) any { return c.values.Value(key) }
