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

// Migrate applies every pending migration of each set, in order, and
// returns the versions it applied per version table. It waits up to a
// minute for another instance that is migrating the same database.
func Migrate(ctx context.Context, db *sql.DB, log *slog.Logger, sets ...Set) (map[string][]int64, error) {
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

	applied := make(map[string][]int64, len(sets))
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
		applied[set.VersionTable] = versions
	}
	return applied, nil
}
