package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/dbapi-dev/dbapi/internal/mariadbd"
	"github.com/go-sql-driver/mysql"
)

// Database profiles. The default one runs on the server that -mysql
// names, as it is configured; the others start a mariadbd of the
// benchmark's own (-mysqld PROFILE) with the settings below, so that the
// report knows exactly what a commit costs.
const (
	profileDefault = "default"
	// profileReplica starts a primary and one GTID replica of it, for
	// the replica mode.
	profileReplica = "replica"
)

// mysqldProfiles are the settings of each profile that starts a server
// of its own, beyond those all of them share (see startMySQLD). A profile
// with replicas starts a primary and that many GTID replicas of it
// (mariadbd.StartReplication), every server with args.
var mysqldProfiles = map[string]struct {
	desc     string
	args     func(dir string) []string
	replicas int
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
	profileReplica: {
		desc: "a MariaDB primary and one replica of the benchmark's own, on loopback and on the same CPUs, " +
			"in a temporary folder: GTID replication (MASTER_USE_GTID=slave_pos), binary log in row format, " +
			"not synced at each commit (sync_binlog=0), redo log flushed at each commit; " +
			"direct, hand-written and dbapi (service, coalesced) run on the primary, " +
			"dbapi + replica is a dbapi process with DBAPI_MYSQL_REPLICA_DSN naming the replica",
		args:     func(string) []string { return []string{"--innodb-flush-log-at-trx-commit=1"} },
		replicas: 1,
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

// mysqld is a mariadbd the benchmark started, with its replicas if the
// profile has some: their data directories in one temporary folder, each
// its own loopback port. Stop stops them and removes the folder.
type mysqld struct {
	*mariadbd.Server // the primary: the server -mysql's DSN is pointed at
	root             string
	pid              string // of the primary's mariadbd, for the report
	repl             *mariadbd.Replication
	replica          *mariadbd.Replica // nil without replicas
	replicaPID       string
}

// startMySQLD initializes a data directory in a new temporary folder,
// starts mariadbd with the profile's settings on a free port of
// 127.0.0.1, with its replicas if it has some, and waits until they
// answer (and replicate). On error nothing is left behind.
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
	args := append([]string{
		// As Debian's default server has them, so that the profiles
		// differ in what a commit costs only.
		"--innodb-buffer-pool-size=128M",
		"--innodb-log-file-size=96M",
		"--max-connections=400",
	}, p.args(dir)...)
	if p.replicas > 0 {
		repl, err := mariadbd.StartReplication(ctx, dir, p.replicas, args...)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		rep := repl.Replicas[0]
		return &mysqld{Server: repl.Primary, root: dir, pid: strconv.Itoa(repl.Primary.PID()),
			repl: repl, replica: rep, replicaPID: strconv.Itoa(rep.PID())}, nil
	}
	if err := mariadbd.Init(ctx, dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	srv, err := mariadbd.New(dir, args...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &mysqld{Server: srv, root: dir, pid: strconv.Itoa(srv.PID())}, nil
}

// dsn returns cfg pointed at the primary as root.
func (m *mysqld) dsn(cfg *mysql.Config) *mysql.Config { return pointAt(cfg, m.Addr()) }

// replicaDSN returns cfg pointed at the replica as root, or nil without
// one.
func (m *mysqld) replicaDSN(cfg *mysql.Config) *mysql.Config {
	if m.replica == nil {
		return nil
	}
	return pointAt(cfg, m.replica.Addr())
}

func pointAt(cfg *mysql.Config, addr string) *mysql.Config {
	c := cfg.Clone()
	c.Net, c.Addr, c.User, c.Passwd = "tcp", addr, "root", ""
	return c
}

// caughtUp waits until the replica, if any, has applied everything the
// primary has committed (so that it has the schema and the seeded rows
// before a workload reads them there), for a minute at most.
func (m *mysqld) caughtUp(ctx context.Context) error {
	if m == nil || m.replica == nil {
		return nil
	}
	if err := m.replica.WaitCaughtUp(ctx, time.Minute); err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	return nil
}

// Stop shuts the servers down (SIGTERM, replicas first; SIGKILL after 2
// minutes) and removes their folder. It may be called more than once.
func (m *mysqld) Stop() {
	if m.repl != nil {
		m.repl.Stop()
	} else {
		m.Server.Stop()
	}
	os.RemoveAll(m.root)
}
