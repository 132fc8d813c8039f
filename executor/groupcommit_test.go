package executor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/schema"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// groupEnv is an executor whose operation g.put coalesces, on a database
// of the test's own with one table, g. A request can be told to fail in
// several ways after it wrote its row, so that tests can see whether its
// row survived the group.
type groupEnv struct {
	db   *sqlx.DB
	exec *executor.Executor

	mu      sync.Mutex
	sizes   []int          // every group's size, in the order they ran
	calls   map[string]int // runs of g.put's body, by key
	retries atomic.Int64

	started chan struct{} // a "block" request is running
	release chan struct{} // lets it go on
	// unknown, when set, makes the runner report a successful COMMIT's
	// outcome as unknown, as when the connection breaks during COMMIT.
	unknown atomic.Bool
	// panicOn, when not zero, makes the OnGroup callback panic for a
	// group of that size, as a bug in what the leader runs would.
	panicOn atomic.Int64
}

type putParams struct {
	K    string `json:"k"`
	Mode string `json:"mode,omitempty"`
}

func newGroupEnv(t *testing.T, cfg executor.Config, rcfg txrunner.Config) *groupEnv {
	t.Helper()
	db, _ := dbtest.New(t, schema.OwnSet())
	if _, err := db.Exec("CREATE TABLE g (k VARCHAR(64) PRIMARY KEY, seen INT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	e := &groupEnv{db: db, calls: map[string]int{}, started: make(chan struct{}), release: make(chan struct{})}
	put := func(ctx context.Context, tx *sqlx.Tx, raw json.RawMessage) (any, error) {
		var p putParams
		if err := dbapi.DecodeParams(raw, &p); err != nil {
			return nil, err
		}
		e.mu.Lock()
		e.calls[p.K]++
		call := e.calls[p.K]
		e.mu.Unlock()
		if p.Mode == "block" {
			e.started <- struct{}{}
			<-e.release
		}
		// seen: how many rows this request's transaction saw before it
		// wrote its own (the requests before it in its group).
		var seen int
		if err := tx.GetContext(ctx, &seen, "SELECT COUNT(*) FROM g"); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO g (k, seen) VALUES (?, ?)", p.K, seen); err != nil {
			return nil, err
		}
		switch p.Mode {
		case "fail":
			return nil, dbapi.CodeErrorf(dbapi.ECONFLICT, "refused", "refused after writing")
		case "dup":
			_, err := tx.ExecContext(ctx, "INSERT INTO g (k, seen) VALUES (?, 0)", p.K)
			return nil, err
		case "panic":
			panic("g.put was told to panic")
		case "deadlock once", "deadlock twice":
			if call == 1 || call == 2 && p.Mode == "deadlock twice" {
				return nil, &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock (made by the test)"}
			}
		case "kill once":
			if call == 1 {
				// The connection dies under the group, as when the
				// database restarts or a proxy cuts it; the next
				// statement finds it gone.
				tx.ExecContext(ctx, "KILL CONNECTION CONNECTION_ID()")
				_, err := tx.ExecContext(ctx, "DO 1")
				return nil, err
			}
		case "slow":
			if _, err := tx.ExecContext(ctx, "DO SLEEP(0.3)"); err != nil {
				return nil, err
			}
		}
		return map[string]any{"k": p.K, "seen": seen}, nil
	}
	reg, err := dbapi.NewRegistry(dbapi.Operation{Name: "g.put", Run: put, Coalesce: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Coalesce.OnGroup = func(op string, n int) {
		e.mu.Lock()
		e.sizes = append(e.sizes, n)
		e.mu.Unlock()
		if int64(n) == e.panicOn.Load() {
			panic("OnGroup was told to panic")
		}
	}
	rcfg.Logger = quiet
	rcfg.OnRetry = func(string) { e.retries.Add(1) }
	e.exec = executor.New(&unknownRunner{Runner: txrunner.New(db, rcfg), env: e}, reg, cfg)
	return e
}

// unknownRunner turns a committed transaction's success into an unknown
// outcome when the test says so.
type unknownRunner struct {
	*txrunner.Runner
	env *groupEnv
}

func (r *unknownRunner) Run(ctx context.Context, opts txrunner.Options, fn txrunner.Func) error {
	err := r.Runner.Run(ctx, opts, fn)
	if err == nil && r.env.unknown.Load() {
		return &dbapi.Error{Kind: dbapi.ECOMMITUNKNOWN, Message: "the commit was sent but its result was lost (made by the test)"}
	}
	return err
}

// inGroup runs reqs as one group: a "block" request first takes the
// operation's only running slot (MaxGroups 1, a long MaxWait), so that
// reqs gather in the next group, which starts once all have joined and
// the blocker is let go. It returns the replies in the order of reqs.
func (e *groupEnv) inGroup(t *testing.T, reqs ...executor.Request) []executor.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	blocked := make(chan executor.Reply, 1)
	go func() {
		blocked <- e.exec.Execute(ctx, executor.Request{Op: "g.put", Body: []byte(`{"k":"blocker","mode":"block"}`)})
	}()
	<-e.started
	replies := make([]executor.Reply, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = e.exec.Execute(ctx, req)
		}()
	}
	for e.exec.Forming("g.put") < len(reqs) {
		time.Sleep(time.Millisecond)
	}
	close(e.release)
	wg.Wait()
	if r := <-blocked; r.Code != "ok" {
		t.Fatalf("blocker: %s %s", r.Code, r.Body)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !slices.Contains(e.sizes, len(reqs)) {
		t.Fatalf("group sizes %v: the requests did not run as one group of %d", e.sizes, len(reqs))
	}
	return replies
}

func put(k, mode string) executor.Request {
	return executor.Request{Op: "g.put", Body: fmt.Appendf(nil, `{"k":%q,"mode":%q}`, k, mode)}
}

// rows returns the keys in g, but the blocker's.
func (e *groupEnv) rows(t *testing.T) []string {
	t.Helper()
	var ks []string
	if err := e.db.Select(&ks, "SELECT k FROM g WHERE k <> 'blocker' ORDER BY k"); err != nil {
		t.Fatal(err)
	}
	return ks
}

func groupConfig(n int) executor.Config {
	return executor.Config{Coalesce: executor.CoalesceConfig{MaxGroup: n + 1, MaxGroups: 1}}
}

func TestGroupFailuresStayWithTheirRequest(t *testing.T) {
	e := newGroupEnv(t, groupConfig(7), txrunner.Config{})
	replies := e.inGroup(t,
		put("a", ""), put("b", "fail"), put("c", ""), put("d", "dup"), put("e", ""), put("f", "panic"), put("g", ""))
	want := map[string]string{"a": "ok", "b": "refused", "c": "ok", "d": "duplicate", "e": "ok", "f": "internal", "g": "ok"}
	for i, r := range replies {
		k := string(rune('a' + i))
		if r.Code != want[k] {
			t.Errorf("%s: code %s (%s), want %s", k, r.Code, r.Body, want[k])
		}
	}
	if got := e.rows(t); !slices.Equal(got, []string{"a", "c", "e", "g"}) {
		t.Errorf("rows %v: want exactly the successful requests' a, c, e, g", got)
	}
	// The group that met the panic ran again without f: f's body ran
	// once, the others' at most four times (a first attempt without
	// savepoints that a failure ends, one with them, twice over).
	for k, n := range e.calls {
		if k == "f" && n != 1 || k != "blocker" && (n < 1 || n > 4) {
			t.Errorf("runs %v: want f once and the others one to four times", e.calls)
			break
		}
	}
}

func TestGroupRequestsSeeTheOnesBefore(t *testing.T) {
	// In a group the requests run one after another: each sees the rows
	// of those before it that succeeded, whatever its place.
	e := newGroupEnv(t, groupConfig(5), txrunner.Config{})
	replies := e.inGroup(t, put("a", ""), put("b", ""), put("c", "fail"), put("d", ""), put("e", ""))
	var seen []int
	for _, r := range replies {
		if r.Code != "ok" {
			continue
		}
		var res struct{ Seen int }
		if err := json.Unmarshal(r.Body, &res); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, res.Seen)
	}
	// The blocker committed its row before the group began; the group's
	// four successful requests saw 1, 2, 3 and 4 rows, whichever came
	// first.
	slices.Sort(seen)
	if !slices.Equal(seen, []int{1, 2, 3, 4}) {
		t.Errorf("rows seen %v, want 1 2 3 4: each request sees exactly the successful ones before it", seen)
	}
}

// A group whose transaction fails as a whole runs again, or splits into
// one transaction per request; either way each request is applied once.
func TestGroupRunsAgain(t *testing.T) {
	tests := []struct {
		name        string
		mode        string // b's
		maxAttempts int
		check       func(t *testing.T, e *groupEnv)
	}{
		{"a deadlock runs the group again", "deadlock once", 0, func(t *testing.T, e *groupEnv) {
			if e.retries.Load() != 1 {
				t.Errorf("%d retries, want the group's one", e.retries.Load())
			}
		}},
		// Two attempts per transaction: b deadlocks in both of its
		// group's, then each request runs alone, and b's third run
		// succeeds.
		{"a group that keeps deadlocking splits", "deadlock twice", 2, func(t *testing.T, e *groupEnv) {
			if e.calls["b"] != 3 || e.calls["a"] < 1 || e.calls["a"] > 3 {
				t.Errorf("runs %v: want b three times (two group attempts, then alone)", e.calls)
			}
		}},
		{"a group that loses its connection splits", "kill once", 0, func(t *testing.T, e *groupEnv) {
			if e.calls["b"] != 2 {
				t.Errorf("runs %v: want b twice (in the group, then alone)", e.calls)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newGroupEnv(t, groupConfig(3), txrunner.Config{MaxAttempts: tt.maxAttempts})
			replies := e.inGroup(t, put("a", ""), put("b", tt.mode), put("c", ""))
			for i, r := range replies {
				if r.Code != "ok" {
					t.Errorf("request %d: %s %s", i, r.Code, r.Body)
				}
			}
			if got := e.rows(t); !slices.Equal(got, []string{"a", "b", "c"}) {
				t.Errorf("rows %v, want a b c once each", got)
			}
			tt.check(t, e)
		})
	}
}

func TestGroupDeadlinePassedInsideGroup(t *testing.T) {
	// b's deadline passes while it runs: b rolls back to its savepoint
	// and times out, the others commit.
	e := newGroupEnv(t, groupConfig(3), txrunner.Config{})
	b := put("b", "slow")
	b.Deadline = time.Now().Add(150 * time.Millisecond)
	replies := e.inGroup(t, put("a", ""), b, put("c", ""))
	if replies[1].Code != "timeout" {
		t.Errorf("b: %s %s, want timeout", replies[1].Code, replies[1].Body)
	}
	if replies[0].Code != "ok" || replies[2].Code != "ok" {
		t.Errorf("a %s, c %s: want ok", replies[0].Code, replies[2].Code)
	}
	if got := e.rows(t); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("rows %v, want a c", got)
	}
}

func TestGroupCommitOutcomeUnknownReachesEveryRequest(t *testing.T) {
	e := newGroupEnv(t, groupConfig(3), txrunner.Config{})
	e.unknown.Store(true)
	// The blocker runs alone and meets the unknown outcome too; inGroup
	// wants it ok, so let it through first.
	ctx := context.Background()
	blocked := make(chan executor.Reply, 1)
	go func() { blocked <- e.exec.Execute(ctx, put("blocker", "block")) }()
	<-e.started
	replies := make([]executor.Reply, 3)
	var wg sync.WaitGroup
	for i, k := range []string{"a", "b", "c"} {
		wg.Add(1)
		go func() { defer wg.Done(); replies[i] = e.exec.Execute(ctx, put(k, "")) }()
	}
	for e.exec.Forming("g.put") < 3 {
		time.Sleep(time.Millisecond)
	}
	close(e.release)
	wg.Wait()
	<-blocked
	for i, r := range replies {
		if r.Code != dbapi.ECOMMITUNKNOWN {
			t.Errorf("request %d: %s, want %s for every request of the group", i, r.Code, dbapi.ECOMMITUNKNOWN)
		}
	}
}

func TestGroupIdempotencyKeys(t *testing.T) {
	cfg := groupConfig(4)
	cfg.Idempotency = &idempotency.Store{TTL: time.Hour}
	e := newGroupEnv(t, cfg, txrunner.Config{})
	keyed := func(k, key string) executor.Request {
		r := put(k, "")
		r.IdempotencyKey = key
		return r
	}
	// x twice with one key: the second is a replay inside the group. y's
	// key is its own. z fails, so its key stays free for a retry.
	z := put("z", "fail")
	z.IdempotencyKey = "key-z"
	replies := e.inGroup(t, keyed("x", "key-x"), keyed("x", "key-x"), keyed("y", "key-y"), z)
	if replies[0].Code != "ok" || replies[1].Code != "ok" || replies[2].Code != "ok" || replies[3].Code != "refused" {
		t.Fatalf("codes %s %s %s %s", replies[0].Code, replies[1].Code, replies[2].Code, replies[3].Code)
	}
	if replies[0].Replayed == replies[1].Replayed {
		t.Errorf("replayed %v %v: want exactly one of the two x requests replayed", replies[0].Replayed, replies[1].Replayed)
	}
	if string(replies[0].Body) != string(replies[1].Body) {
		t.Errorf("x bodies differ: %s and %s", replies[0].Body, replies[1].Body)
	}
	if got := e.rows(t); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("rows %v, want x y", got)
	}
	// z's key was not stored: the same request, now succeeding, runs.
	z2 := put("z", "")
	z2.IdempotencyKey = "key-z"
	if r := e.exec.Execute(context.Background(), z2); r.Code != "ok" || r.Replayed {
		t.Errorf("z retried: %s replayed=%v, want a fresh ok", r.Code, r.Replayed)
	}
}

func TestGroupOff(t *testing.T) {
	// MaxGroup 1: no groups; every request runs alone, concurrently.
	e := newGroupEnv(t, executor.Config{Coalesce: executor.CoalesceConfig{MaxGroup: 1}}, txrunner.Config{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := e.exec.Execute(context.Background(), put(fmt.Sprint(i), "")); r.Code != "ok" {
				t.Errorf("%d: %s", i, r.Code)
			}
		}()
	}
	wg.Wait()
	if len(e.sizes) != 0 {
		t.Errorf("group sizes %v with coalescing off", e.sizes)
	}
}

// A panic in the leader's own work (here the OnGroup callback, which the
// metrics give) answers every member of the group with a 500, not only
// the leader, and gives the group's slot back for the groups after it.
func TestGroupPanicAnswersEveryMember(t *testing.T) {
	e := newGroupEnv(t, groupConfig(3), txrunner.Config{})
	e.panicOn.Store(3)
	done := make(chan []executor.Reply, 1)
	go func() { done <- e.inGroup(t, put("a", ""), put("b", ""), put("c", "")) }()
	select {
	case replies := <-done:
		for i, r := range replies {
			if r.Status != 500 || r.Code != "internal" {
				t.Errorf("request %d: %d %s %s; want 500 internal", i, r.Status, r.Code, r.Body)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the members of the group whose leader panicked got no reply within 10 s")
	}
	if got := e.rows(t); len(got) != 0 {
		t.Errorf("rows %v: the group did not run, so none", got)
	}
	// The slot was given back: the next request runs.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r := e.exec.Execute(ctx, put("d", "")); r.Code != "ok" {
		t.Errorf("the next request: %s %s", r.Code, r.Body)
	}
}

// A group stuck past its members' deadlines in what no deadline cuts off
// (here its request blocks without heeding its context; in life, a COMMIT
// the server does not answer) gives its slot back: it holds up its own
// members, not every later group of its operation.
func TestGroupStuckPastItsDeadlineGivesItsSlotBack(t *testing.T) {
	e := newGroupEnv(t, executor.Config{Coalesce: executor.CoalesceConfig{MaxGroup: 8, MaxGroups: 1}}, txrunner.Config{})
	ctx := context.Background()
	stuck := make(chan executor.Reply, 1)
	go func() {
		req := put("stuck", "block")
		req.Deadline = time.Now().Add(200 * time.Millisecond)
		stuck <- e.exec.Execute(ctx, req)
	}()
	<-e.started
	next := make(chan executor.Reply, 1)
	go func() {
		req := put("next", "")
		req.Deadline = time.Now().Add(30 * time.Second)
		next <- e.exec.Execute(ctx, req)
	}()
	ran := false
	select {
	case r := <-next:
		ran = true
		if r.Code != "ok" {
			t.Errorf("the request after the stuck group: %d %s %s; want ok", r.Status, r.Code, r.Body)
		}
	case <-time.After(20 * time.Second):
		t.Error("the request after the stuck group did not run within 20 s: the stuck group kept the operation's only slot")
	}
	select {
	case r := <-stuck:
		t.Errorf("the stuck request was answered (%s) before it was let go", r.Code)
	default:
	}
	close(e.release)
	if r := <-stuck; r.Code == "ok" {
		t.Errorf("the stuck request committed after its deadline: %s", r.Body)
	}
	if !ran {
		<-next // it runs once the stuck group ends
	}
	if got := e.rows(t); !slices.Equal(got, []string{"next"}) {
		t.Errorf("rows %v; want [next]: the stuck request's deadline had passed", got)
	}
}
