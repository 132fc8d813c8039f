package replica

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Read-your-writes: a read with the write's position runs on the replica
// once it has the write; with the replica's SQL thread stopped or its
// apply delayed, the same read goes to the primary and sees the write,
// while the replica itself does not have it.
func TestReadYourWrites(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	// A MaxLag far above the delay below keeps the delayed replica
	// healthy, so that Pick has to wait for the position itself.
	wait := 150 * time.Millisecond
	s := e.open(Config{Wait: wait, MaxLag: time.Minute})
	rep := e.repl.Replicas[0]
	if st := s.States()[0]; !st.Healthy() || st.Lag < 0 || st.Replica != rep.Addr() || st.Checked.IsZero() {
		t.Fatalf("after Open: %s", st)
	}
	if sum := s.Summary(); !strings.Contains(sum, rep.Addr()+" ok (lag ") {
		t.Errorf("summary %q", sum)
	}

	// The replica current: the read runs there and sees the write.
	id, pos := e.write(s)
	after, err := ParsePosition(pos.Token())
	if err != nil {
		t.Fatal(err)
	}
	r, route := s.Pick(ctx, after)
	if r == nil || route != RouteReplica || !has(t, r.DB(), id) {
		t.Fatalf("replica current: %v %s", r, route)
	}

	for _, fault := range []struct {
		name       string
		start, end func(context.Context) error
	}{
		{"MASTER_DELAY", func(ctx context.Context) error { return rep.SetDelay(ctx, 2*time.Second) },
			func(ctx context.Context) error { return rep.SetDelay(ctx, 0) }},
		{"SQL thread stopped", rep.StopSQLThread, rep.StartSQLThread},
	} {
		t.Run(fault.name, func(t *testing.T) {
			if err := fault.start(ctx); err != nil {
				t.Fatal(err)
			}
			id, pos := e.write(s)
			// Without the position a read may run on the replica, which
			// does not have the write.
			if has(t, s.Replicas()[0].DB(), id) {
				t.Fatal("the replica has the write at once: the fault did nothing")
			}
			start := time.Now()
			r, route := s.Pick(ctx, pos)
			if r != nil || route == RouteReplica {
				t.Fatalf("Pick with the write's position chose the replica (%s)", route)
			}
			if route == RouteBehind && time.Since(start) < wait*9/10 {
				t.Errorf("Pick gave up after %s; Wait is %s", time.Since(start), wait)
			}
			if !has(t, e.primary, id) {
				t.Fatal("the primary lacks the write")
			}
			if err := fault.end(ctx); err != nil {
				t.Fatal(err)
			}
			st := waitStatus(t, s, 0, StatusOK)
			// Once the replica has applied the write (on a loaded machine
			// that can take longer than Wait), the read runs there.
			for deadline := time.Now().Add(30 * time.Second); !has(t, s.Replicas()[0].DB(), id) && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			r, route = s.Pick(ctx, pos)
			if r == nil || route != RouteReplica || !has(t, r.DB(), id) {
				t.Fatalf("after the fault (%s): %v %s", st, r, route)
			}
		})
	}
	if s.Count(RouteReplica) < 3 || s.Count(RouteBehind)+s.Count(RouteNoReplica) < 2 {
		t.Errorf("counts: replica %d, behind %d, no replica %d", s.Count(RouteReplica), s.Count(RouteBehind), s.Count(RouteNoReplica))
	}
}

// A stopped SQL thread or stopped replication takes the replica out of
// the reads, and its lag keeps growing while the primary takes writes.
// The replica's account has SELECT on the database only, so the threads
// are read from Slave_running.
func TestNotReplicating(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	var checks atomic.Int64
	s := e.open(Config{DSNs: []string{e.dsn(0, true)}, MaxLag: 200 * time.Millisecond,
		OnCheck: func(State) { checks.Add(1) }})
	rep := e.repl.Replicas[0]
	if st := s.States()[0]; !st.Healthy() {
		t.Fatalf("as reader: %s", st)
	}
	stop := writeEvery(e, s, 20*time.Millisecond)
	defer stop()

	for _, fault := range []struct {
		name       string
		start, end func(context.Context) error
	}{
		{"SQL thread stopped", rep.StopSQLThread, rep.StartSQLThread},
		{"replication stopped", rep.StopReplication, rep.StartReplication},
	} {
		t.Run(fault.name, func(t *testing.T) {
			if err := fault.start(ctx); err != nil {
				t.Fatal(err)
			}
			st := waitStatus(t, s, 0, StatusNotReplicating)
			if !strings.Contains(st.Detail, "Slave_running is OFF") {
				t.Errorf("detail %q", st.Detail)
			}
			if r, route := s.Pick(ctx, Position{}); r != nil || route != RouteNoReplica {
				t.Errorf("Pick while not replicating: %v %s", r, route)
			}
			// The lag grows past the bound.
			deadline := time.Now().Add(10 * time.Second)
			for s.States()[0].Lag < 500*time.Millisecond {
				if time.Now().After(deadline) {
					t.Fatalf("lag stays at %s", s.States()[0])
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := fault.end(ctx); err != nil {
				t.Fatal(err)
			}
			waitStatus(t, s, 0, StatusOK)
			if r, route := s.Pick(ctx, Position{}); r == nil || route != RouteReplica {
				t.Errorf("Pick once replicating: %v %s", r, route)
			}
		})
	}
	if checks.Load() < 10 {
		t.Errorf("OnCheck called %d times", checks.Load())
	}
}

// writeEvery commits a row on the primary every d until stop is called.
func writeEvery(e *env, s *Set, d time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(d):
			}
			if _, err := e.primary.Exec("INSERT INTO app.t VALUES (?)", nextID.Add(1)); err != nil {
				e.t.Error(err)
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// Reads go to the replicas in turn; a replica that lags past MaxLag gets
// none until it catches up, and its lag, reported through OnCheck, grows
// past the bound.
func TestLagging(t *testing.T) {
	e := newEnv(t, 2)
	ctx := context.Background()
	maxLag := 300 * time.Millisecond
	var mu sync.Mutex
	maxSeen := map[string]time.Duration{}
	s := e.open(Config{MaxLag: maxLag, OnCheck: func(st State) {
		mu.Lock()
		maxSeen[st.Replica] = max(maxSeen[st.Replica], st.Lag)
		mu.Unlock()
	}})
	picks := func() map[*Replica]int {
		out := map[*Replica]int{}
		for range 10 {
			r, _ := s.Pick(ctx, Position{})
			out[r]++
		}
		return out
	}
	r0, r1 := s.Replicas()[0], s.Replicas()[1]
	if p := picks(); p[r0] != 5 || p[r1] != 5 {
		t.Errorf("10 picks: %d on replica 0, %d on replica 1; want turns", p[r0], p[r1])
	}

	stop := writeEvery(e, s, 20*time.Millisecond)
	defer stop()
	if err := e.repl.Replicas[0].SetDelay(ctx, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, s, 0, StatusLagging)
	if st.Lag <= maxLag || !strings.Contains(st.Detail, "within 300ms") {
		t.Errorf("lagging: %s", st)
	}
	if p := picks(); p[r1] != 10 {
		t.Errorf("10 picks with replica 0 lagging: %v", p)
	}
	// The lag grows towards the delay, and the replica stays out.
	deadline := time.Now().Add(10 * time.Second)
	for st = s.States()[0]; st.Lag < time.Second; st = s.States()[0] {
		if time.Now().After(deadline) || st.Status != StatusLagging {
			t.Fatalf("replica 0 delayed by 2s: %s", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := s.States()[1]; !st.Healthy() || st.Lag > maxLag {
		t.Errorf("replica 1: %s", st)
	}
	if err := e.repl.Replicas[0].SetDelay(ctx, 0); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s, 0, StatusOK)
	mu.Lock()
	defer mu.Unlock()
	if maxSeen[r0.Name()] < time.Second || maxSeen[r1.Name()] > maxLag {
		t.Errorf("largest lags seen: %v", maxSeen)
	}
}

// A replica killed with -9 under a read load: no read fails (each one a
// replica fails runs again on the primary), reads move to the primary and
// back once the replica is up again. A replica down when the Set opens is
// no error either.
func TestReplicaKilledUnderLoad(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	s := e.open(Config{})
	rep := e.repl.Replicas[0]

	var onReplica, onPrimary, failed atomic.Int64
	read := func() {
		r, _ := s.Pick(ctx, Position{})
		if r != nil {
			var n int
			err := r.DB().GetContext(ctx, &n, "SELECT COUNT(*) FROM app.t")
			if err == nil {
				onReplica.Add(1)
				return
			}
			r.Failed(err)
		}
		var n int
		if err := e.primary.GetContext(ctx, &n, "SELECT COUNT(*) FROM app.t"); err != nil {
			failed.Add(1)
			t.Errorf("read on the primary: %v", err)
			return
		}
		onPrimary.Add(1)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				read()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	before := onReplica.Load()
	if before == 0 {
		t.Fatal("no read ran on the replica")
	}
	if err := rep.Kill(); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, s, 0, StatusDown)
	primaryBefore := onPrimary.Load()
	time.Sleep(300 * time.Millisecond)
	if onPrimary.Load() == primaryBefore {
		t.Errorf("no read ran on the primary while the replica was down (%s)", st)
	}
	if err := rep.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s, 0, StatusOK)
	replicaAgain := onReplica.Load()
	time.Sleep(300 * time.Millisecond)
	close(done)
	wg.Wait()
	if onReplica.Load() == replicaAgain {
		t.Error("no read ran on the replica once it was back")
	}
	if failed.Load() != 0 {
		t.Errorf("%d reads failed", failed.Load())
	}
	t.Logf("reads: %d on the replica, %d on the primary; routes: replica %d, no replica %d, failed %d",
		onReplica.Load(), onPrimary.Load(), s.Count(RouteReplica), s.Count(RouteNoReplica), s.Count(RouteFailed))
	if s.Count(RouteNoReplica) == 0 {
		t.Error("no read was sent to the primary for want of a replica")
	}
	s.Close()

	// Down when the Set opens: no error, no reads, and reads once it is up.
	if err := rep.Kill(); err != nil {
		t.Fatal(err)
	}
	s = e.open(Config{})
	if st := s.States()[0]; st.Status != StatusDown || st.Lag != -1 || s.Replicas()[0].DB() != nil {
		t.Errorf("opened with the replica down: %s", st)
	}
	if r, route := s.Pick(ctx, Position{}); r != nil || route != RouteNoReplica {
		t.Errorf("Pick: %v %s", r, route)
	}
	if err := rep.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s, 0, StatusOK)
	if r, _ := s.Pick(ctx, Position{}); r == nil || r.DB() == nil {
		t.Error("no replica once it is up")
	}
}

// A position the replica was seen to apply needs no round trip: Pick
// answers from what the checks and earlier waits learnt.
func TestKnownPositionNeedsNoWait(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	s := e.open(Config{MaxLag: time.Minute, Wait: DefaultWait})
	_, pos := e.write(s)
	if r, route := s.Pick(ctx, pos); r == nil || route != RouteReplica {
		t.Fatalf("Pick: %v %s", r, route)
	}
	r := s.Replicas()[0]
	if !r.knows(pos) {
		t.Fatal("the replica does not know a position it was seen to apply")
	}
	// With the SQL thread stopped the replica is out at the next check;
	// until then a known position still chooses it without asking it.
	var waits int
	if err := r.DB().GetContext(ctx, &waits, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'MASTER_GTID_WAIT_COUNT'"); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if r, route := s.Pick(ctx, pos); r == nil || route != RouteReplica {
			t.Fatalf("Pick with a known position: %v %s", r, route)
		}
	}
	var after int
	if err := r.DB().GetContext(ctx, &after, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'MASTER_GTID_WAIT_COUNT'"); err != nil {
		t.Fatal(err)
	}
	// The checks wait too (every 100ms): allow theirs, not five.
	if after-waits >= 5 {
		t.Errorf("MASTER_GTID_WAIT ran %d times for 5 picks of a known position", after-waits)
	}
}

// A replica's password appears in no log line, state or summary, whether
// the replica refuses it or cannot be reached.
func TestPasswordsNeverShown(t *testing.T) {
	e := newEnv(t, 1)
	var logs strings.Builder
	var mu sync.Mutex
	wrong := strings.Replace(e.dsn(0, true), "reader-secret", "wrong-secret", 1)
	closed := "reader:closed-secret@tcp(127.0.0.1:1)/app?timeout=1s"
	s := e.open(Config{DSNs: []string{wrong, closed},
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))})
	for i, st := range s.States() {
		if st.Status != StatusDown || !strings.Contains(st.Detail, "connect to MySQL") {
			t.Errorf("replica %d: %s", i, st)
		}
	}
	mu.Lock()
	out := logs.String() + s.Summary()
	mu.Unlock()
	if strings.Contains(out, "secret") || !strings.Contains(out, "127.0.0.1:1 ") {
		t.Errorf("logs and summary:\n%s", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A shared read of the primary's position covers the commit of every
// caller (each checked against its own @@last_gtid), and concurrent
// callers share reads.
func TestSharedPosition(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	s := e.open(Config{})
	sp := NewSharedPosition(e.positionPool(), s.Flavour())
	const writers, each = 16, 50
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := e.primary.Connx(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			for range each {
				if _, err := conn.ExecContext(ctx, "INSERT INTO app.t VALUES (?)", nextID.Add(1)); err != nil {
					t.Error(err)
					return
				}
				own, err := ReadPosition(ctx, conn, s.Flavour())
				if err != nil {
					t.Error(err)
					return
				}
				shared, err := sp.After(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if !covers(shared, own) {
					t.Errorf("shared position %s does not cover the commit %s", shared.GTID(), own.GTID())
					return
				}
			}
		}()
	}
	wg.Wait()
	sp.mu.Lock()
	reads := sp.reads
	sp.mu.Unlock()
	t.Logf("%d calls, %d reads", writers*each, reads)
	if reads >= writers*each {
		t.Errorf("%d reads for %d calls: none shared", reads, writers*each)
	}
	// A session's @@last_gtid is its own last commit: on another
	// connection than the write's it misses the write, which
	// PrimaryPosition covers (the replay case).
	other, err := e.primary.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, "INSERT INTO app.t VALUES (?)", nextID.Add(1)); err != nil {
		t.Fatal(err)
	}
	_, write := e.write(s) // on another connection: other is held
	if last, err := ReadPosition(ctx, other, s.Flavour()); err != nil || covers(last, write) {
		t.Errorf("another session's @@last_gtid %q covers the write %q (%v)", last.GTID(), write.GTID(), err)
	}
	if global, err := PrimaryPosition(ctx, other, s.Flavour()); err != nil || !covers(global, write) {
		t.Errorf("PrimaryPosition %q does not cover the write %q (%v)", global.GTID(), write.GTID(), err)
	}

	// A caller that gives up gets its context's error.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := sp.After(cancelled); err == nil {
		t.Error("After with a cancelled context succeeded")
	}
}
