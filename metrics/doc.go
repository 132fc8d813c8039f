// Package metrics exposes the service's numbers in the Prometheus text
// format: requests by operation and reply code, transaction time, retries
// by cause, the request queue, the connection pool, and the Go runtime.
// Its Middleware counts every request, whichever transport it came by; it
// knows no transport. It is off unless DBAPI_HTTP_ADDR (or
// DBAPI_METRICS_ADDR) names an address to serve /metrics on.
package metrics
