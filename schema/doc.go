// Package schema holds the database migrations (SQL files embedded in the
// binary) and applies them with pressly/goose. Several instances may start
// at once: a MySQL named lock makes them take turns.
package schema
