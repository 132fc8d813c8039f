// Package tracing follows requests with OpenTelemetry. A Tracer is the
// consumer's Tracer (a server span per request, continuing the caller's
// trace from the W3C traceparent header of the NATS request, and a span
// for the time it waits in the queue) and wraps the transaction runner
// (a span per transaction, per attempt and for the COMMIT). FromEnv sets
// up the SDK from the standard OTEL_* variables; tracing is off unless
// they ask for it.
package tracing
