package mariadbd

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dbapi-dev/dbapi/internal/freeport"
	"github.com/go-sql-driver/mysql"
)

// GaleraProvider is where Debian's galera-4 package installs the wsrep
// provider.
const GaleraProvider = "/usr/lib/galera/libgalera_smm.so"

// GaleraUser is the system user a root caller runs Galera nodes as: the
// rsync state transfer runs as the user mariadbd runs as, and a joiner
// whose folders that user does not own aborts with "Will never receive
// state". The mariadb-server package creates this user.
const GaleraUser = "mysql"

// syncTimeout bounds how long a node may take to reach Synced after it
// started (a state transfer included). Under make test, with every
// package's tests at once on 2 cores, a cluster took 2 minutes to start.
const syncTimeout = 5 * time.Minute

// RequireGalera returns why a Galera cluster cannot run here (no
// mariadbd, no galera-4, no rsync for the state transfer, no mysql user
// for a root caller), or nil.
func RequireGalera() error {
	if _, _, err := Binaries(); err != nil {
		return err
	}
	if _, err := os.Stat(GaleraProvider); err != nil {
		return fmt.Errorf("the Galera provider %s is missing (install the galera-4 package): %w", GaleraProvider, err)
	}
	if _, err := exec.LookPath("rsync"); err != nil {
		return errors.New("rsync not found: Galera's rsync state transfer needs it (install the rsync package)")
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup(GaleraUser); err != nil {
			return fmt.Errorf("user %s (the Galera nodes run as it): %w", GaleraUser, err)
		}
	}
	return nil
}

// Cluster is a Galera cluster of mariadbd nodes on 127.0.0.1, each in a
// folder of its own (node1, node2, ...) under the cluster's folder, with
// its own client port, group communication port (gmcast), incremental
// state transfer port (IST) and snapshot state transfer port (SST,
// rsync). Nodes are numbered from 0. Its methods are safe for concurrent
// use, but one node's Kill, Stop and Restart must not race each other.
type Cluster struct {
	dir   string
	nodes []*node
}

// node is one member of a Cluster.
type node struct {
	name   string
	srv    *Server
	gmcast int // group communication port
	admin  *sql.DB
	mu     sync.Mutex // serializes Restart
}

// NodeState is what a node says of itself (SHOW GLOBAL STATUS).
type NodeState struct {
	// LocalState is wsrep_local_state_comment: Synced when the node serves
	// clients; Joining, Joined, Donor/Desynced or Initialized otherwise.
	LocalState string
	// Ready is wsrep_ready: whether the node accepts queries.
	Ready bool
	// ClusterStatus is wsrep_cluster_status: Primary when the node is in
	// the primary component, non-Primary (or Disconnected) otherwise.
	ClusterStatus string
	// ClusterSize is wsrep_cluster_size: the members of its component.
	ClusterSize int
	// Connected is wsrep_connected.
	Connected bool
}

// Serving reports whether the node is Synced, ready and in a primary
// component of size members.
func (s NodeState) Serving(size int) bool {
	return s.LocalState == "Synced" && s.Ready && s.ClusterStatus == "Primary" && s.ClusterSize == size
}

func (s NodeState) String() string {
	return fmt.Sprintf("%s, ready=%v, %s, size %d, connected=%v", s.LocalState, s.Ready, s.ClusterStatus, s.ClusterSize, s.Connected)
}

// StartCluster starts a Galera cluster of n nodes in dir (which must
// exist): it initializes the first node's data directory, bootstraps the
// cluster on it (--wsrep-new-cluster), stops it cleanly and copies its
// data directory to the others, starts it again, then starts the others
// one after the other (each joins at the first node's position, so the
// state transfer copies no data), and returns once every node is Synced
// in a primary component of n members.
// args are extra server options for every node (after the cluster's own).
// A root caller runs the nodes as GaleraUser, gives it the folders, and
// makes dir's parents traversable by it when they are temporary folders
// (os.MkdirTemp makes them 0700). On error nothing is left running.
func StartCluster(ctx context.Context, dir string, n int, args ...string) (_ *Cluster, err error) {
	if n < 1 {
		return nil, fmt.Errorf("a cluster of %d nodes", n)
	}
	if err := RequireGalera(); err != nil {
		return nil, err
	}
	asUser := os.Geteuid() == 0
	if asUser {
		if err := traversable(dir); err != nil {
			return nil, err
		}
	}
	// Every port at once, each listener held until all are chosen, so
	// that no two are the same.
	ports, err := freeport.Ports(4 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	defer func() {
		if err != nil {
			c.Close() // what started of it
		}
	}()
	var addrs []string
	for i := range n {
		addrs = append(addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[4*i+1])))
	}
	for i := range n {
		clientPort, gmcast, ist, sst := ports[4*i], ports[4*i+1], ports[4*i+2], ports[4*i+3]
		name := fmt.Sprintf("node%d", i+1)
		ndir := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(ndir, "data"), 0o755); err != nil {
			return nil, err
		}
		nodeArgs := []string{
			"--wsrep-on=ON",
			"--wsrep-provider=" + GaleraProvider,
			"--wsrep-cluster-name=dbapi-test",
			"--wsrep-cluster-address=gcomm://" + strings.Join(addrs, ","),
			"--wsrep-node-name=" + name,
			"--wsrep-node-address=" + net.JoinHostPort("127.0.0.1", strconv.Itoa(gmcast)),
			"--wsrep-provider-options=" + strings.Join([]string{
				fmt.Sprintf("gmcast.listen_addr=tcp://127.0.0.1:%d", gmcast),
				fmt.Sprintf("ist.recv_addr=127.0.0.1:%d", ist),
				"gcache.size=64M",
			}, ";"),
			"--wsrep-sst-method=rsync",
			fmt.Sprintf("--wsrep-sst-receive-address=127.0.0.1:%d", sst),
			// What Galera requires of the server.
			"--binlog-format=ROW",
			"--default-storage-engine=InnoDB",
			"--innodb-autoinc-lock-mode=2",
			// Small, for a fast start.
			"--innodb-buffer-pool-size=32M",
			"--innodb-log-file-size=16M",
		}
		srv := newServer(ndir, clientPort, append(nodeArgs, args...))
		if asUser {
			if err := srv.RunAs(GaleraUser); err != nil {
				return nil, err
			}
		}
		c.nodes = append(c.nodes, &node{name: name, srv: srv, gmcast: gmcast, admin: rootPool(srv.Addr())})
	}
	// Only the first node is initialized: the others get copies of its
	// data directory once it has bootstrapped the cluster.
	if err := Init(ctx, c.nodes[0].srv.dir); err != nil {
		return nil, err
	}
	if asUser {
		if err := chownTree(dir, GaleraUser); err != nil {
			return nil, err
		}
	}
	// The first node bootstraps the cluster and stops cleanly; the others
	// start on copies of its data directory, at its position, so that
	// their state transfer copies nothing.
	first := c.nodes[0].srv
	bootArgs := first.args
	first.args = append(append([]string(nil), bootArgs...), "--wsrep-new-cluster")
	defer func() { first.args = bootArgs }() // a restart joins the cluster
	if err := first.Start(ctx); err != nil {
		return nil, fmt.Errorf("bootstrap node1: %w", err)
	}
	if n > 1 {
		if err := first.Stop(); err != nil {
			return nil, fmt.Errorf("stop node1 after the bootstrap: %w", err)
		}
		for _, nd := range c.nodes[1:] {
			if err := copyData(first.dir, nd.srv.dir); err != nil {
				return nil, err
			}
		}
		if asUser {
			if err := chownTree(dir, GaleraUser); err != nil {
				return nil, err
			}
		}
		if err := first.Start(ctx); err != nil {
			return nil, fmt.Errorf("bootstrap node1 again: %w", err)
		}
	}
	first.args = bootArgs
	// One after the other: two joiners at once once left the first node
	// a donor for ever (Donor/Desynced, not ready) on a loaded machine.
	for i := 1; i < n; i++ {
		if err := c.nodes[i].srv.Start(ctx); err != nil {
			return nil, fmt.Errorf("start %s: %w", c.nodes[i].name, err)
		}
		if err := c.waitServing(ctx, i, i+1); err != nil {
			return nil, err
		}
	}
	if err := c.waitServing(ctx, 0, n); err != nil {
		return nil, err
	}
	return c, nil
}

// Size is the number of nodes.
func (c *Cluster) Size() int { return len(c.nodes) }

// Node returns node i's server (its address, error log, pid, folder).
// Use the cluster's Kill, Stop and Restart to take it down and up.
func (c *Cluster) Node(i int) *Server { return c.nodes[i].srv }

// Addr is node i's client address, 127.0.0.1:port.
func (c *Cluster) Addr(i int) string { return c.nodes[i].srv.Addr() }

// Addrs are the client addresses of every node, in order.
func (c *Cluster) Addrs() []string {
	var l []string
	for _, n := range c.nodes {
		l = append(l, n.srv.Addr())
	}
	return l
}

// GroupAddr is node i's group communication address (gmcast).
func (c *Cluster) GroupAddr(i int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.nodes[i].gmcast))
}

// Kill kills node i with SIGKILL and waits for it to exit.
func (c *Cluster) Kill(i int) error { return c.nodes[i].srv.Kill() }

// Stop shuts node i down cleanly (it leaves the cluster).
func (c *Cluster) Stop(i int) error { return c.nodes[i].srv.Stop() }

// Restart starts node i again on its data directory and ports and waits
// until it is Synced in a primary component of every node. After a
// crash (kill -9) it first recovers the node's position from its data
// (mariadbd --wsrep-recover, as the galera_recovery script of the
// packages' service does), so that the node joins by incremental state
// transfer (IST) when the others' gcache still holds what it missed,
// instead of copying every data file again (SST).
func (c *Cluster) Restart(ctx context.Context, i int) error {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	pos, err := recoverPosition(n.srv)
	if err != nil {
		return fmt.Errorf("restart %s: %w", n.name, err)
	}
	args := n.srv.args
	if pos != "" {
		n.srv.args = append(append([]string(nil), args...), "--wsrep-start-position="+pos)
	}
	err = n.srv.Start(ctx)
	n.srv.args = args
	if err != nil && pos != "" {
		// Seen once under heavy load: the node aborted while joining from
		// its recovered position. Started without it, it joins by a full
		// state transfer instead.
		first := err
		if err = n.srv.Start(ctx); err != nil {
			err = fmt.Errorf("%w (and from the recovered position %s: %w)", err, pos, first)
		}
	}
	if err != nil {
		return fmt.Errorf("restart %s: %w", n.name, err)
	}
	return c.waitServing(ctx, i, len(c.nodes))
}

// recoveredPosition is how mariadbd --wsrep-recover logs the position.
var recoveredPosition = regexp.MustCompile(`WSREP: Recovered position: ([0-9a-f-]+:-?[0-9]+)`)

// crashedState matches a grastate.dat left by a crash: no seqno.
var crashedState = regexp.MustCompile(`(?m)^seqno:\s*-1\s*$`)

// recoverPosition returns the position (uuid:seqno) to start a node from
// after a crash, read from its data by mariadbd --wsrep-recover, or ""
// when the node was stopped cleanly (grastate.dat has its seqno) or has
// no state yet.
func recoverPosition(s *Server) (string, error) {
	state, err := os.ReadFile(filepath.Join(s.dir, "data", "grastate.dat"))
	if err != nil || !crashedState.Match(state) {
		return "", nil
	}
	logPath := filepath.Join(s.dir, "recover.err")
	os.Remove(logPath)
	cmd, err := s.command("--wsrep-recover", "--log-error="+logPath)
	if err != nil {
		return "", err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		b, _ := os.ReadFile(logPath)
		return "", fmt.Errorf("mariadbd --wsrep-recover: %w\n%s%s", err, out, b)
	}
	b, _ := os.ReadFile(logPath)
	m := recoveredPosition.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("mariadbd --wsrep-recover logged no position:\n%s", b)
	}
	return string(m[1]), nil
}

// Isolate cuts node i off the others' group communication (on) or lets
// it back (off), with the provider option gmcast.isolate: isolated, it
// drops its links to the others and refuses theirs, so it leaves the
// primary component while still answering clients. Isolate does not
// wait: see WaitServing and State.
func (c *Cluster) Isolate(ctx context.Context, i int, on bool) error {
	v := 0
	if on {
		v = 1
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.nodes[i].admin.ExecContext(ctx, fmt.Sprintf("SET GLOBAL wsrep_provider_options = 'gmcast.isolate=%d'", v)); err != nil {
		return fmt.Errorf("%s: gmcast.isolate=%d: %w", c.nodes[i].name, v, err)
	}
	return nil
}

// State returns what node i says of itself.
func (c *Cluster) State(ctx context.Context, i int) (NodeState, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second) // a loaded machine
	defer cancel()
	return ReadState(ctx, c.nodes[i].admin)
}

// ReadState reads a node's wsrep state over db (SHOW GLOBAL STATUS, which
// a node outside the primary component still answers).
func ReadState(ctx context.Context, db *sql.DB) (NodeState, error) {
	rows, err := db.QueryContext(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN "+
		"('wsrep_local_state_comment', 'wsrep_ready', 'wsrep_cluster_status', 'wsrep_cluster_size', 'wsrep_connected')")
	if err != nil {
		return NodeState{}, err
	}
	defer rows.Close()
	var s NodeState
	seen := 0
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return NodeState{}, err
		}
		seen++
		switch strings.ToLower(k) {
		case "wsrep_local_state_comment":
			s.LocalState = v
		case "wsrep_ready":
			s.Ready = v == "ON"
		case "wsrep_cluster_status":
			s.ClusterStatus = v
		case "wsrep_cluster_size":
			s.ClusterSize, _ = strconv.Atoi(v)
		case "wsrep_connected":
			s.Connected = v == "ON"
		}
	}
	if err := rows.Err(); err != nil {
		return NodeState{}, err
	}
	if seen == 0 {
		return NodeState{}, errors.New("the server has no wsrep status (not a Galera node)")
	}
	return s, nil
}

// WaitServing waits until node i is Synced and ready in a primary
// component of every node.
func (c *Cluster) WaitServing(ctx context.Context, i int) error {
	return c.waitServing(ctx, i, len(c.nodes))
}

// waitServing waits, for syncTimeout at most, until node i is Synced and
// ready in a primary component of size members.
func (c *Cluster) waitServing(ctx context.Context, i, size int) error {
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	var last NodeState
	var lastErr error
	for {
		last, lastErr = c.State(ctx, i)
		if lastErr == nil && last.Serving(size) {
			return nil
		}
		if !c.nodes[i].srv.Running() {
			return fmt.Errorf("%s exited while joining:\n%s", c.nodes[i].name, c.nodes[i].srv.ErrLog())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not Synced in a primary component of %d within %s: last state %v (error %v)\n%s",
				c.nodes[i].name, size, syncTimeout, last, lastErr, c.nodes[i].srv.ErrLog())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close kills every node and closes the cluster's connections. The
// folders stay (the caller's to remove).
func (c *Cluster) Close() error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.nodes))
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.srv.Kill()
			n.admin.Close()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// rootPool returns a small pool as root on addr, with timeouts, so that a
// node that stalls does not hang its caller.
func rootPool(addr string) *sql.DB {
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User = "tcp", addr, "root"
	c.Timeout, c.ReadTimeout, c.WriteTimeout = 2*time.Second, 10*time.Second, 10*time.Second
	connector, _ := mysql.NewConnector(c) // cannot fail: no TLS, no custom dialer
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	return db
}

// traversable makes dir and each of its parents enterable by other users
// (o+x), so that GaleraUser reaches its folders. It changes only dir and
// parents inside the system's temporary folder (os.MkdirTemp and
// t.TempDir make them 0700); any other parent that is not enterable is an
// error.
func traversable(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	tmp, _ := filepath.Abs(os.TempDir())
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if p != abs && !strings.HasPrefix(p, tmp+string(filepath.Separator)) {
				return fmt.Errorf("%s is not enterable by user %s (the Galera nodes run as it): chmod o+x it", p, GaleraUser)
			}
			if err := os.Chmod(p, fi.Mode().Perm()|0o711); err != nil {
				return err
			}
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}

// copyData copies the data directory of a cleanly stopped node in from
// into to, but for the node's own Galera files (its gcache and its
// membership state), and marks the copy as not safe to bootstrap from.
func copyData(from, to string) error {
	src, dst := filepath.Join(from, "data"), filepath.Join(to, "data")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case rel == "galera.cache" || rel == "gvwstate.dat" || !d.Type().IsRegular():
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o660)
	})
	if err != nil {
		return fmt.Errorf("copy the data directory to %s: %w", to, err)
	}
	state := filepath.Join(dst, "grastate.dat")
	b, err := os.ReadFile(state)
	if err != nil {
		return fmt.Errorf("the bootstrapped node left no grastate.dat: %w", err)
	}
	return os.WriteFile(state, []byte(strings.Replace(string(b), "safe_to_bootstrap: 1", "safe_to_bootstrap: 0", 1)), 0o660)
}

// chownTree gives everything under dir to the system user name.
func chownTree(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
