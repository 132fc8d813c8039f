// Package opshttp is the HTTP server an operator points probes and
// scrapers at: /healthz (the process is alive), /readyz (it can serve
// requests) and whatever else is mounted on it, such as /metrics.
//
// The address is bound by Listen, before anything slow happens, so a port
// in use stops a program at once; readiness is reported by checks the
// program adds as it comes up, and fails from the moment Stopping is
// called.
package opshttp
