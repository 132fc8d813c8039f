// Package schema applies goose migrations: dbapi's own tables (the
// idempotency keys, embedded in the binary) and, separately, the
// application's migrations. Each set records its versions in a table of its
// own (OwnVersionTable for dbapi's, a configurable one for the
// application's), so neither clashes with a team's own goose_db_version.
// Several instances may start at once: a MySQL named lock makes them take
// turns. Migrate reports what it applied in the order it ran;
// PendingMigrations tells, reading only, what is left to apply.
package schema
