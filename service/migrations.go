package service

import (
	"context"

	"github.com/dbapi-dev/dbapi/schema"
)

// warnPending warns, when the service starts without migrating
// (DBAPI_MIGRATE=false), about each version table whose migrations are
// not all applied, naming the first version left: the operations may
// expect tables or columns that are not there yet.
func (m *Main) warnPending(ctx context.Context) {
	sets := []schema.Set{schema.OwnSet()}
	appFS, err := m.migrations()
	if err != nil {
		m.Logger.Warn("cannot tell whether migrations are pending", "err", err)
		return
	}
	if appFS != nil {
		sets = append(sets, schema.Set{FS: appFS, VersionTable: m.Config.MigrationsTable})
	}
	pending, err := schema.PendingMigrations(ctx, m.DB.DB, sets...)
	if err != nil {
		m.Logger.Warn("cannot tell whether migrations are pending (DBAPI_MIGRATE=false)", "err", err)
		return
	}
	for _, p := range pending {
		m.Logger.Warn("migrations are pending and DBAPI_MIGRATE=false: run the migrate command, or serve with DBAPI_MIGRATE=true",
			"version_table", p.VersionTable, "first_pending", p.First, "pending", p.Count)
	}
}
