package natscluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dbapi-dev/dbapi/internal/freeport"
	"github.com/dbapi-dev/dbapi/internal/proc"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The binary Build made, shared by every cluster of the process.
var built struct {
	mu   sync.Mutex
	path string
}

// Build builds nats-server from this module's own dependency
// (github.com/nats-io/nats-server/v2, the version go.mod requires) into
// dir and returns its path. It builds once per process: later calls
// return the first binary, wherever they ask for it, so dir must live as
// long as the process uses it (a test run's temporary folder). It needs
// the go command (go test puts its own first in PATH) and must be called
// from inside the module (a test's working directory is).
func Build(dir string) (string, error) {
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.path != "" {
		if _, err := os.Stat(built.path); err == nil {
			return built.path, nil
		}
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build nats-server: %w", err)
	}
	bin := filepath.Join(dir, "nats-server")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build github.com/nats-io/nats-server/v2: %v\n%s", err, out)
	}
	built.path = bin
	return bin, nil
}

// Config describes a cluster.
type Config struct {
	// Dir holds a folder per node (its configuration, store and log).
	// Required; the caller removes it.
	Dir string
	// Binary is the nats-server to run; empty: Build(Dir).
	Binary string
	// Nodes is the number of servers; 0 means 3.
	Nodes int
	// Name is the cluster's name; empty means "dbapi-test".
	Name string
}

// Cluster is a running NATS cluster. Its methods are safe for concurrent
// use. Nodes are numbered from 0; node i's server name is "n<i>".
type Cluster struct {
	cfg   Config
	nodes []*node
}

// node is one nats-server process and the ports it keeps.
type node struct {
	name        string
	dir         string
	port        int // clients
	clusterPort int // routes
	httpPort    int // monitoring
	bin         string

	proc *proc.Process
}

// readyTimeout bounds how long a node may take to accept clients.
const readyTimeout = 30 * time.Second

// Start writes each node's configuration, starts every node and waits
// until each accepts clients and the cluster has elected a JetStream meta
// leader (or ctx ends). On error every node started is killed.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("natscluster: Config.Dir is required")
	}
	if cfg.Nodes <= 0 {
		cfg.Nodes = 3
	}
	if cfg.Name == "" {
		cfg.Name = "dbapi-test"
	}
	if cfg.Binary == "" {
		var err error
		if cfg.Binary, err = Build(cfg.Dir); err != nil {
			return nil, err
		}
	}
	c := &Cluster{cfg: cfg}
	for i := range cfg.Nodes {
		name := fmt.Sprintf("n%d", i)
		n := &node{name: name, bin: cfg.Binary, proc: proc.New("nats-server " + name)}
		n.dir = filepath.Join(cfg.Dir, n.name)
		for _, p := range []*int{&n.port, &n.clusterPort, &n.httpPort} {
			var err error
			if *p, err = freeport.Port(); err != nil {
				return nil, err
			}
		}
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		if err := n.writeConfig(cfg.Name, c.nodes); err != nil {
			return nil, err
		}
	}
	if err := c.Start(ctx, c.all()...); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.WaitMetaLeader(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// writeConfig writes the node's nats.conf: its ports, JetStream with a
// store of its own, and routes to every node of the cluster.
func (n *node) writeConfig(cluster string, all []*node) error {
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return err
	}
	var routes []string
	for _, o := range all {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", o.clusterPort))
	}
	conf := fmt.Sprintf(`server_name: %q
listen: "127.0.0.1:%d"
http: "127.0.0.1:%d"
logtime: true
jetstream {
  store_dir: %q
  max_memory_store: 256MB
  max_file_store: 2GB
}
cluster {
  name: %q
  listen: "127.0.0.1:%d"
  routes: [%s]
}
`, n.name, n.port, n.httpPort, filepath.Join(n.dir, "jetstream"), cluster, n.clusterPort, strings.Join(routes, ", "))
	return os.WriteFile(filepath.Join(n.dir, "nats.conf"), []byte(conf), 0o644)
}

func (c *Cluster) all() []int {
	l := make([]int, len(c.nodes))
	for i := range l {
		l[i] = i
	}
	return l
}

// Size is the number of nodes.
func (c *Cluster) Size() int { return len(c.nodes) }

// URL is node i's client URL.
func (c *Cluster) URL(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", c.nodes[i].port) }

// URLs is every node's client URL, comma-joined (for nats.Connect and
// DBAPI_NATS_URL).
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i := range c.nodes {
		urls[i] = c.URL(i)
	}
	return strings.Join(urls, ",")
}

// Name is node i's server name.
func (c *Cluster) Name(i int) string { return c.nodes[i].name }

// Index returns the number of the node with server name name, or -1.
func (c *Cluster) Index(name string) int {
	return slices.IndexFunc(c.nodes, func(n *node) bool { return n.name == name })
}

// Running reports whether node i's process runs.
func (c *Cluster) Running(i int) bool { return c.nodes[i].running() }

// Log returns the tail of node i's log (4000 bytes at most).
func (c *Cluster) Log(i int) string {
	b, _ := os.ReadFile(filepath.Join(c.nodes[i].dir, "nats.log"))
	return string(b[max(0, len(b)-4000):])
}

// Start starts the given nodes at once (those already running are left
// alone), on their ports and stores, and waits until each accepts
// clients. It does not wait for JetStream: see WaitMetaLeader and
// WaitHealthy.
func (c *Cluster) Start(ctx context.Context, nodes ...int) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for k, i := range nodes {
		wg.Go(func() { errs[k] = c.nodes[i].start(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Kill kills node i with SIGKILL and waits for it to exit.
func (c *Cluster) Kill(i int) error { return c.nodes[i].signal(syscall.SIGKILL, 30*time.Second) }

// Stop shuts node i down cleanly (SIGTERM: the server hands its
// leaderships over and closes its connections) and waits for it; after
// 30 s it kills it and returns an error.
func (c *Cluster) Stop(i int) error {
	err := c.nodes[i].signal(syscall.SIGTERM, 30*time.Second)
	if err != nil {
		return errors.Join(err, c.Kill(i))
	}
	return nil
}

// Restart stops node i cleanly and starts it again (see Stop and Start).
func (c *Cluster) Restart(ctx context.Context, i int) error {
	if err := c.Stop(i); err != nil {
		return err
	}
	return c.Start(ctx, i)
}

// Close kills every node. The nodes' folders stay (Config.Dir is the
// caller's).
func (c *Cluster) Close() {
	for i := range c.nodes {
		c.Kill(i)
	}
}

func (n *node) running() bool { return n.proc.Running() }

// start starts the node's process and waits until it accepts clients.
func (n *node) start(ctx context.Context) error {
	if n.running() {
		return nil
	}
	log, err := os.OpenFile(filepath.Join(n.dir, "nats.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := proc.Command(n.bin, "-c", filepath.Join(n.dir, "nats.conf"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := n.proc.Start(cmd, func() { log.Close() }); err != nil {
		log.Close()
		return err
	}
	done := n.proc.Exited()

	deadline := time.Now().Add(readyTimeout)
	for {
		if n.acceptsClients() {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("nats-server %s exited at start: %v", n.name, n.proc.State())
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			n.signal(syscall.SIGKILL, 10*time.Second)
			return fmt.Errorf("nats-server %s did not accept clients within %s: %v", n.name, readyTimeout, ctx.Err())
		}
	}
}

// acceptsClients reports whether the client port answers with INFO.
func (n *node) acceptsClients() bool {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)), time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "INFO ")
}

// signal sends sig to the node's process and waits up to wait for it to
// exit. Without a running process it does nothing.
func (n *node) signal(sig syscall.Signal, wait time.Duration) error { return n.proc.Signal(sig, wait) }

// monitor GETs path on node i's monitoring port and decodes the JSON
// answer into v. It returns the HTTP status.
func (c *Cluster) monitor(ctx context.Context, i int, path string, v any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", c.nodes[i].httpPort, path), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			return resp.StatusCode, fmt.Errorf("%s on %s: %w", path, c.nodes[i].name, err)
		}
	}
	return resp.StatusCode, nil
}

// MetaLeader returns the node every running node names as the JetStream
// meta leader (from each one's /jsz), or an error saying what they see.
func (c *Cluster) MetaLeader(ctx context.Context) (int, error) {
	var seen []string
	leader := ""
	for i := range c.nodes {
		if !c.Running(i) {
			continue
		}
		var jsz server.JSInfo
		if _, err := c.monitor(ctx, i, "/jsz", &jsz); err != nil {
			return -1, err
		}
		l := ""
		if jsz.Meta != nil {
			l = jsz.Meta.Leader
		}
		seen = append(seen, fmt.Sprintf("%s sees %q", c.nodes[i].name, l))
		if l == "" || (leader != "" && l != leader) {
			leader = "?"
		} else if leader == "" {
			leader = l
		}
	}
	if i := c.Index(leader); i >= 0 && c.Running(i) {
		return i, nil
	}
	return -1, fmt.Errorf("no JetStream meta leader that every running node agrees on: %s", strings.Join(seen, ", "))
}

// WaitMetaLeader waits until every running node names the same running
// JetStream meta leader, and returns it.
func (c *Cluster) WaitMetaLeader(ctx context.Context) (int, error) {
	return poll(ctx, func() (int, error) { return c.MetaLeader(ctx) })
}

// Healthy reports whether node i's /healthz says ok: it runs and its
// JetStream has caught up with the meta leader and with every stream and
// consumer it holds.
func (c *Cluster) Healthy(ctx context.Context, i int) error {
	var h struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	code, err := c.monitor(ctx, i, "/healthz", &h)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("%s /healthz: %d %s %s", c.nodes[i].name, code, h.Status, h.Error)
	}
	return nil
}

// WaitHealthy waits until node i is healthy (see Healthy).
func (c *Cluster) WaitHealthy(ctx context.Context, i int) error {
	_, err := poll(ctx, func() (int, error) { return 0, c.Healthy(ctx, i) })
	return err
}

// connect opens a short-lived connection to the cluster.
func (c *Cluster) connect() (*nats.Conn, error) {
	return nats.Connect(c.URLs(), nats.Name("natscluster"), nats.Timeout(2*time.Second))
}

// StreamLeader returns the node that leads stream (of the default
// account), from the stream's info.
func (c *Cluster) StreamLeader(ctx context.Context, stream string) (int, error) {
	nc, err := c.connect()
	if err != nil {
		return -1, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return -1, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return -1, fmt.Errorf("stream %s: %w", stream, err)
	}
	info := s.CachedInfo()
	if info.Cluster == nil || c.Index(info.Cluster.Leader) < 0 {
		return -1, fmt.Errorf("stream %s has no leader in this cluster (%+v)", stream, info.Cluster)
	}
	return c.Index(info.Cluster.Leader), nil
}

// WaitStreamLeader waits until stream has a leader, and returns it.
func (c *Cluster) WaitStreamLeader(ctx context.Context, stream string) (int, error) {
	return poll(ctx, func() (int, error) { return c.StreamLeader(ctx, stream) })
}

// ConsumerLeader returns the node that leads consumer (of stream, in the
// default account), from the consumer's info. A consumer has a leader of
// its own, elected apart from its stream's.
func (c *Cluster) ConsumerLeader(ctx context.Context, stream, consumer string) (int, error) {
	nc, err := c.connect()
	if err != nil {
		return -1, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return -1, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return -1, fmt.Errorf("consumer %s of stream %s: %w", consumer, stream, err)
	}
	info := cons.CachedInfo()
	if info.Cluster == nil || c.Index(info.Cluster.Leader) < 0 {
		return -1, fmt.Errorf("consumer %s of stream %s has no leader in this cluster (%+v)", consumer, stream, info.Cluster)
	}
	return c.Index(info.Cluster.Leader), nil
}

// WaitConsumerLeader waits until consumer has a leader, and returns it.
func (c *Cluster) WaitConsumerLeader(ctx context.Context, stream, consumer string) (int, error) {
	return poll(ctx, func() (int, error) { return c.ConsumerLeader(ctx, stream, consumer) })
}

// NodeOf returns the node nc is connected to, or -1.
func (c *Cluster) NodeOf(nc *nats.Conn) int {
	if !nc.IsConnected() {
		return -1
	}
	return c.Index(nc.ConnectedServerName())
}

// Conns returns, for each node, how many client connections named name
// it holds (from its /connz; 0 for a node that does not run). It tells
// where another process's connections are.
func (c *Cluster) Conns(ctx context.Context, name string) ([]int, error) {
	counts := make([]int, len(c.nodes))
	for i := range c.nodes {
		if !c.Running(i) {
			continue
		}
		var connz server.Connz
		if _, err := c.monitor(ctx, i, "/connz?limit=100000", &connz); err != nil {
			return nil, err
		}
		for _, ci := range connz.Conns {
			if ci.Name == name {
				counts[i]++
			}
		}
	}
	return counts, nil
}

// poll calls f every 100 ms until it succeeds or ctx ends, and returns
// its last result.
func poll(ctx context.Context, f func() (int, error)) (int, error) {
	for {
		i, err := f()
		if err == nil {
			return i, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
