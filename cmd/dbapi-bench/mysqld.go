package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/dbapi-dev/dbapi/internal/mariadbd"
	"github.com/go-sql-driver/mysql"
)

// Database profiles. The default one runs on the server that -mysql
// names, as it is configured; the others start a mariadbd of the
// benchmark's own (-mysqld PROFILE) with the settings below, so that the
// report knows exactly what a commit costs.
const profileDefault = "default"

// mysqldProfiles are the settings of each profile that starts a server
// of its own, beyond those all of them share (see startMySQLD).
var mysqldProfiles = map[string]struct {
	desc string
	args func(dir string) []string
}{
	"binlog": {
		desc: "a mariadbd of the benchmark's own where commits cost most: binary log on and synced at each commit " +
			"(--log-bin --sync-binlog=1), redo log flushed at each commit (--innodb-flush-log-at-trx-commit=1), " +
			"in a temporary data directory on the machine's disk",
		args: func(dir string) []string {
			return []string{"--log-bin=" + filepath.Join(dir, "binlog"), "--server-id=1", "--sync-binlog=1",
				"--innodb-flush-log-at-trx-commit=1"}
		},
	},
}

// profileDesc says what a profile's database is, for the report.
func profileDesc(profile string) string {
	if p, ok := mysqldProfiles[profile]; ok {
		return p.desc
	}
	return "the server that -mysql names, as it is configured"
}

func profileNames() []string {
	names := []string{}
	for k := range mysqldProfiles {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// mysqld is a mariadbd the benchmark started: its own data directory in a
// temporary folder, its own loopback port. Stop stops it and removes the
// folder.
type mysqld struct {
	*mariadbd.Server
	pid string // of mariadbd, for the report
}

// startMySQLD initializes a data directory in a new temporary folder,
// starts mariadbd with the profile's settings on a free port of
// 127.0.0.1, and waits until it answers. On error nothing is left behind.
func startMySQLD(ctx context.Context, profile string) (*mysqld, error) {
	p, ok := mysqldProfiles[profile]
	if !ok {
		return nil, fmt.Errorf("-mysqld: unknown profile %q (want one of %v)", profile, profileNames())
	}
	if _, _, err := mariadbd.Binaries(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dbapi-bench-mysqld-")
	if err != nil {
		return nil, err
	}
	if err := mariadbd.Init(ctx, dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := []string{
		// As Debian's default server has them, so that the profiles
		// differ in what a commit costs only.
		"--innodb-buffer-pool-size=128M",
		"--innodb-log-file-size=96M",
		"--max-connections=400",
	}
	srv, err := mariadbd.New(dir, append(args, p.args(dir)...)...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &mysqld{Server: srv, pid: strconv.Itoa(srv.PID())}, nil
}

// dsn returns cfg pointed at this server as root.
func (m *mysqld) dsn(cfg *mysql.Config) *mysql.Config {
	c := cfg.Clone()
	c.Net, c.Addr, c.User, c.Passwd = "tcp", m.Addr(), "root", ""
	return c
}

// Stop shuts the server down (SIGTERM; SIGKILL after 2 minutes) and
// removes its folder. It may be called more than once.
func (m *mysqld) Stop() {
	m.Server.Stop()
	os.RemoveAll(m.Dir())
}
