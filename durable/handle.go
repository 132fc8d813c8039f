package durable

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/batch"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/internal/natsmsg"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// HeaderReplyTo names the subject a durable request's outcome is also
// published to. (JetStream does not keep a message's reply subject.)
const HeaderReplyTo = protocol.HeaderReplyTo

// key returns a message's outcome key: its Nats-Msg-Id, else
// "<stream>:<stream sequence>".
func key(msg jetstream.Msg, meta *jetstream.MsgMetadata) string {
	if id := msg.Headers().Get(protocol.HeaderMsgID); id != "" {
		return id
	}
	return fmt.Sprintf("%s:%d", meta.Stream, meta.Sequence.Stream)
}

// handle runs one message as one transaction that also stores its
// outcome, then acks or naks it (terminates it only when it has no metadata).
func (s *Service) handle(msg jetstream.Msg) {
	defer s.done()
	meta, err := msg.Metadata()
	if err != nil {
		s.log.Error("durable message without metadata; terminated", "subject", msg.Subject(), "err", err)
		_ = msg.TermWithReason("no metadata")
		return
	}
	k := key(msg, meta)
	op := s.op(msg.Subject())
	h := msg.Headers()
	now := time.Now()
	req := executor.Request{Op: op, Body: msg.Data(), ID: executor.NewRequestID(), Received: now,
		Hooks: []executor.TxHook{s.hook(k, op, msg.Data())}}
	// Headers mean what they mean in request-reply, Dbapi-Timeout aside:
	// the deadline is the default one, from now.
	if err := s.exec.FromHeaders(now, &req, withoutTimeout(h)); err != nil {
		refusal := executor.ErrorReply(err)
		req.Refusal = &refusal
	}
	stop := s.keepAlive(msg)
	r := s.cfg.Handler(s.runCtx, req)
	stop()
	logCtx := executor.WithRequestID(context.Background(), req.ID)

	outcome := OutcomeCommitted
	switch {
	case r.Err == nil:
		if r.Replayed {
			outcome = OutcomeReplayed
		}
		s.ack(msg, k)
	case errors.Is(r.Err, idempotency.ErrOutcomeKeyReused):
		// Its key is another request's: answered 409, and acked without
		// touching the stored outcome.
		outcome = OutcomeKeyReused
		s.ack(msg, k)
	case retryable(r.Err) && meta.NumDelivered < uint64(s.cfg.MaxDeliver) && s.runCtx.Err() == nil:
		outcome = OutcomeRetried
		if err := msg.NakWithDelay(s.backoff(meta.NumDelivered)); err != nil {
			s.log.WarnContext(logCtx, "durable nak failed; the message is redelivered after AckWait", "key", k, "err", err)
		}
	case retryable(r.Err) && s.runCtx.Err() != nil:
		// Stopping: our own deadline, not the request's fault.
		outcome = OutcomeRetried
		_ = msg.Nak()
	default:
		outcome = OutcomeFailed
		if retryable(r.Err) {
			outcome = OutcomeGaveUp
		}
		stored, err := s.saveFailure(s.runCtx, k, op, msg.Data(), r)
		if errors.Is(err, idempotency.ErrOutcomeKeyReused) {
			outcome, r = OutcomeKeyReused, executor.ErrorReply(err)
			s.ack(msg, k)
			break
		}
		if err != nil {
			// Not stored: try again later rather than lose the outcome.
			s.log.ErrorContext(logCtx, "storing a durable failure failed; retrying later", "key", k, "err", err)
			_ = msg.NakWithDelay(s.backoff(meta.NumDelivered))
			s.record(logCtx, op, OutcomeRetried, r)
			return
		}
		if stored.Replayed {
			outcome = OutcomeReplayed
		}
		r = stored
		// Acked, not terminated: the outcome is stored, so the message is
		// done with, and a work-queue stream before NATS 2.10 keeps a
		// terminated message for ever (found against the Debian server,
		// 2.9.10). Either way it is never delivered again.
		s.ack(msg, k)
	}
	s.record(logCtx, op, outcome, r)
	if outcome == OutcomeRetried {
		return
	}
	if to := replyTo(h); to != "" {
		if err := natsmsg.Publish(s.nc, to, r); err != nil {
			s.log.WarnContext(logCtx, "durable outcome not published", "key", k, "reply_to", to, "err", err)
		}
	}
}

// ack acknowledges a message whose outcome is settled, and waits for the
// stream to confirm it.
func (s *Service) ack(msg jetstream.Msg, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AckWait)
	defer cancel()
	if err := msg.DoubleAck(ctx); err != nil {
		// The outcome is settled: a redelivery replays it.
		s.log.WarnContext(ctx, "durable ack failed; a redelivery will replay the outcome", "key", key, "err", err)
	}
}

// withoutTimeout returns h without its Dbapi-Timeout header.
func withoutTimeout(h nats.Header) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, v := range h {
		if !strings.EqualFold(k, protocol.HeaderTimeout) {
			out[k] = v
		}
	}
	return out
}

// replyTo returns the subject named by Dbapi-Reply-To (in any case), or "".
func replyTo(h nats.Header) string {
	if v := protocol.Values(h, HeaderReplyTo); len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// record counts what became of a message, and logs what the transport
// decided about it (the request's failure itself is logged by the
// handler's middleware).
func (s *Service) record(ctx context.Context, op, outcome string, r executor.Reply) {
	s.stats.record(outcome, r.Code)
	if s.cfg.Observer != nil {
		// Any subject under the prefix can be published: only names that
		// exist become metric labels.
		if _, ok := s.exec.Registry().Lookup(op); !ok && op != batch.Name {
			op = "unknown"
		}
		s.cfg.Observer.Durable(op, outcome, r.Code)
	}
	switch outcome {
	case OutcomeKeyReused:
		s.log.WarnContext(ctx, "durable request refused: its key holds the outcome of another request", "op", op, "err", r.Err)
	case OutcomeRetried:
		s.log.WarnContext(ctx, "durable request will be retried", "op", op, "code", r.Code)
	}
}

// retryable reports whether a failure may pass if the message runs again:
// what the error table (package protocol) calls retryable — the database
// unavailable, a deadline, a deadlock or lock wait after every attempt —
// and a COMMIT whose outcome was lost (if it committed, the redelivery
// finds its outcome and runs nothing).
func retryable(err error) bool {
	e := dbapi.AsError(err)
	return e.Kind == dbapi.ECOMMITUNKNOWN || protocol.Lookup(e.Kind, e.ErrorCode()).Retryable
}

// backoff returns the delay before delivery n+1.
func (s *Service) backoff(n uint64) time.Duration {
	d := s.cfg.Backoff
	for i := uint64(1); i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

// keepAlive tells the server the message is still being worked on, every
// third of AckWait, so AckWait never expires under a running transaction.
// The returned func stops it.
func (s *Service) keepAlive(msg jetstream.Msg) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(s.cfg.AckWait/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					s.log.Debug("durable in-progress ack failed", "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
