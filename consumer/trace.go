package consumer

import (
	"context"

	"github.com/nats-io/nats.go"
)

// Tracer follows each request through the service (package tracing is
// one, for OpenTelemetry). The consumer knows no tracing library: it says
// when a request arrives, when a worker takes it, and how it ends.
type Tracer interface {
	// Request is called when a request arrives, with its operation (or
	// "batch") and its headers (which may carry the caller's trace).
	Request(op string, header nats.Header) RequestTrace
}

// RequestTrace follows one request.
type RequestTrace interface {
	// Context returns ctx carrying the request's trace: the transaction
	// runs under it.
	Context(ctx context.Context) context.Context
	// Dequeued is called when a worker takes the request.
	Dequeued()
	// End is called once, with the reply code ("ok" or the error code).
	End(code string)
}

// noTrace is the RequestTrace of a service without a Tracer.
type noTrace struct{}

func (noTrace) Context(ctx context.Context) context.Context { return ctx }
func (noTrace) Dequeued()                                   {}
func (noTrace) End(string)                                  {}

// trace starts following a request.
func (s *Service) trace(op string, h nats.Header) RequestTrace {
	if s.cfg.Tracer == nil {
		return noTrace{}
	}
	return s.cfg.Tracer.Request(op, h)
}

// Tracers returns a Tracer that tells each of ts, in order: tracing and
// metrics can both follow requests.
func Tracers(ts ...Tracer) Tracer {
	var all multiTracer
	for _, t := range ts {
		if t != nil {
			all = append(all, t)
		}
	}
	switch len(all) {
	case 0:
		return nil
	case 1:
		return all[0]
	}
	return all
}

type multiTracer []Tracer

func (m multiTracer) Request(op string, h nats.Header) RequestTrace {
	rs := make(multiTrace, len(m))
	for i, t := range m {
		rs[i] = t.Request(op, h)
	}
	return rs
}

type multiTrace []RequestTrace

func (m multiTrace) Context(ctx context.Context) context.Context {
	for _, r := range m {
		ctx = r.Context(ctx)
	}
	return ctx
}

func (m multiTrace) Dequeued() {
	for _, r := range m {
		r.Dequeued()
	}
}

func (m multiTrace) End(code string) {
	for _, r := range m {
		r.End(code)
	}
}
