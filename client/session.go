package client

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/dbapi-dev/dbapi/protocol"
)

// Session is a client that reads its own writes when the service reads
// from replicas: it remembers the last Dbapi-Position a reply carried (the
// position of a write it committed) and sends it as Dbapi-After with every
// later call, so that a read runs on a replica only once that replica has
// the write, and on the primary otherwise.
//
// Use a session for one user's flow whose reads must see that user's
// earlier writes across requests (save a profile, then show it). Other
// calls are better off without: a read with a position may wait on a
// replica for up to the service's DBAPI_REPLICA_WAIT, or run on the
// primary, which replicas are there to spare. Without replicas the
// service sends no positions and a session behaves as its Client.
//
// Calls of one session are meant to follow one another: of replies that
// arrive in another order than their calls, the session keeps the last to
// arrive, which may be the older position. A Session is safe for
// concurrent use all the same.
type Session struct {
	c   *Client
	mu  sync.Mutex
	pos string
}

// Session returns a new session of c, with no position yet.
func (c *Client) Session() *Session { return &Session{c: c} }

// Position returns the last position the session received ("" none), to
// carry a user's session across processes (a web session, say): a new
// Session given it by SetPosition continues where this one is.
func (s *Session) Position() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos
}

// SetPosition makes token (from Position) the session's position.
func (s *Session) SetPosition(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pos = token
}

// Call is Client.Call with the session's position sent as Dbapi-After;
// a reply's Dbapi-Position becomes the session's position.
func (s *Session) Call(ctx context.Context, op string, params, result any, opts ...CallOption) error {
	var got string
	opts = append(opts[:len(opts):len(opts)], After(s.Position()), ReplyPosition(&got))
	err := s.c.Call(ctx, op, params, result, opts...)
	if got != "" {
		s.SetPosition(got)
	}
	return err
}

// Batch is Client.Batch within the session.
func (s *Session) Batch(ctx context.Context, steps []protocol.BatchStep, opts ...CallOption) ([]json.RawMessage, error) {
	return batch(ctx, s.Call, steps, opts...)
}
