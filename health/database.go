package health

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
)

// Database checks that one MySQL or MariaDB server can serve requests.
type Database struct {
	// DB is the pool the check runs on. A pool of its own (one
	// connection) keeps busy workers from starving the check, and makes
	// each failed check connect afresh, through a proxy maybe to another
	// server.
	DB *sql.DB
	// Writes: the instance serves operations that write, so a read-only
	// server cannot serve it.
	Writes bool
}

// Check returns nil when the server can serve, else why not.
func (d *Database) Check(ctx context.Context) error {
	conn, err := d.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("unreachable: %w", err)
	}
	err = d.check(ctx, conn)
	if err != nil {
		// The next check connects again.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	conn.Close()
	return err
}

func (d *Database) check(ctx context.Context, conn *sql.Conn) error {
	vars, err := show(ctx, conn, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('wsrep_on', 'read_only', 'super_read_only', 'innodb_read_only')")
	if err != nil {
		return err
	}
	if on(vars["wsrep_on"]) {
		status, err := show(ctx, conn, "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state_comment', 'wsrep_cluster_status')")
		if err != nil {
			return err
		}
		if !on(status["wsrep_ready"]) || status["wsrep_local_state_comment"] != "Synced" {
			return fmt.Errorf("galera node not ready: wsrep_ready=%s, state %s, cluster %s",
				orUnknown(status["wsrep_ready"]), orUnknown(status["wsrep_local_state_comment"]), orUnknown(status["wsrep_cluster_status"]))
		}
	}
	if d.Writes {
		var ro []string
		for _, name := range []string{"read_only", "super_read_only", "innodb_read_only"} {
			if on(vars[name]) {
				ro = append(ro, name)
			}
		}
		if len(ro) > 0 {
			return fmt.Errorf("the server is read-only (%s=ON)", strings.Join(ro, ", "))
		}
	}
	return nil
}

// show runs a SHOW ... WHERE Variable_name IN (...) and returns its rows.
func show(ctx context.Context, conn *sql.Conn, query string) (map[string]string, error) {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("unreachable: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, value sql.NullString
		if err := rows.Scan(&name, &value); err != nil {
			return nil, err
		}
		out[strings.ToLower(name.String)] = value.String
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("unreachable: %w", err)
	}
	return out, nil
}

func on(v string) bool { return strings.EqualFold(v, "ON") || v == "1" }

func orUnknown(v string) string {
	if v == "" {
		return "unknown"
	}
	return v
}

// errNotChecked is the state before the first check.
var errNotChecked = errors.New("not checked yet")
