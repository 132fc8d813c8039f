// Package drain holds what the transports' Stop methods share (packages
// consumer and durable): waiting for the requests under way within a
// grace period, then cutting off what has not committed.
package drain
