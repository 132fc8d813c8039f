package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// isLoopback reports whether host (a name or an address) is this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkLoopback refuses a MySQL or NATS address that is not on this
// machine: the benchmark sends load only to 127.0.0.1.
func checkLoopback(cfg *mysql.Config, natsURL string) error {
	if cfg.Net != "tcp" && cfg.Net != "unix" {
		return fmt.Errorf("-mysql: network %q: want tcp to 127.0.0.1 or a unix socket", cfg.Net)
	}
	if cfg.Net == "tcp" {
		host, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil || !isLoopback(host) {
			return fmt.Errorf("-mysql: address %q is not on this machine; the benchmark only loads 127.0.0.1", cfg.Addr)
		}
	}
	// Like the NATS client, take a comma-separated list of servers, each
	// with or without a scheme.
	servers := splitList(natsURL)
	if natsURL != "" && len(servers) == 0 {
		return fmt.Errorf("-nats: %q names no server", natsURL)
	}
	for _, s := range servers {
		if !strings.Contains(s, "://") {
			s = "nats://" + s
		}
		u, err := url.Parse(s)
		if err != nil || !isLoopback(u.Hostname()) {
			return fmt.Errorf("-nats: %q is not on this machine; the benchmark only loads 127.0.0.1", natsURL)
		}
	}
	return nil
}

// startNATS returns the URL of the NATS server to use: -nats, or one
// started in this process (stopped by the returned function).
func startNATS(o *Options) (string, func(), error) {
	if o.NATSURL != "" {
		return o.NATSURL, func() {}, nil
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true, MaxPayload: 1 << 20})
	if err != nil {
		return "", nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return "", nil, errors.New("embedded NATS server did not start")
	}
	return ns.ClientURL(), func() { ns.Shutdown(); ns.WaitForShutdown() }, nil
}

// serviceProc is a dbapi process under test.
type serviceProc struct {
	cmd     *exec.Cmd
	pid     string
	logPath string
	exited  chan struct{}
	waitErr error
	tmpDir  string
}

// buildDBAPI builds the bank example (./examples/bank) of the module this command runs in.
func buildDBAPI(ctx context.Context, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("no go command in PATH to build the service; pass -dbapi PATH")
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "dbapi")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, "./examples/bank")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./examples/bank: %v\n%s", err, b)
	}
	return out, nil
}

// moduleRoot finds the dbapi module's directory from the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 64 {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(b, []byte("module github.com/dbapi-dev/dbapi\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("run from the dbapi repository to build the service, or pass -dbapi PATH")
}

// dbapiBinary returns the dbapi binary to run: -dbapi, or the bank
// example built into a temporary directory that the returned function
// removes.
func dbapiBinary(ctx context.Context, o *Options) (string, func(), error) {
	if o.DBAPI != "" {
		return o.DBAPI, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "dbapi-bench-bin-")
	if err != nil {
		return "", nil, err
	}
	fmt.Fprintln(os.Stderr, "building ./examples/bank ...")
	bin, err := buildDBAPI(ctx, tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	return bin, func() { os.RemoveAll(tmp) }, nil
}

// coalesceEnvPrefix starts the names of the group-commit settings of the
// service (DBAPI_COALESCE_MAX, DBAPI_COALESCE_WAIT).
const coalesceEnvPrefix = "DBAPI_COALESCE_"

// replicaDSNEnv names the replicas of a dbapi process: the replica
// mode's gets the replica, every other none.
const replicaDSNEnv = "DBAPI_MYSQL_REPLICA_DSN"

// coalescedPrefix is the subject prefix and queue group of the coalesced
// dbapi process, so that it never shares a queue group with the other.
func coalescedPrefix(o *Options) string { return o.Prefix + "co" }

// replicaPrefix is the subject prefix and queue group of the replica
// mode's dbapi process.
func replicaPrefix(o *Options) string { return o.Prefix + "rep" }

// servicePrefix is the subject prefix of the dbapi process of a mode
// (service, coalesced or replica).
func servicePrefix(o *Options, mode string) string {
	switch mode {
	case modeCoalesced:
		return coalescedPrefix(o)
	case modeReplica:
		return replicaPrefix(o)
	}
	return o.Prefix
}

// serviceEnv returns the environment of the dbapi process of a mode:
// this process's, without any group-commit or replica setting, then
// -service-env; the service and replica modes then get
// DBAPI_COALESCE_MAX=1 (one transaction per request), the coalesced mode
// -coalesced-env; the replica mode gets -mysqld replica's replica as
// DBAPI_MYSQL_REPLICA_DSN, the others no replica.
func serviceEnv(o *Options, base []string, mode, prefix, natsURL string) []string {
	env := make([]string, 0, len(base)+len(o.ServiceEnv)+len(o.CoalescedEnv)+8)
	for _, kv := range base {
		if !strings.HasPrefix(kv, coalesceEnvPrefix) && !strings.HasPrefix(kv, replicaDSNEnv+"=") {
			env = append(env, kv)
		}
	}
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "DBAPI_LOG_LEVEL=") }) {
		env = append(env, "DBAPI_LOG_LEVEL=warn")
	}
	env = append(env, o.ServiceEnv...)
	if mode == modeCoalesced {
		env = append(env, o.CoalescedEnv...)
	} else {
		env = append(env, coalesceEnvPrefix+"MAX=1")
	}
	replicas := ""
	if mode == modeReplica {
		replicas = o.ReplicaDSN
	}
	return append(env,
		"DBAPI_MYSQL_DSN="+o.MySQLDSN,
		replicaDSNEnv+"="+replicas,
		"DBAPI_NATS_URL="+natsURL,
		"DBAPI_PREFIX="+prefix,
		"DBAPI_QUEUE_GROUP="+prefix,
		"DBAPI_POOL_SIZE="+strconv.Itoa(o.Pool),
	)
}

// startService starts the dbapi binary bin on the benchmark database and
// natsURL as the process of a mode: service (-prefix, one transaction per
// request), coalesced (<-prefix>co, group commit on) or replica
// (<-prefix>rep, one transaction per request, reads on the replica), and
// waits until it answers.
func startService(ctx context.Context, o *Options, bin, mode, natsURL string, nc *nats.Conn) (*serviceProc, error) {
	tmp, err := os.MkdirTemp("", "dbapi-bench-")
	if err != nil {
		return nil, err
	}
	prefix, logPath := servicePrefix(o, mode), o.ServiceLog
	if logPath != "" && mode != modeService {
		logPath += "." + mode
	}
	env := serviceEnv(o, os.Environ(), mode, prefix, natsURL)
	return startProc(ctx, tmp, logPath, bin, []string{"serve"}, env, prefix, nc)
}

// startHandwritten starts the hand-written service (this binary with
// -serve-handwritten) on the benchmark database and natsURL, under the
// subject prefix <-prefix>hw, and waits until it answers.
func startHandwritten(ctx context.Context, o *Options, natsURL string, nc *nats.Conn) (*serviceProc, error) {
	tmp, err := os.MkdirTemp("", "dbapi-bench-hw-")
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	env := append(os.Environ(), o.ServiceEnv...)
	prefix := o.Prefix + "hw"
	args := hwArgs(hwConfig{NATSURL: natsURL, DSN: o.MySQLDSN, Prefix: prefix, Pool: o.Pool})
	return startProc(ctx, tmp, "", self, args, env, prefix, nc)
}

// startProc starts bin with args and env, its output in logPath (default:
// a file in tmp, which Stop removes), and waits until it answers
// <prefix>.accounts.get.
func startProc(ctx context.Context, tmp, logPath, bin string, args, env []string, prefix string, nc *nats.Conn) (*serviceProc, error) {
	s := &serviceProc{tmpDir: tmp, exited: make(chan struct{}), logPath: logPath}
	if s.logPath == "" {
		s.logPath = filepath.Join(tmp, "service.log")
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s.pid = strconv.Itoa(s.cmd.Process.Pid)
	go func() { s.waitErr = s.cmd.Wait(); close(s.exited) }()

	// Ready when accounts.get answers (a 404 is an answer).
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := nc.Request(prefix+".accounts.get", []byte(`{"id":1}`), time.Second)
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			s.Stop()
			return nil, fmt.Errorf("%s exited at start (%v):\n%s", bin, s.waitErr, s.logTail())
		default:
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("%s did not answer within 60s (%v):\n%s", bin, err, s.logTail())
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

func (s *serviceProc) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// errorLines returns up to n distinct error lines from the service's log.
func (s *serviceProc) errorLines(n int) []string {
	b, _ := os.ReadFile(s.logPath)
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) && !seen[line] && len(out) < n {
			seen[line] = true
			out = append(out, line)
		}
	}
	return out
}

// Stop asks the service to stop, and kills it after 40 seconds.
func (s *serviceProc) Stop() {
	defer os.RemoveAll(s.tmpDir)
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(40 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// connect opens n NATS connections for the requesters.
func connect(url string, n int) ([]*nats.Conn, error) {
	conns := make([]*nats.Conn, 0, n)
	for i := range n {
		nc, err := nats.Connect(url, nats.Name(fmt.Sprintf("dbapi-bench-%d", i)), nats.MaxReconnects(3))
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
		}
		conns = append(conns, nc)
	}
	return conns, nil
}

func closeAll(conns []*nats.Conn) {
	for _, nc := range conns {
		nc.Close()
	}
}
