package durable

import (
	"context"
	"fmt"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/internal/natsmsg"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/nats-io/nats.go/micro"
)

// serveOutcomes adds the micro service "dbapi_durable" with the endpoint
// <prefix>.outcome: request {"key":"..."}, reply the stored outcome (its
// status, headers and body as in the original reply, plus
// Dbapi-Replayed: true) or 404 not_found while it has not run. Its STATS
// count the durable messages by outcome.
func (s *Service) serveOutcomes() error {
	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        "dbapi_durable",
		Version:     s.cfg.Version,
		Description: "Outcomes of durable requests (stream " + s.cfg.Stream + ").",
		QueueGroup:  s.cfg.QueueGroup,
		StatsHandler: func(*micro.Endpoint) any {
			return s.stats.snapshot()
		},
		ErrorHandler: func(_ micro.Service, err *micro.NATSError) {
			s.log.Error("nats subscription error", "subject", err.Subject, "err", err.Description)
		},
	})
	if err != nil {
		return fmt.Errorf("nats micro service: %w", err)
	}
	s.svc = svc
	err = svc.AddGroup(s.cfg.Prefix).AddEndpoint(OutcomeOperation, micro.HandlerFunc(s.lookup),
		micro.WithEndpointMetadata(map[string]string{"description": `The outcome of a durable request: {"key":"<Nats-Msg-Id>"}.`}))
	if err == nil {
		err = s.nc.Flush()
	}
	if err != nil {
		svc.Stop()
		return fmt.Errorf("endpoint %s.%s: %w", s.cfg.Prefix, OutcomeOperation, err)
	}
	return nil
}

// lookup answers an outcome request. It runs on the subscription's
// goroutine: one short read.
func (s *Service) lookup(req micro.Request) {
	var p protocol.OutcomeRequest
	r := func() executor.Reply {
		if err := dbapi.DecodeParams(req.Data(), &p); err != nil {
			return executor.ErrorReply(err)
		}
		if p.Key == "" {
			return executor.ErrorReply(dbapi.Required("key", "the request's Nats-Msg-Id"))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, ok, err := s.outcomes.Lookup(ctx, s.runner, p.Key)
		if err != nil {
			return executor.ErrorReply(err)
		}
		if !ok {
			return executor.ErrorReply(dbapi.CodeErrorf(dbapi.ENOTFOUND, "not_found", "no outcome for key %q yet: the request has not run, or its outcome expired", p.Key))
		}
		return reply(out)
	}()
	if err := natsmsg.Publish(s.nc, req.Reply(), r); err != nil {
		s.log.Warn("outcome reply not sent", "err", err)
	}
}
