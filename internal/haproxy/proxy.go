//go:build linux

package haproxy

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dbapi-dev/dbapi/internal/freeport"
	"github.com/dbapi-dev/dbapi/internal/proc"
)

// Balance is how the proxy spreads connections over its servers.
type Balance int

const (
	// SingleWriter sends every new connection to the first healthy
	// server in order: the others are backups, taken one at a time while
	// those before are down. When a server before comes back, new
	// connections go to it again, and those open to the backup stay
	// (they are not cut, which would cut COMMITs in flight): for a while
	// two nodes take writes, whose conflicts dbapi retries.
	SingleWriter Balance = iota
	// RoundRobin spreads connections over every healthy server.
	RoundRobin
)

// HealthCheck is how the proxy checks its servers.
type HealthCheck int

const (
	// HTTPCheck asks each server's Check (Backend.CheckAddr): wsrep-aware.
	HTTPCheck HealthCheck = iota
	// MySQLCheck is HAProxy's `option mysql-check`: a MySQL login as
	// root, which passes on a Galera node outside the primary component.
	// For comparison only.
	MySQLCheck
)

// Backend is one server behind the proxy.
type Backend struct {
	Name      string // HAProxy's name for it (node1, ...)
	Addr      string // its MySQL address, host:port
	CheckAddr string // its Check's address (HTTPCheck only)
}

// Config is what the proxy is to do.
type Config struct {
	Backends []Backend
	Balance  Balance
	Check    HealthCheck
	// Interval between two checks of a server (default 500ms); a server
	// is marked down after 2 failed checks and up after 2 good ones.
	Interval time.Duration
}

// Proxy is a running haproxy.
type Proxy struct {
	dir      string
	addr     string // frontend
	statAddr string // stats socket (TCP), level admin
	proc     *proc.Process
}

// Binary returns the path of haproxy (on PATH, else /usr/sbin).
func Binary() (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy", nil
	}
	return "", errors.New("haproxy not found (install the haproxy package)")
}

// Start writes the configuration into dir (which must exist) as
// haproxy.cfg, with haproxy's output beside it in haproxy.log, and starts
// haproxy in the foreground, listening on a free port
// of 127.0.0.1, and returns once it accepts connections. It dies with
// the calling process (Linux).
func Start(ctx context.Context, dir string, cfg Config) (*Proxy, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if len(cfg.Backends) == 0 {
		return nil, errors.New("haproxy: no backends")
	}
	ports, err := freeport.Ports(2)
	if err != nil {
		return nil, err
	}
	p := &Proxy{dir: dir, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		statAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])), proc: proc.New("haproxy")}
	text, err := p.config(cfg)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, bin, "-c", "-q", "-f", cfgPath).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("haproxy -c: %w\n%s\n%s", err, out, text)
	}
	logPath := filepath.Join(dir, "haproxy.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := proc.Command(bin, "-db", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := p.proc.Start(cmd, func() { logf.Close() }); err != nil {
		logf.Close()
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.proc.Exited():
			return nil, fmt.Errorf("haproxy exited at start: %v\n%s", p.proc.State(), p.Log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Close()
			return nil, fmt.Errorf("haproxy did not listen on %s within 10 s: %v\n%s", p.addr, err, p.Log())
		}
	}
}

// config returns the text of haproxy.cfg.
func (p *Proxy) config(cfg Config) (string, error) {
	interval := cfg.Interval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	var b strings.Builder
	fmt.Fprintf(&b, `global
	maxconn 4000
	stats socket ipv4@%s level admin

defaults
	mode tcp
	timeout connect 2s
	timeout client 1h
	timeout server 1h
	timeout check 5s

frontend mysql
	bind %s
	default_backend galera

backend galera
`, p.statAddr, p.addr)
	switch cfg.Balance {
	case SingleWriter:
		// The first server takes the connections, the others are
		// backups (the first backup in order while it is down).
		b.WriteString("\tbalance first\n")
	case RoundRobin:
		b.WriteString("\tbalance roundrobin\n")
	default:
		return "", fmt.Errorf("unknown balance %d", cfg.Balance)
	}
	switch cfg.Check {
	case HTTPCheck:
		b.WriteString("\toption httpchk\n\thttp-check send meth GET uri /\n\thttp-check expect status 200\n")
	case MySQLCheck:
		b.WriteString("\toption mysql-check user root post-41\n")
	default:
		return "", fmt.Errorf("unknown health check %d", cfg.Check)
	}
	fmt.Fprintf(&b, "\tdefault-server inter %dms fastinter %dms downinter %dms fall 2 rise 2 on-marked-down shutdown-sessions\n",
		interval.Milliseconds(), interval.Milliseconds(), interval.Milliseconds())
	for i, be := range cfg.Backends {
		line := fmt.Sprintf("\tserver %s %s check", be.Name, be.Addr)
		if cfg.Check == HTTPCheck {
			host, port, err := net.SplitHostPort(be.CheckAddr)
			if err != nil {
				return "", fmt.Errorf("backend %s: check address %q: %w", be.Name, be.CheckAddr, err)
			}
			line += fmt.Sprintf(" addr %s port %s", host, port)
		}
		if cfg.Balance == SingleWriter && i > 0 {
			line += " backup"
		}
		b.WriteString(line + "\n")
	}
	return b.String(), nil
}

// Addr is where clients connect, 127.0.0.1:port.
func (p *Proxy) Addr() string { return p.addr }

// Log returns the end of haproxy's output.
func (p *Proxy) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "haproxy.log"))
	return string(b[max(0, len(b)-4000):])
}

// command runs one command on the stats socket and returns its answer.
func (p *Proxy) command(ctx context.Context, cmd string) (string, error) {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", p.statAddr)
	if err != nil {
		return "", fmt.Errorf("haproxy stats socket: %w", err)
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	if _, err := c.Write([]byte(cmd + "\n")); err != nil {
		return "", err
	}
	var b strings.Builder
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			break // the socket closes after one command
		}
	}
	return b.String(), nil
}

// States returns each server's status as HAProxy sees it ("UP", "DOWN",
// "UP 1/2" while rising or falling, ...).
func (p *Proxy) States(ctx context.Context) (map[string]string, error) {
	out, err := p.command(ctx, "show stat")
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "# ")))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, fmt.Errorf("show stat: %v: %q", err, out)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	px, sv, st := col["pxname"], col["svname"], col["status"]
	m := map[string]string{}
	for _, rec := range recs[1:] {
		if len(rec) > st && rec[px] == "galera" && rec[sv] != "BACKEND" {
			m[rec[sv]] = rec[st]
		}
	}
	return m, nil
}

// WaitState waits up to limit until server name has status want ("UP"
// or "DOWN").
func (p *Proxy) WaitState(ctx context.Context, name, want string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		m, err := p.States(ctx)
		if err == nil && m[name] == want {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("haproxy: %s not %s within %s: states %v (%v)", name, want, limit, m, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Close stops haproxy.
func (p *Proxy) Close() error { return p.proc.Signal(syscall.SIGKILL, 30*time.Second) }
