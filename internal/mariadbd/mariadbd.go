package mariadbd

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/dbapi-dev/dbapi/internal/freeport"
	"github.com/dbapi-dev/dbapi/internal/proc"
	"github.com/go-sql-driver/mysql"
)

// startTimeout bounds how long Start waits for the server to answer.
const startTimeout = 2 * time.Minute

// Binaries returns the paths of mariadbd (on PATH, else /usr/sbin) and
// mariadb-install-db.
func Binaries() (server, install string, err error) {
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

// Init initializes a data directory in dir/data with mariadb-install-db:
// root with a password-less normal login, no test database. dir must
// exist.
func Init(ctx context.Context, dir string) error {
	_, install, err := Binaries()
	if err != nil {
		return err
	}
	args := []string{"--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db",
		"--datadir=" + filepath.Join(dir, "data")}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if out, err := exec.CommandContext(ctx, install, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("mariadb-install-db: %w\n%s", err, out)
	}
	return nil
}

// Server is a mariadbd on the data directory in its folder (see Init) and
// a port of 127.0.0.1 chosen once, so that it restarts where it was. Its
// methods are safe for concurrent use.
type Server struct {
	dir  string
	port int
	args []string
	// runAs, when set, is the user a root caller runs the server as,
	// instead of root (see RunAs).
	runAs *runAs

	proc *proc.Process
}

// New returns the server of the data directory Init made in dir, on a
// port of 127.0.0.1 that is free now, with args (server options such as
// --innodb-buffer-pool-size=64M) after its own. It does not start it.
func New(dir string, args ...string) (*Server, error) {
	port, err := freeport.Port()
	if err != nil {
		return nil, err
	}
	return newServer(dir, port, args), nil
}

// newServer returns the server of the data directory in dir on port,
// with args after its own options, not started.
func newServer(dir string, port int, args []string) *Server {
	return &Server{dir: dir, port: port, args: args, proc: proc.New("mariadbd")}
}

// RunAs makes a caller that is root start the server as the system user
// name (such as mysql) instead of as root: the process itself runs as
// that user, so that what it spawns (Galera's state transfer scripts)
// does too, and it still dies with the caller. The caller must give that
// user the folder (see Chown). A caller that is not root runs the server
// as itself and RunAs only checks that the user exists. Call it before
// Start.
func (s *Server) RunAs(name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("run mariadbd as %s: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
	}
	s.runAs = &runAs{name: name, uid: uint32(uid), gid: uint32(gid)}
	return nil
}

// runAs is a system user to run the server as.
type runAs struct {
	name     string
	uid, gid uint32
}

// Dir is the server's folder.
func (s *Server) Dir() string { return s.dir }

// Addr is the server's address, 127.0.0.1:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// PID is the process id of the server last started, 0 before Start.
func (s *Server) PID() int { return s.proc.PID() }

// Running reports whether the server last started has not exited.
func (s *Server) Running() bool { return s.proc.Running() }

// Start starts mariadbd and waits until it answers root, for two minutes
// at most or until ctx is done. The server dies with the calling process
// (Linux) and has a process group of its own, so that a Ctrl-C on the
// terminal reaches only the caller, which stops it in order. On error the
// server is killed and the error has the tail of its error log.
func (s *Server) Start(ctx context.Context) error {
	cmd, err := s.command()
	if err != nil {
		return err
	}
	if err := s.proc.Start(cmd, nil); err != nil {
		return err
	}
	done := s.proc.Exited()

	deadline := time.Now().Add(startTimeout)
	for {
		err := s.ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("mariadbd exited at start: %v\n%s", s.proc.State(), s.ErrLog())
		case <-time.After(100 * time.Millisecond):
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			s.Kill()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return fmt.Errorf("mariadbd did not answer within %s: %w\n%s", startTimeout, err, s.ErrLog())
		}
	}
}

// command returns mariadbd with the server's options, then extra ones
// (a later option wins), run as the server's user.
func (s *Server) command(extra ...string) (*exec.Cmd, error) {
	server, _, err := Binaries()
	if err != nil {
		return nil, err
	}
	args := []string{"--no-defaults",
		"--datadir=" + filepath.Join(s.dir, "data"),
		"--port=" + strconv.Itoa(s.port),
		"--bind-address=127.0.0.1",
		"--socket=" + filepath.Join(s.dir, "mariadbd.sock"),
		"--pid-file=" + filepath.Join(s.dir, "mariadbd.pid"),
		"--log-error=" + filepath.Join(s.dir, "mariadbd.err"),
	}
	args = append(args, s.args...)
	args = append(args, extra...)
	if os.Geteuid() == 0 && s.runAs == nil {
		args = append(args, "--user=root")
	}
	cmd := proc.Command(server, args...)
	if os.Geteuid() == 0 && s.runAs != nil {
		setUser(cmd, s.runAs)
	}
	return cmd, nil
}

// ping connects as root and checks that the server answers.
func (s *Server) ping(ctx context.Context) error {
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User, c.Timeout = "tcp", s.Addr(), "root", 2*time.Second
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

// ErrLog returns the tail of the server's error log (4000 bytes at most).
func (s *Server) ErrLog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "mariadbd.err"))
	return string(b[max(0, len(b)-4000):])
}

// Signal sends sig to the server and waits up to wait for it to exit.
// Without a running server it does nothing.
func (s *Server) Signal(sig os.Signal, wait time.Duration) error { return s.proc.Signal(sig, wait) }

// Stop shuts the server down cleanly (SIGTERM) and waits for it; after
// two minutes it kills it and returns an error. Without a running server
// it does nothing.
func (s *Server) Stop() error {
	err := s.Signal(syscall.SIGTERM, 2*time.Minute)
	if err != nil {
		if kerr := s.Kill(); kerr != nil {
			return errors.Join(err, kerr)
		}
	}
	return err
}

// Kill kills the server (SIGKILL) and waits for it to exit.
func (s *Server) Kill() error { return s.Signal(syscall.SIGKILL, 30*time.Second) }
