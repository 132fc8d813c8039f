package replica

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// latencies collects one duration per operation and reports p50 and p99.
type latencies []time.Duration

func (l *latencies) time(f func()) {
	start := time.Now()
	f()
	*l = append(*l, time.Since(start))
}

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	at := func(q float64) float64 { return float64(l[int(q*float64(len(l)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// BenchmarkReplica measures what positions cost on a primary and a GTID
// replica of this machine (loopback): reading @@last_gtid after a commit,
// MASTER_GTID_WAIT on a replica that is current, and the wait a read
// with a fresh write's position meets.
func BenchmarkReplica(b *testing.B) {
	e := newEnv(b, 1)
	ctx := context.Background()
	s := e.open(Config{CheckInterval: time.Second, Wait: time.Second})
	conn, err := e.primary.Connx(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	replicaDB := s.Replicas()[0].DB()
	insert := func(c *sqlx.Conn) {
		if _, err := c.ExecContext(ctx, "INSERT INTO app.t VALUES (?)", nextID.Add(1)); err != nil {
			b.Fatal(err)
		}
	}
	readPos := func(c *sqlx.Conn) Position {
		p, err := ReadPosition(ctx, c, s.Flavour())
		if err != nil || p.IsZero() {
			b.Fatalf("%v %v", p, err)
		}
		return p
	}
	applied := func(p Position) {
		ok, err := Applied(ctx, replicaDB, MariaDB, p, time.Second)
		if err != nil || !ok {
			b.Fatalf("not applied within 1s: %v", err)
		}
	}

	b.Run("commit", func(b *testing.B) {
		var l latencies
		for b.Loop() {
			l.time(func() { insert(conn) })
		}
		l.report(b)
	})
	b.Run("read_position", func(b *testing.B) {
		insert(conn)
		var l latencies
		for b.Loop() {
			l.time(func() { readPos(conn) })
		}
		l.report(b)
	})
	b.Run("commit+read_position", func(b *testing.B) {
		var l latencies
		for b.Loop() {
			l.time(func() { insert(conn); readPos(conn) })
		}
		l.report(b)
	})
	b.Run("wait_current", func(b *testing.B) {
		insert(conn)
		p := readPos(conn)
		applied(p)
		var l latencies
		for b.Loop() {
			l.time(func() { applied(p) })
		}
		l.report(b)
	})
	b.Run("wait_after_write", func(b *testing.B) {
		// The wait right after the write committed: what a client that
		// reads its own write at once meets.
		var l latencies
		for b.Loop() {
			insert(conn)
			p := readPos(conn)
			l.time(func() { applied(p) })
		}
		l.report(b)
	})
	b.Run("pick_known", func(b *testing.B) {
		insert(conn)
		p := readPos(conn)
		if r, _ := s.Pick(ctx, p); r == nil {
			b.Fatal("no replica")
		}
		var l latencies
		for b.Loop() {
			l.time(func() {
				if r, _ := s.Pick(ctx, p); r == nil {
					b.Fatal("no replica")
				}
			})
		}
		l.report(b)
	})
	// Under 32 concurrent writers, each on a connection of its own: what
	// reading the position adds to a write when the primary is busy.
	sp := NewSharedPosition(e.positionPool(), s.Flavour())
	for _, how := range []string{"", "+read_position", "+shared_position"} {
		b.Run("parallel32_commit"+how, func(b *testing.B) {
			var mu sync.Mutex
			var all latencies
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				c, err := e.primary.Connx(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				var l latencies
				for pb.Next() {
					l.time(func() {
						insert(c)
						switch how {
						case "+read_position":
							readPos(c)
						case "+shared_position":
							if _, err := sp.After(ctx); err != nil {
								b.Error(err)
							}
						}
					})
				}
				mu.Lock()
				all = append(all, l...)
				mu.Unlock()
			})
			all.report(b)
		})
	}
}
