// Package tracing follows requests with OpenTelemetry. A Tracer's
// Middleware gives every request, whichever transport it came by, a
// server span (continuing the caller's trace from the W3C traceparent
// header of the message) and a span for the time it waited in the
// transport's queue; its Runner wraps the transaction runner (a span per
// transaction, per attempt and for the COMMIT). FromEnv sets up the SDK
// from the standard OTEL_* variables; tracing is off unless they ask for
// it.
package tracing
