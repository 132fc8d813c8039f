package schema

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var embedded embed.FS

// Own returns dbapi's own migrations (the idempotency keys and the durable
// outcomes tables).
func Own() fs.FS {
	sub, err := fs.Sub(embedded, "migrations")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return sub
}

// OwnVersionTable is where dbapi records the versions of its own
// migrations.
const OwnVersionTable = "dbapi_schema_version"

// AppVersionTable is the default table where the application's migrations
// (DBAPI_MIGRATIONS_DIR) record their versions.
const AppVersionTable = "dbapi_app_version"

// lockName is the MySQL named lock that serialises migrations across
// instances sharing one database.
const lockName = "dbapi.migrate"

// EnsureDatabase creates the database named in cfg if it does not exist,
// connecting without a default database to do so.
func EnsureDatabase(ctx context.Context, cfg *mysql.Config) error {
	if cfg.DBName == "" {
		return errors.New("the MySQL DSN names no database")
	}
	c := cfg.Clone()
	c.DBName = ""
	connector, err := mysql.NewConnector(c)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	q := "CREATE DATABASE IF NOT EXISTS " + quoteIdent(cfg.DBName) + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("create database %s: %w", cfg.DBName, err)
	}
	return nil
}

func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// Set is one set of goose migrations and the table that records which of
// them were applied.
type Set struct {
	FS           fs.FS
	VersionTable string
}

// OwnSet is dbapi's own migrations.
func OwnSet() Set { return Set{FS: Own(), VersionTable: OwnVersionTable} }

// Applied is what Migrate applied to one set: its version table and the
// versions, in the order they ran.
type Applied struct {
	VersionTable string
	Versions     []int64
}

// Migrate applies every pending migration of each set, in order, and
// returns the versions it applied, one Applied per set in the order of
// sets (empty Versions when nothing was pending). It waits up to a minute
// for another instance that is migrating the same database.
func Migrate(ctx context.Context, db *sql.DB, log *slog.Logger, sets ...Set) ([]Applied, error) {
	if log == nil {
		log = slog.Default()
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", lockName, int(time.Minute/time.Second)).Scan(&got); err != nil {
		return nil, fmt.Errorf("migrate: take lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return nil, errors.New("migrate: another instance held the migration lock for over a minute")
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", lockName)

	applied := make([]Applied, 0, len(sets))
	for _, set := range sets {
		if set.VersionTable == "" {
			return nil, errors.New("migrate: a migration set has no version table")
		}
		p, err := goose.NewProvider(goose.DialectMySQL, db, set.FS,
			goose.WithSlog(log), goose.WithTableName(set.VersionTable))
		if err != nil {
			return nil, fmt.Errorf("migrate (%s): %w", set.VersionTable, err)
		}
		results, err := p.Up(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate (%s): %w", set.VersionTable, err)
		}
		versions := make([]int64, 0, len(results))
		for _, r := range results {
			versions = append(versions, r.Source.Version)
		}
		applied = append(applied, Applied{VersionTable: set.VersionTable, Versions: versions})
	}
	return applied, nil
}

// Pending is what is left to apply of one set.
type Pending struct {
	VersionTable string
	// First is the lowest version not applied; Count how many are not.
	First int64
	Count int
}

// PendingMigrations returns, for each set that has migrations not yet
// applied, its version table, the first such version and how many there
// are. It only reads: a version table that does not exist means that
// nothing of its set was applied, and nothing is created (goose's own
// status would create the table).
func PendingMigrations(ctx context.Context, db *sql.DB, sets ...Set) ([]Pending, error) {
	var out []Pending
	for _, set := range sets {
		p, err := goose.NewProvider(goose.DialectMySQL, db, set.FS, goose.WithTableName(set.VersionTable))
		if err != nil {
			return nil, fmt.Errorf("migrations (%s): %w", set.VersionTable, err)
		}
		applied, err := appliedVersions(ctx, db, set.VersionTable)
		if err != nil {
			return nil, err
		}
		pending := Pending{VersionTable: set.VersionTable}
		for _, src := range p.ListSources() { // in version order
			if applied[src.Version] {
				continue
			}
			if pending.Count == 0 {
				pending.First = src.Version
			}
			pending.Count++
		}
		if pending.Count > 0 {
			out = append(out, pending)
		}
	}
	return out, nil
}

// appliedVersions reads which versions a goose version table records as
// applied (a version's latest row decides); none when the table does not
// exist.
func appliedVersions(ctx context.Context, db *sql.DB, table string) (map[int64]bool, error) {
	rows, err := db.QueryContext(ctx, "SELECT version_id, is_applied FROM "+quoteIdent(table)+" ORDER BY id")
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1146 { // no such table
		return map[int64]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	applied := map[int64]bool{}
	for rows.Next() {
		var v int64
		var ok bool
		if err := rows.Scan(&v, &ok); err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		applied[v] = ok
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	return applied, nil
}
