package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/catalog"
	"github.com/dbapi-dev/dbapi/replica"
	"github.com/dbapi-dev/dbapi/txrunner"
)

// Check loads every declared operation and asks the live database about
// it (see catalog.Check): it prepares each statement, looks up the
// constraints the files map, and reads the result columns (each last
// SELECT run once, rolled back). It returns every problem found, each
// "file:line: reason"; the error is for a failure to load the
// configuration (DBAPI_OPERATIONS_DIR naming no folder) or to reach the
// database. Check never migrates, writes or creates anything.
func (m *Main) Check(ctx context.Context) ([]error, error) {
	if _, _, err := m.declaredFS(); err != nil {
		return nil, fmt.Errorf("DBAPI_OPERATIONS_DIR: %w", err) // the configuration, not a problem of the files
	}
	defs, _, problems := m.definitions()
	if m.DB == nil {
		if err := m.openDB(ctx, false); err != nil {
			return problems, err
		}
	}
	more, err := catalog.Check(ctx, m.DB.DB, defs)
	problems = append(problems, more...)
	if err != nil {
		return problems, err
	}
	return append(problems, m.checkOnReplica(ctx, defs)...), nil
}

// checkOnReplica prepares the read-only operations, which replicas serve,
// on the first replica of DBAPI_MYSQL_REPLICA_DSN, if any: a replica that
// misses a table or a privilege is found before it serves. A replica that
// cannot be reached is not a problem of the operations: it is logged.
func (m *Main) checkOnReplica(ctx context.Context, defs []*catalog.Definition) []error {
	dsns := replica.SplitDSNs(m.Config.ReplicaDSN)
	var reads []*catalog.Definition
	for _, d := range defs {
		if d.ReadOnly {
			reads = append(reads, d)
		}
	}
	if len(dsns) == 0 || len(reads) == 0 {
		return nil
	}
	cfg, err := txrunner.ParseDSN(dsns[0])
	if err != nil {
		return []error{fmt.Errorf("DBAPI_MYSQL_REPLICA_DSN: the first DSN: %w", err)}
	}
	db, err := txrunner.Open(ctx, cfg, txrunner.PoolConfig{MaxOpen: 1})
	if err != nil {
		m.Logger.Warn("the read-only operations were not checked on a replica: it cannot be reached", "replica", cfg.Addr, "err", err)
		return nil
	}
	defer db.Close()
	problems, err := catalog.Check(ctx, db.DB, reads)
	if err != nil {
		return []error{fmt.Errorf("replica %s: %w", cfg.Addr, err)}
	}
	for i, p := range problems {
		var ce *catalog.Error
		if errors.As(p, &ce) {
			c := *ce
			c.Msg = "on replica " + cfg.Addr + ": " + c.Msg
			problems[i] = &c
		} else {
			problems[i] = fmt.Errorf("on replica %s: %w", cfg.Addr, p)
		}
	}
	return problems
}

// definitions loads the declared operations' definitions, returning where
// they are and every problem in the files.
func (m *Main) definitions() ([]*catalog.Definition, string, []error) {
	fsys, where, err := m.declaredFS()
	if err != nil {
		return nil, where, []error{err}
	}
	if fsys == nil {
		return nil, where, nil
	}
	defs, err := catalog.LoadDefinitions(fsys)
	if err != nil {
		return defs, where, unjoin(err)
	}
	return defs, where, nil
}

// checkBeforeServing refuses to serve an operation the database refuses.
// It returns reg with the declared operations' result schemas from the
// database's column types, which the check read.
func (m *Main) checkBeforeServing(ctx context.Context, reg *dbapi.Registry) (*dbapi.Registry, error) {
	problems, err := catalog.Check(ctx, m.DB.DB, m.defs)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("declared operations do not check out against the database (run the check command to list them again):\n%w", errors.Join(problems...))
	}
	m.logUnknownColumns()
	return m.withColumns(reg)
}

// withColumns returns reg with its declared operations built again from
// m.defs, whose result columns the check has read.
func (m *Main) withColumns(reg *dbapi.Registry) (*dbapi.Registry, error) {
	declared := map[string]dbapi.Operation{}
	for _, op := range catalog.Operations(m.defs, catalog.Config{MaxRows: m.Config.MaxRows}) {
		declared[op.Name] = op
	}
	ops := reg.Operations()
	for i, op := range ops {
		if d, ok := declared[op.Name]; ok {
			ops[i] = d
		}
	}
	return dbapi.NewRegistry(ops...)
}

// logUnknownColumns says which declared operations publish a result
// schema without column types, and why.
func (m *Main) logUnknownColumns() {
	for _, d := range m.defs {
		if c := d.Columns; c != nil && c.Row == nil {
			m.Logger.Info("result columns unknown; the operation's result schema gives only its kind",
				"operation", d.Name, "file", d.File, "why", c.Unknown, "detail", c.Detail)
		}
	}
}

// unjoin returns the errors an errors.Join holds, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// declaredFS returns the folder of declared operations and where it is:
// DBAPI_OPERATIONS_DIR, else the App's embedded ones, else nil.
func (m *Main) declaredFS() (fs.FS, string, error) {
	if dir := m.Config.OperationsDir; dir != "" {
		fsys, err := folder(dir)
		return fsys, "DBAPI_OPERATIONS_DIR " + dir, err
	}
	return m.App.Declared, "the program's embedded operations", nil
}

// folder returns the folder dir, or an error that says what is wrong
// with it.
func folder(dir string) (fs.FS, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("the folder %q does not exist", dir)
	case err != nil:
		return nil, fmt.Errorf("the folder %q cannot be read: %w", dir, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("%q is a file, not a folder", dir)
	}
	return os.DirFS(dir), nil
}
