package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/internal/await"
	"github.com/dbapi-dev/dbapi/schema"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/go-sql-driver/mysql"
)

// migrations returns the application's migrations: DBAPI_MIGRATIONS_DIR,
// else the ones the App embeds, else none.
func (m *Main) migrations() (fs.FS, error) {
	if dir := m.Config.MigrationsDir; dir != "" {
		fsys, err := folder(dir)
		if err != nil {
			return nil, fmt.Errorf("DBAPI_MIGRATIONS_DIR: %w", err)
		}
		return fsys, nil
	}
	return m.App.Migrations, nil
}

// Migrate creates the database if needed and applies the migrations.
func (m *Main) Migrate(ctx context.Context) error {
	if _, err := m.migrations(); err != nil {
		return err // before the database is created
	}
	if err := m.openDB(ctx, true); err != nil {
		return err
	}
	return m.migrate(ctx)
}

// openDB opens the pool, retrying for DBAPI_CONNECT_TIMEOUT while the
// server cannot be reached (in a container platform the database often
// starts after the service). It creates the database only when create is
// set and the server says the database does not exist: an existing
// database needs no CREATE privilege.
func (m *Main) openDB(ctx context.Context, create bool) error {
	cfg, err := txrunner.ParseDSN(m.Config.MySQLDSN)
	if err != nil {
		return fmt.Errorf("DBAPI_MYSQL_DSN: %w", err)
	}
	if cfg.DBName == "" {
		return errors.New("DBAPI_MYSQL_DSN names no database")
	}
	m.dsn = cfg
	cfg = withIOTimeouts(cfg)
	open := func(ctx context.Context) error {
		db, err := txrunner.Open(ctx, cfg, txrunner.PoolConfig{MaxOpen: m.Config.PoolSize})
		if err != nil && create && txrunner.IsUnknownDatabase(err) {
			m.Logger.Info("creating the database", "database", cfg.DBName)
			if err := schema.EnsureDatabase(ctx, cfg); err != nil {
				return fmt.Errorf("database %s at %s: %w", cfg.DBName, cfg.Addr, txrunner.Classify(err))
			}
			db, err = txrunner.Open(ctx, cfg, txrunner.PoolConfig{MaxOpen: m.Config.PoolSize})
		}
		m.DB = db
		return err
	}
	if err := await.Retry(ctx, m.Config.ConnectTimeout, m.Logger, "database", unavailable, open); err != nil {
		return err
	}
	m.Logger.Info("database", "dsn", txrunner.Redact(cfg))
	return nil
}

// ioTimeout is the read and write timeout of the serving pools'
// connections (the primary's and the replicas') whose DSN sets none
// (txrunner.WithIOTimeouts): longer than any request may run
// (executor.DefaultMaxTimeout), with room to spare. A request's deadline
// ends its statements long before; what it cannot end is a COMMIT (or
// ROLLBACK) the server never answers, which would hold the request and
// its worker, and keep a graceful stop from ending. The timeout ends that
// wait: the connection is closed and the request answered
// commit_outcome_unknown.
const ioTimeout = executor.DefaultMaxTimeout + 30*time.Second

// withIOTimeouts returns cfg with ioTimeout where the DSN sets no read or
// write timeout (cfg is not changed).
func withIOTimeouts(cfg *mysql.Config) *mysql.Config { return txrunner.WithIOTimeouts(cfg, ioTimeout) }

// unavailable reports whether err is the database being unreachable, as
// at start in a container platform, where it often starts after the
// service.
func unavailable(err error) bool { return dbapi.AsError(err).Kind == dbapi.EUNAVAILABLE }

// migrate applies dbapi's own migrations, then the application's.
func (m *Main) migrate(ctx context.Context) error {
	sets := []schema.Set{schema.OwnSet()}
	appFS, err := m.migrations()
	if err != nil {
		return err
	}
	if appFS != nil {
		sets = append(sets, schema.Set{FS: appFS, VersionTable: m.Config.MigrationsTable})
	}
	db := m.DB.DB
	if cfg := m.dsn; cfg != nil && (cfg.ReadTimeout == 0 || cfg.WriteTimeout == 0) {
		// The serving pool's I/O timeouts (withIOTimeouts) would cut a
		// long migration off: migrations run with the DSN's own.
		mdb, err := txrunner.Open(ctx, cfg, txrunner.PoolConfig{MaxOpen: 2})
		if err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		defer mdb.Close()
		db = mdb.DB
	}
	applied, err := schema.Migrate(ctx, db, m.Logger, sets...)
	if err != nil {
		return err
	}
	for _, a := range applied { // in the order they ran, dbapi's own first
		m.Logger.Info("migrations applied", "version_table", a.VersionTable, "versions", a.Versions)
	}
	return nil
}
