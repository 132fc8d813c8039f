//go:build linux

package faults

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/dbapi-dev/dbapi/internal/mariadbd"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// mariadb is a mariadbd of the suite's own: its own data directory in a
// temporary folder and its own port, so it can be stopped, killed and made
// read-only without touching anyone else's server.
type mariadb struct {
	*mariadbd.Server
}

const (
	// svcUser is the account the service connects with. It has every
	// privilege on its own database and none globally, so read_only
	// applies to it (root's SUPER would bypass it).
	svcUser     = "svc"
	svcPassword = "svc-password"
)

// startMariaDB initializes a data directory under dir, starts the server
// on a free port and creates the service's user.
func startMariaDB(dir string) (*mariadb, error) {
	ctx := context.Background()
	if err := mariadbd.Init(ctx, dir); err != nil {
		return nil, err
	}
	srv, err := mariadbd.New(dir,
		"--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=48M",
		"--max-connections=400",
		// Durable commits, as a production server has them: an
		// acknowledged transfer must survive kill -9.
		"--innodb-flush-log-at-trx-commit=1",
	)
	if err != nil {
		return nil, err
	}
	m := &mariadb{srv}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	db, err := m.root("")
	if err != nil {
		m.Kill()
		return nil, err
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", svcUser, svcPassword)); err != nil {
		m.Kill()
		return nil, fmt.Errorf("create the service's user: %w", err)
	}
	return m, nil
}

// restart starts the server again on its data directory and port.
func (m *mariadb) restart() error { return m.Start(context.Background()) }

// dsn returns the driver configuration for user on addr and database name.
func dsn(addr, user, password, name string) *mysql.Config {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = user, password, "tcp", addr, name
	c.ParseTime, c.Loc = true, time.UTC
	c.Timeout = 2 * time.Second
	return c
}

// root opens a pool as root straight to the server (not through a proxy)
// and checks that it answers.
func (m *mariadb) root(name string) (*sqlx.DB, error) {
	connector, err := mysql.NewConnector(dsn(m.Addr(), "root", "", name))
	if err != nil {
		return nil, err
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "mysql")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
