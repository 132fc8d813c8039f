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

// Migrations returns the embedded migration files.
func Migrations() fs.FS { return folder(embedded, "migrations") }

// folder returns a folder of an embedded file system.
func folder(f embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embed patterns guarantee the folders
	}
	return sub
}

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

// Migrate applies every pending migration in fsys (Migrations() when nil)
// and returns the versions it applied. It waits up to a minute for another
// instance that is migrating the same database.
func Migrate(ctx context.Context, db *sql.DB, fsys fs.FS, log *slog.Logger) ([]int64, error) {
	if fsys == nil {
		fsys = Migrations()
	}
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

	p, err := goose.NewProvider(goose.DialectMySQL, db, fsys, goose.WithSlog(log))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}
