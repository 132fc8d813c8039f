package replica

import (
	"context"
	"sync"
	"time"
)

// sharedReadTimeout bounds one shared read, so that a primary that hangs
// does not hold the callers of every later read.
const sharedReadTimeout = 10 * time.Second

// SharedPosition reads the primary's position for many commits with one
// query: another way than ReadPosition to get a write's position, for a
// busy primary. Once COMMIT has returned, the primary's global position
// (MariaDB @@GLOBAL.gtid_binlog_pos, MySQL @@GLOBAL.gtid_executed)
// covers that commit, read on any connection; so the commits that ask at
// the same time share one read, started after all of them returned.
//
// What it costs instead: a position that also covers other sessions'
// concurrent commits (a read that waits for it may wait for those too,
// which a replica applying in order mostly has to anyway), and a write
// still waits about one round trip for the read. It is safe for
// concurrent use.
type SharedPosition struct {
	db      Querier
	flavour Flavour

	mu      sync.Mutex
	running bool        // a read is in flight
	next    *sharedRead // the read that starts once the one in flight ends
	reads   int         // reads made, for tests
}

// sharedRead is one read of the position and the callers that wait for it.
type sharedRead struct {
	done chan struct{}
	pos  Position
	err  error
}

// NewSharedPosition returns a SharedPosition reading on db, a pool on the
// primary, a server of flavour f (Set.Flavour). Give it a pool of its own
// (one connection is enough), not the requests' pool: a caller that
// still holds a connection of a full pool while it waits for the read
// would wait for the read's connection forever.
func NewSharedPosition(db Querier, f Flavour) *SharedPosition {
	return &SharedPosition{db: db, flavour: f}
}

// After returns a position of the primary that covers every commit that
// returned before After was called. Callers that arrive while a read is in
// flight (which may have started before their commit) wait for the next
// read, which they share.
func (s *SharedPosition) After(ctx context.Context) (Position, error) {
	s.mu.Lock()
	if s.next == nil {
		s.next = &sharedRead{done: make(chan struct{})}
	}
	r := s.next
	if !s.running {
		s.running = true
		go s.loop()
	}
	s.mu.Unlock()
	select {
	case <-r.done:
		return r.pos, r.err
	case <-ctx.Done():
		return Position{}, ctx.Err()
	}
}

// loop runs the pending reads one after another until none is pending.
func (s *SharedPosition) loop() {
	for {
		s.mu.Lock()
		r := s.next
		s.next = nil
		if r == nil {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.reads++
		s.mu.Unlock()
		// Not the callers' context: the read is theirs together, and one
		// that gives up must not fail the others.
		ctx, cancel := context.WithTimeout(context.Background(), sharedReadTimeout)
		r.pos, r.err = PrimaryPosition(ctx, s.db, s.flavour)
		cancel()
		close(r.done)
	}
}
