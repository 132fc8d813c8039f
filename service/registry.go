package service

import (
	"errors"
	"fmt"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/catalog"
	"github.com/dbapi-dev/dbapi/rawsql"
)

// registry gathers every operation: the Go ones, the declared ones, and
// raw SQL when it is enabled. A duplicate name is an error.
func (m *Main) registry() (*dbapi.Registry, error) {
	declared, err := m.loadCatalog()
	if err != nil {
		return nil, err
	}
	goOps := map[string]bool{}
	for _, op := range m.App.Operations {
		goOps[op.Name] = true
	}
	for _, d := range m.defs {
		if goOps[d.Name] {
			return nil, &catalog.Error{File: d.File, Line: d.Line, Msg: fmt.Sprintf("operation %q is also a Go operation of %s", d.Name, m.App.name())}
		}
	}
	ops := append(m.App.Operations[:len(m.App.Operations):len(m.App.Operations)], declared...)
	if m.Config.AllowRawSQL {
		ops = append(ops, rawsql.Operations(m.Config.MaxRows)...)
		m.Logger.Warn("raw SQL is enabled (DBAPI_ALLOW_RAW_SQL): only trusted clients may reach " + m.Config.Prefix + ".sql.>")
	}
	if len(ops) == 0 {
		return nil, errNoOperations
	}
	return dbapi.NewRegistry(ops...)
}

// loadCatalog loads the declared operations: the .sql files in
// DBAPI_OPERATIONS_DIR, else the ones the App embeds. It keeps their
// definitions for the check at start.
func (m *Main) loadCatalog() ([]dbapi.Operation, error) {
	defs, where, problems := m.definitions()
	if len(problems) > 0 {
		return nil, fmt.Errorf("operations (%s): %w", where, errors.Join(problems...))
	}
	m.defs = defs
	return catalog.Operations(defs, catalog.Config{MaxRows: m.Config.MaxRows}), nil
}
