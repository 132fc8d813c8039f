package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

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
	dir  string
	port int
	cmd  *exec.Cmd
	pid  string
	done chan struct{} // closed when cmd has exited
}

// mariadbBinaries returns the paths of mariadbd and mariadb-install-db.
func mariadbBinaries() (server, install string, err error) {
	server, err = exec.LookPath("mariadbd")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/mariadbd"); e != nil {
			return "", "", errors.New("mariadbd not found (install the mariadb-server package)")
		}
		server = "/usr/sbin/mariadbd"
	}
	if install, err = exec.LookPath("mariadb-install-db"); err != nil {
		return "", "", errors.New("mariadb-install-db not found (install the mariadb-server package)")
	}
	return server, install, nil
}

// startMySQLD initializes a data directory in a new temporary folder,
// starts mariadbd with the profile's settings on a free port of
// 127.0.0.1, and waits until it answers. On error nothing is left behind.
func startMySQLD(ctx context.Context, profile string) (*mysqld, error) {
	p, ok := mysqldProfiles[profile]
	if !ok {
		return nil, fmt.Errorf("-mysqld: unknown profile %q (want one of %v)", profile, profileNames())
	}
	server, install, err := mariadbBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dbapi-bench-mysqld-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	m := &mysqld{dir: dir, port: port, done: make(chan struct{})}
	datadir := filepath.Join(dir, "data")
	args := []string{"--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db", "--datadir=" + datadir}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if out, err := exec.CommandContext(ctx, install, args...).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	args = []string{"--no-defaults",
		"--datadir=" + datadir,
		"--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--socket=" + filepath.Join(dir, "mariadbd.sock"),
		"--pid-file=" + filepath.Join(dir, "mariadbd.pid"),
		"--log-error=" + filepath.Join(dir, "mariadbd.err"),
		// As Debian's default server has them, so that the profiles
		// differ in what a commit costs only.
		"--innodb-buffer-pool-size=128M",
		"--innodb-log-file-size=96M",
		"--max-connections=400",
	}
	args = append(args, p.args(dir)...)
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	m.cmd = exec.Command(server, args...)
	setDeathSignal(m.cmd)
	if err := m.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start mariadbd: %w", err)
	}
	m.pid = strconv.Itoa(m.cmd.Process.Pid)
	go func() { m.cmd.Wait(); close(m.done) }()

	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := m.ping(ctx)
		if err == nil {
			return m, nil
		}
		select {
		case <-m.done:
			log := m.errLog()
			m.Stop()
			return nil, fmt.Errorf("mariadbd exited at start: %v\n%s", m.cmd.ProcessState, log)
		case <-time.After(100 * time.Millisecond):
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			log := m.errLog()
			m.Stop()
			return nil, fmt.Errorf("mariadbd did not answer within 2 minutes: %v\n%s", err, log)
		}
	}
}

// addr is the server's address, 127.0.0.1:port.
func (m *mysqld) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port)) }

// dsn returns cfg pointed at this server as root.
func (m *mysqld) dsn(cfg *mysql.Config) *mysql.Config {
	c := cfg.Clone()
	c.Net, c.Addr, c.User, c.Passwd = "tcp", m.addr(), "root", ""
	return c
}

func (m *mysqld) ping(ctx context.Context) error {
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User, c.Timeout = "tcp", m.addr(), "root", 2*time.Second
	connector, err := mysql.NewConnector(c)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// errLog returns the tail of the server's error log.
func (m *mysqld) errLog() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "mariadbd.err"))
	return string(b[max(0, len(b)-4000):])
}

// Stop shuts the server down (SIGTERM; SIGKILL after 2 minutes) and
// removes its folder. It may be called more than once.
func (m *mysqld) Stop() {
	defer os.RemoveAll(m.dir)
	select {
	case <-m.done:
		return
	default:
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(2 * time.Minute):
		m.cmd.Process.Kill()
		<-m.done
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
