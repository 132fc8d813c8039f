// Package metrics exposes the service's numbers in the Prometheus text
// format: requests by operation and reply code, transaction time, retries
// by cause, the request queue, the connection pool, and the Go runtime.
// It is off unless DBAPI_METRICS_ADDR names an address to serve /metrics on.
package metrics
