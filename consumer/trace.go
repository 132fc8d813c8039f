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
