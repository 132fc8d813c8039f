//go:build linux

package faults

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// mariadb is a mariadbd of the suite's own: its own data directory in a
// temporary folder and its own port, so it can be stopped, killed and made
// read-only without touching anyone else's server.
type mariadb struct {
	dir  string // data directory and socket live here
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

const (
	// svcUser is the account the service connects with. It has every
	// privilege on its own database and none globally, so read_only
	// applies to it (root's SUPER would bypass it).
	svcUser     = "svc"
	svcPassword = "svc-password"
)

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

// startMariaDB initializes a data directory under dir and starts the server
// on a free port.
func startMariaDB(dir string) (*mariadb, error) {
	_, install, err := mariadbBinaries()
	if err != nil {
		return nil, err
	}
	m := &mariadb{dir: dir, port: freePort()}
	args := []string{"--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db",
		"--datadir=" + m.datadir()}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if out, err := exec.Command(install, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	if err := m.start(); err != nil {
		return nil, err
	}
	db, err := m.root("")
	if err != nil {
		m.kill()
		return nil, err
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", svcUser, svcPassword)); err != nil {
		m.kill()
		return nil, fmt.Errorf("create the service's user: %w", err)
	}
	return m, nil
}

func (m *mariadb) datadir() string { return filepath.Join(m.dir, "data") }
func (m *mariadb) addr() string    { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port)) }

// start starts mariadbd and waits until it answers.
func (m *mariadb) start() error {
	server, _, err := mariadbBinaries()
	if err != nil {
		return err
	}
	args := []string{"--no-defaults",
		"--datadir=" + m.datadir(),
		"--port=" + strconv.Itoa(m.port),
		"--bind-address=127.0.0.1",
		"--socket=" + filepath.Join(m.dir, "mariadbd.sock"),
		"--pid-file=" + filepath.Join(m.dir, "mariadbd.pid"),
		"--log-error=" + filepath.Join(m.dir, "mariadbd.err"),
		"--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=48M",
		"--max-connections=400",
		// Durable commits, as a production server has them: an
		// acknowledged transfer must survive kill -9.
		"--innodb-flush-log-at-trx-commit=1",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.Command(server, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()

	deadline := time.Now().Add(2 * time.Minute)
	for {
		db, err := m.root("")
		if err == nil {
			db.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("mariadbd exited at start: %v\n%s", cmd.ProcessState, m.errLog())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mariadbd did not answer within 2 minutes: %v\n%s", err, m.errLog())
		}
	}
}

// errLog returns the tail of the server's error log.
func (m *mariadb) errLog() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "mariadbd.err"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// signal sends sig to the server and waits for it to exit.
func (m *mariadb) signal(sig syscall.Signal, wait time.Duration) error {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("mariadbd did not exit within %s of %v", wait, sig)
	}
}

// stop shuts the server down cleanly (SIGTERM).
func (m *mariadb) stop() error { return m.signal(syscall.SIGTERM, 2*time.Minute) }

// kill kills the server with SIGKILL.
func (m *mariadb) kill() error { return m.signal(syscall.SIGKILL, 30*time.Second) }

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
	connector, err := mysql.NewConnector(dsn(m.addr(), "root", "", name))
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

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
