package mariadbd

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The account replicas connect to the primary with.
const (
	ReplicationUser     = "repl"
	ReplicationPassword = "repl-password"
)

// replicaRunningTimeout bounds how long a replica may take to have both
// replication threads running.
const replicaRunningTimeout = time.Minute

// ReplicationArgs returns the server options of a member of GTID
// replication with serverID (distinct for each server): the binary log
// in row format, GTID strict mode, and a relay log named after no host.
// Replicas log what they apply (log_slave_updates), so that any of them
// could become a primary.
func ReplicationArgs(serverID int) []string {
	return []string{
		"--server-id=" + strconv.Itoa(serverID),
		"--log-bin=mariadb-bin",
		"--relay-log=relay-bin",
		"--binlog-format=ROW",
		"--gtid-strict-mode=ON",
		"--log-slave-updates=ON",
	}
}

// Replication is a primary and replicas that follow it with GTID
// replication (MASTER_USE_GTID=slave_pos).
type Replication struct {
	Primary  *Server
	Replicas []*Replica
}

// Replica is a server that replicates from a primary. Its methods are the
// faults the tests need: a stopped SQL thread, a delay, replication
// stopped, a kill -9.
type Replica struct {
	*Server
	primary *Server
}

// StartReplication starts a primary in dir/primary and n replicas in
// dir/replica1 ... dir/replicaN (server ids 1, 2, ...), each with args
// after ReplicationArgs, creates the replication account on the primary
// and has every replica follow it, and waits until each replica's threads
// run. One data directory is initialized and copied to the others, which
// is much faster than initializing each. dir must exist. On error every
// server started is killed.
func StartReplication(ctx context.Context, dir string, n int, args ...string) (*Replication, error) {
	pdir := filepath.Join(dir, "primary")
	if err := os.Mkdir(pdir, 0o755); err != nil {
		return nil, err
	}
	if err := Init(ctx, pdir); err != nil {
		return nil, err
	}
	// Copy the data directory before the primary starts, so every copy is
	// the same clean state with nothing in a binary log.
	dirs := make([]string, n)
	for i := range n {
		dirs[i] = filepath.Join(dir, "replica"+strconv.Itoa(i+1))
		if err := os.Mkdir(dirs[i], 0o755); err != nil {
			return nil, err
		}
		if err := os.CopyFS(filepath.Join(dirs[i], "data"), os.DirFS(filepath.Join(pdir, "data"))); err != nil {
			return nil, fmt.Errorf("copy the data directory: %w", err)
		}
	}
	primary, err := New(pdir, append(ReplicationArgs(1), args...)...)
	if err != nil {
		return nil, err
	}
	r := &Replication{Primary: primary}
	fail := func(err error) (*Replication, error) {
		r.Kill()
		return nil, err
	}
	if err := primary.Start(ctx); err != nil {
		return nil, err
	}
	// The account is created outside the binary log: each replica's copy
	// of the data directory predates it, and replicas need no account of
	// their own to connect to them.
	if err := replExec(ctx, primary,
		"SET SESSION sql_log_bin = 0",
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", ReplicationUser, ReplicationPassword),
		fmt.Sprintf("GRANT REPLICATION SLAVE ON *.* TO '%s'@'%%'", ReplicationUser),
	); err != nil {
		return fail(fmt.Errorf("create the replication account: %w", err))
	}
	for i, d := range dirs {
		s, err := New(d, append(ReplicationArgs(i+2), args...)...)
		if err != nil {
			return fail(err)
		}
		rep := &Replica{Server: s, primary: primary}
		r.Replicas = append(r.Replicas, rep)
		if err := s.Start(ctx); err != nil {
			return fail(err)
		}
		if err := rep.Follow(ctx); err != nil {
			return fail(err)
		}
	}
	return r, nil
}

// Stop stops the replicas, then the primary.
func (r *Replication) Stop() error {
	var errs []error
	for _, rep := range r.Replicas {
		errs = append(errs, rep.Stop())
	}
	return errors.Join(append(errs, r.Primary.Stop())...)
}

// Kill kills every server.
func (r *Replication) Kill() {
	for _, rep := range r.Replicas {
		rep.Kill()
	}
	r.Primary.Kill()
}

// Follow points the replica at its primary with GTID replication from its
// own position (CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos), starts
// replication and waits until both threads run. The replica retries a
// lost connection to the primary every second.
func (r *Replica) Follow(ctx context.Context) error {
	host, port, err := splitAddr(r.primary.Addr())
	if err != nil {
		return err
	}
	if err := replExec(ctx, r.Server,
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', "+
			"MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1", host, port, ReplicationUser, ReplicationPassword),
		"START SLAVE",
	); err != nil {
		return fmt.Errorf("follow the primary: %w", err)
	}
	return r.WaitRunning(ctx)
}

// ReplicaStatus is what SHOW SLAVE STATUS says about a replica.
type ReplicaStatus struct {
	IORunning  string // Slave_IO_Running: Yes, No or Connecting
	SQLRunning string // Slave_SQL_Running: Yes or No
	// SecondsBehind is Seconds_Behind_Master, -1 for NULL (a thread is
	// stopped). It reads 0 while the replica still misses the last
	// commits: never use it to decide whether a write is visible.
	SecondsBehind int64
	SQLDelay      int64  // SQL_Delay: MASTER_DELAY in seconds
	LastIOError   string // Last_IO_Error
	LastSQLError  string // Last_SQL_Error
	GTIDSlavePos  string // @@GLOBAL.gtid_slave_pos: the last GTID applied in each domain
}

// Running reports whether both replication threads run.
func (s ReplicaStatus) Running() bool { return s.IORunning == "Yes" && s.SQLRunning == "Yes" }

// Status returns the replica's SHOW SLAVE STATUS.
func (r *Replica) Status(ctx context.Context) (ReplicaStatus, error) {
	db, err := replRoot(r.Server)
	if err != nil {
		return ReplicaStatus{}, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return ReplicaStatus{}, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return ReplicaStatus{}, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return ReplicaStatus{}, err
		}
		return ReplicaStatus{}, errors.New("SHOW SLAVE STATUS: no row (not a replica)")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return ReplicaStatus{}, err
	}
	col := map[string]sql.NullString{}
	for i, c := range cols {
		col[c] = vals[i]
	}
	st := ReplicaStatus{
		IORunning:    col["Slave_IO_Running"].String,
		SQLRunning:   col["Slave_SQL_Running"].String,
		LastIOError:  col["Last_IO_Error"].String,
		LastSQLError: col["Last_SQL_Error"].String,
	}
	st.SecondsBehind = -1
	if v := col["Seconds_Behind_Master"]; v.Valid {
		st.SecondsBehind, _ = strconv.ParseInt(v.String, 10, 64)
	}
	st.SQLDelay, _ = strconv.ParseInt(col["SQL_Delay"].String, 10, 64)
	if err := rows.Close(); err != nil {
		return ReplicaStatus{}, err
	}
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_slave_pos").Scan(&st.GTIDSlavePos); err != nil {
		return ReplicaStatus{}, err
	}
	return st, nil
}

// WaitRunning waits until both replication threads run, for a minute at
// most or until ctx is done. A thread that stopped with an error ends the
// wait with that error.
func (r *Replica) WaitRunning(ctx context.Context) error {
	deadline := time.Now().Add(replicaRunningTimeout)
	for {
		st, err := r.Status(ctx)
		if err == nil && st.Running() {
			return nil
		}
		if err == nil && (st.LastIOError != "" && st.IORunning == "No" || st.LastSQLError != "") {
			return fmt.Errorf("replication stopped: IO %s (%s), SQL %s (%s)", st.IORunning, st.LastIOError, st.SQLRunning, st.LastSQLError)
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("replica on %s is not running after %s: %+v (%v)", r.Addr(), replicaRunningTimeout, st, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitCaughtUp waits until the replica has applied everything in the
// primary's binary log now (MASTER_GTID_WAIT on @@gtid_binlog_pos), for
// timeout at most.
func (r *Replica) WaitCaughtUp(ctx context.Context, timeout time.Duration) error {
	pdb, err := replRoot(r.primary)
	if err != nil {
		return err
	}
	defer pdb.Close()
	var pos string
	if err := pdb.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err != nil {
		return fmt.Errorf("the primary's position: %w", err)
	}
	db, err := replRoot(r.Server)
	if err != nil {
		return err
	}
	defer db.Close()
	var res sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", pos, timeout.Seconds()).Scan(&res); err != nil {
		return fmt.Errorf("MASTER_GTID_WAIT: %w", err)
	}
	if !res.Valid || res.Int64 != 0 {
		return fmt.Errorf("the replica on %s did not reach %s within %s", r.Addr(), pos, timeout)
	}
	return nil
}

// StopSQLThread stops applying what the replica receives (STOP SLAVE
// SQL_THREAD): it still receives the primary's binary log, but its data
// and position stay where they are.
func (r *Replica) StopSQLThread(ctx context.Context) error {
	return replExec(ctx, r.Server, "STOP SLAVE SQL_THREAD")
}

// StartSQLThread starts applying again (START SLAVE SQL_THREAD).
func (r *Replica) StartSQLThread(ctx context.Context) error {
	return replExec(ctx, r.Server, "START SLAVE SQL_THREAD")
}

// StopReplication stops both threads (STOP SLAVE): the replica neither
// receives nor applies.
func (r *Replica) StopReplication(ctx context.Context) error {
	return replExec(ctx, r.Server, "STOP SLAVE")
}

// StartReplication starts both threads (START SLAVE) and waits until they
// run.
func (r *Replica) StartReplication(ctx context.Context) error {
	if err := replExec(ctx, r.Server, "START SLAVE"); err != nil {
		return err
	}
	return r.WaitRunning(ctx)
}

// SetDelay makes the replica apply each transaction d after the primary
// committed it (MASTER_DELAY, in whole seconds: d is rounded up; 0 ends
// the delay). Replication is stopped for the change and started again.
func (r *Replica) SetDelay(ctx context.Context, d time.Duration) error {
	secs := int64(math.Ceil(d.Seconds()))
	if err := replExec(ctx, r.Server,
		"STOP SLAVE",
		fmt.Sprintf("CHANGE MASTER TO MASTER_DELAY=%d", secs),
		"START SLAVE",
	); err != nil {
		return err
	}
	return r.WaitRunning(ctx)
}

// KillAndRestart kills the replica with SIGKILL, starts it again on the
// same data directory and port, and waits until replication runs again
// (the replica resumes from its own crash-safe GTID position).
func (r *Replica) KillAndRestart(ctx context.Context) error {
	if err := r.Kill(); err != nil {
		return err
	}
	if err := r.Start(ctx); err != nil {
		return err
	}
	return r.WaitRunning(ctx)
}

// RootDSN returns the go-sql-driver/mysql DSN of root on s, on database
// (none when empty).
func RootDSN(s *Server, database string) string {
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User, c.DBName, c.Timeout = "tcp", s.Addr(), "root", database, 2*time.Second
	return c.FormatDSN()
}

// replRoot returns a pool as root on s.
func replRoot(s *Server) (*sql.DB, error) {
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User, c.Timeout = "tcp", s.Addr(), "root", 2*time.Second
	connector, err := mysql.NewConnector(c)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(connector), nil
}

// replExec runs statements in order in one session as root on s. An error
// names the statement by its first words only (CHANGE MASTER holds a
// password).
func replExec(ctx context.Context, s *Server, statements ...string) error {
	db, err := replRoot(s)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range statements {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			words := strings.Fields(q)
			return fmt.Errorf("%s: %w", strings.Join(words[:min(3, len(words))], " "), err)
		}
	}
	return nil
}

// splitAddr splits host:port.
func splitAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	return host, port, err
}
