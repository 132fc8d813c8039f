// Command dbapi-bench measures what the dbapi service costs over running
// the same transactions directly through database/sql.
//
// For each workload it runs a sweep of load levels in four modes (five
// in the replica profile), on the same database and data, in the same
// run:
//
//   - direct: the operation's own code (txrunner.Run around bank.Transfer,
//     bank.Get, ...) called in this process by N goroutines on a pool sized
//     like the service's. This is the physical limit of the database.
//   - handwritten: N concurrent NATS requesters against the service a user
//     would write instead of dbapi (internal/handwritten): a nats.go micro
//     endpoint that starts a goroutine per request and runs the same SQL on
//     a pool of the same size, in a process of its own (this binary with
//     -serve-handwritten). Not for batch.
//   - service: N concurrent NATS requesters against a real dbapi process
//     (the bank example, built from ./examples/bank, or -dbapi PATH), whose RSS and CPU time are
//     read from /proc/<pid> while it runs (Linux; elsewhere they read 0).
//     It runs with DBAPI_COALESCE_MAX=1: one transaction per request, as
//     the hand-written service and direct run them.
//   - coalesced: the same against a second dbapi process of the same
//     binary, under a subject prefix and queue group of its own
//     (<-prefix>co), with group commit on (DBAPI_COALESCE_MAX and
//     DBAPI_COALESCE_WAIT at their defaults, or as -coalesced-env sets
//     them): requests of an operation that opts in (Coalesce) that wait
//     at the same time share one transaction, one SAVEPOINT each. Only for
//     workloads whose operation coalesces (transfer).
//   - replica (only with -mysqld replica, whose default -modes add it):
//     the same as service against a third dbapi process of the same
//     binary (<-prefix>rep, DBAPI_COALESCE_MAX=1) with
//     DBAPI_MYSQL_REPLICA_DSN naming the profile's replica: its read-only
//     requests without Dbapi-After (every get) run on the replica, and
//     every write reads its position (SELECT @@last_gtid) after COMMIT,
//     one more round trip. The other modes run on the primary with no
//     replica configured (the replica still applies every write).
//
// Closed-loop levels (-clients) run N clients that each send a request as
// soon as the previous one is answered. Open-loop levels (-rates) send
// requests at a fixed arrival rate whatever the answers do, and measure
// each latency from the moment the request was due, so a stalled server
// shows up as latency instead of hiding as fewer requests (no coordinated
// omission). A rate may be given as a percentage of the best closed-loop
// service throughput of the same workload measured earlier in the run.
//
// The modes of a level alternate for -rounds rounds, so that a change in
// the machine's background load hits both alike; the CPU time other
// processes used and the load average are reported with each level, as a
// measure of that noise.
//
// Per level it reports requests/s, p50/p90/p99/p99.9 latency (HDR
// histogram), errors by code, and the service's RSS and CPU time; per
// level the ratios service/direct, service/hand-written, coalesced/direct
// and coalesced/service, and the database's COMMITs per request (global
// Com_commit, so on a shared server other sessions' commits count too).
// With the replica mode it adds a table of dbapi without and with the
// replica per level: requests/s, p50/p99, the ratio replica/service, the
// latency added, the CPU time per request of the primary's and of the
// replica's mariadbd (from /proc/<pid>/stat, in each mode's measured
// window: for get with the replica the primary's falls to about zero),
// and the SELECTs the replica ran per request (its global Com_select,
// which shows where the reads went).
// It prints a table, writes results.json,
// a chart (PNG or SVG) of throughput and p99 latency against concurrency,
// and a markdown report (RESULTS.md) in -out. With -burst N it also sends N
// requests at once to check that memory stays bounded and the overload
// path answers 503.
//
// Usage:
//
//	go run ./cmd/dbapi-bench [flags]
//	make bench
//
// Workloads: transfer (accounts.transfer between random accounts among
// -accounts, so contention is adjustable), get (accounts.get of a random
// account), batch (10 transfers in one transaction; reported as not
// available unless the service answers <prefix>.batch).
//
// Database profiles: by default the benchmark runs on the server that
// -mysql names, as it is configured. -mysqld binlog starts a mariadbd of
// its own instead (mariadb-install-db into a temporary folder, a free
// port of 127.0.0.1), with the binary log synced at each commit
// (--log-bin --sync-binlog=1 --innodb-flush-log-at-trx-commit=1), where
// commits cost most; it runs every mode against that server, and stops it
// and removes its folder at the end, also on error or Ctrl-C. -mysqld
// replica starts, the same way, a primary and one GTID replica of it
// (internal/mariadbd.StartReplication: binary log in row format,
// MASTER_USE_GTID=slave_pos, on loopback, in one temporary folder),
// waits until the replica has the schema and each seeding, and adds the
// replica mode; every other mode runs on the primary. The report names
// the profile.
//
// It talks only to 127.0.0.1: the MySQL DSN and the NATS URL must be
// loopback addresses. Every loop is bounded in count and time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options are the command-line settings.
type Options struct {
	Workloads    []string
	Modes        []string
	Clients      []int
	Rates        []string
	OpenClients  int
	Duration     time.Duration
	Rounds       int
	Warmup       time.Duration
	Accounts     int
	Pool         int
	MySQLDSN     string
	NATSURL      string
	DBAPI        string
	Prefix       string
	Conns        int
	Timeout      time.Duration
	OverloadWait time.Duration
	Burst        int
	Out          string
	Chart        string
	ServiceLog   string
	ServiceEnv   []string
	CoalescedEnv []string
	// MySQLD is the database profile that starts a server of its own
	// ("binlog"), or "" for the server -mysql names.
	MySQLD string
	// ReplicaDSN is the replica's DSN in the replica profile (run sets
	// it), which the replica mode's dbapi process gets as
	// DBAPI_MYSQL_REPLICA_DSN.
	ReplicaDSN  string
	MaxRequests int64
	Quiet       bool
	Redraw      bool
	// ServeHandwritten runs this process as the hand-written service
	// (the handwritten mode starts it so).
	ServeHandwritten bool
	Args             []string // the command line, for the report
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "dbapi-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.ServeHandwritten {
		if err := serveHandwritten(hwConfig{NATSURL: opts.NATSURL, DSN: opts.MySQLDSN, Prefix: opts.Prefix, Pool: opts.Pool}); err != nil {
			fmt.Fprintln(os.Stderr, "dbapi-bench -serve-handwritten:", err)
			os.Exit(1)
		}
		return
	}
	run := run
	if opts.Redraw {
		run = redraw
	}
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "dbapi-bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (Options, error) {
	o := Options{Args: args}
	fs := flag.NewFlagSet("dbapi-bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: dbapi-bench [flags]\n\n"+
			"Runs each workload at a sweep of load levels, directly through database/sql,\n"+
			"through a hand-written NATS micro service, through a dbapi service process\n"+
			"(one transaction per request) and through a second one with group commit on,\n"+
			"and reports the ratios dbapi/direct, dbapi/hand-written, coalesced/direct and\n"+
			"coalesced/dbapi.\n\nflags:\n")
		fs.PrintDefaults()
	}
	workloads := fs.String("workloads", "transfer,get,batch", "workloads to run: transfer, get, batch")
	modes := fs.String("modes", defaultModes, "modes to run: direct, handwritten, service (dbapi, one transaction per request), coalesced (dbapi with group commit; workloads whose operation coalesces only), replica (dbapi with the replica of -mysqld replica as DBAPI_MYSQL_REPLICA_DSN; the default adds it with -mysqld replica)")
	clients := fs.String("clients", "1,8,32,128,512", "closed-loop levels: numbers of concurrent clients (empty for none)")
	rates := fs.String("rates", "", "open-loop levels: arrival rates in requests/s, or N% of the workload's best closed-loop service throughput (empty for none)")
	fs.IntVar(&o.OpenClients, "open-clients", 1024, "open loop: most requests outstanding at once")
	fs.DurationVar(&o.Duration, "duration", 6*time.Second, "measured time per level and mode, split over -rounds")
	fs.IntVar(&o.Rounds, "rounds", 2, "rounds per level: the modes alternate, each measured for -duration / -rounds after -warmup")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured time before each level and mode (a quarter of it in later rounds)")
	fs.IntVar(&o.Accounts, "accounts", 1000, "accounts to seed; transfers pick two at random (fewer accounts, more contention)")
	fs.IntVar(&o.Pool, "pool", 16, "connection pool size of both modes (DBAPI_POOL_SIZE of the service)")
	fs.StringVar(&o.MySQLDSN, "mysql", "root@tcp(127.0.0.1:3306)/dbapi_bench", "MySQL DSN of the benchmark database (created and migrated; its tables are emptied); with -mysqld, its database name and parameters on the server started")
	fs.StringVar(&o.MySQLD, "mysqld", "", "database profile: empty for the server -mysql names; binlog starts a mariadbd of its own with --log-bin --sync-binlog=1 --innodb-flush-log-at-trx-commit=1 in a temporary folder, removed at the end; replica starts a primary and one GTID replica of its own the same way, for the replica mode")
	fs.StringVar(&o.NATSURL, "nats", "", "URL of a NATS server to use (default: start one in this process)")
	fs.StringVar(&o.DBAPI, "dbapi", "", "dbapi binary to run (default: go build ./examples/bank into a temporary directory)")
	fs.StringVar(&o.Prefix, "prefix", "dbapibench", "subject prefix and queue group of the service under test")
	fs.IntVar(&o.Conns, "conns", 4, "NATS connections shared by the service-mode requesters")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "requester timeout of one request")
	fs.DurationVar(&o.OverloadWait, "overload-wait", 10*time.Millisecond, "closed loop: a client answered 503 waits about this long before its next request, doubling with each 503 in a row (up to 32x)")
	fs.IntVar(&o.Burst, "burst", 0, "after the sweep, send this many requests at once to the service (0: skip)")
	fs.StringVar(&o.Out, "out", "bench/out", "directory for results.json, RESULTS.md and the chart (bench/out is untracked; -out bench updates the committed report)")
	fs.StringVar(&o.Chart, "chart", "chart.png", "chart file name in -out, .png or .svg (empty: no chart)")
	serviceEnv := fs.String("service-env", "", "extra environment of the services (both dbapi processes and the hand-written one), such as GOMAXPROCS=1,DBAPI_QUEUE_LEN=1024 (comma-separated; not DBAPI_COALESCE_*, which the benchmark sets)")
	coalescedEnv := fs.String("coalesced-env", "", "extra environment of the coalesced dbapi process only, after -service-env, such as DBAPI_COALESCE_MAX=16,DBAPI_COALESCE_WAIT=2ms (default: their defaults)")
	fs.StringVar(&o.ServiceLog, "service-log", "", "file for the service's log, FILE.coalesced and FILE.replica for the coalesced and replica modes' (default: temporary files)")
	fs.Int64Var(&o.MaxRequests, "max-requests", 10_000_000, "safety cap on requests per level and mode")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&o.Redraw, "redraw", false, "run nothing: redraw the chart and RESULTS.md in -out from its results.json")
	fs.BoolVar(&o.ServeHandwritten, "serve-handwritten", false, "run as the hand-written service of the handwritten mode on -nats, -mysql, -prefix and -pool (the benchmark starts it)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, kv := range splitList(*serviceEnv) {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return o, fmt.Errorf("-service-env: want NAME=VALUE, got %q", kv)
		}
		if strings.HasPrefix(k, coalesceEnvPrefix) {
			return o, fmt.Errorf("-service-env: %s is the benchmark's to set (1 for the service mode); give the coalesced mode's in -coalesced-env", k)
		}
		if k == replicaDSNEnv {
			return o, fmt.Errorf("-service-env: %s is the benchmark's to set (the replica mode's only, with -mysqld replica)", k)
		}
		o.ServiceEnv = append(o.ServiceEnv, kv)
	}
	for _, kv := range splitList(*coalescedEnv) {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return o, fmt.Errorf("-coalesced-env: want NAME=VALUE, got %q", kv)
		}
		o.CoalescedEnv = append(o.CoalescedEnv, kv)
	}
	if _, ok := mysqldProfiles[o.MySQLD]; o.MySQLD != "" && !ok {
		return o, fmt.Errorf("-mysqld: unknown profile %q (want %s, or empty for the server -mysql names)", o.MySQLD, strings.Join(profileNames(), ", "))
	}
	o.Workloads = splitList(*workloads)
	o.Modes = splitList(*modes)
	modesGiven := false
	fs.Visit(func(f *flag.Flag) { modesGiven = modesGiven || f.Name == "modes" })
	if !modesGiven && o.MySQLD == profileReplica {
		o.Modes = append(o.Modes, modeReplica)
	}
	o.Rates = splitList(*rates)
	for _, s := range splitList(*clients) {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 100_000 {
			return o, fmt.Errorf("-clients: want positive integers up to 100000, got %q", s)
		}
		o.Clients = append(o.Clients, n)
	}
	for _, r := range o.Rates {
		_, percent, err := parseRate(r)
		if err != nil {
			return o, err
		}
		if percent && len(o.Clients) == 0 {
			return o, fmt.Errorf("-rates: %s is a percentage of the best closed-loop throughput, but -clients gives no closed-loop level", r)
		}
	}
	clientList := make([]string, len(o.Clients))
	for i, n := range o.Clients {
		clientList[i] = strconv.Itoa(n)
	}
	for _, l := range []struct {
		flag   string
		values []string
	}{{"-workloads", o.Workloads}, {"-modes", o.Modes}, {"-clients", clientList}, {"-rates", o.Rates}} {
		if d := duplicate(l.values); d != "" {
			return o, fmt.Errorf("%s: %q given twice", l.flag, d)
		}
	}
	for _, w := range o.Workloads {
		if _, ok := workloadDefs[w]; !ok {
			return o, fmt.Errorf("-workloads: unknown workload %q (want transfer, get, batch)", w)
		}
	}
	for _, m := range o.Modes {
		if m != modeDirect && m != modeHandwritten && m != modeService && m != modeCoalesced && m != modeReplica {
			return o, fmt.Errorf("-modes: unknown mode %q (want direct, handwritten, service, coalesced, replica)", m)
		}
	}
	if o.has(modeReplica) && o.MySQLD != profileReplica {
		return o, errors.New("-modes: replica needs -mysqld replica, which starts the primary and the replica it reads from")
	}
	switch {
	case len(o.Workloads) == 0 || len(o.Modes) == 0:
		return o, errors.New("nothing to run: -workloads and -modes must not be empty")
	case len(o.Clients) == 0 && len(o.Rates) == 0 && o.Burst == 0:
		return o, errors.New("nothing to run: give -clients, -rates or -burst")
	case o.Duration <= 0 || o.Duration > time.Hour || o.Warmup < 0 || o.Warmup > time.Hour:
		return o, errors.New("-duration must be positive and -warmup not negative, both at most 1h")
	case o.Rounds <= 0 || o.Rounds > 100 || o.Duration/time.Duration(max(o.Rounds, 1)) < 100*time.Millisecond:
		return o, errors.New("-rounds: want 1 to 100, with at least 100ms of -duration per round")
	case o.Accounts < 2 || o.Accounts > 10_000_000:
		return o, errors.New("-accounts: want 2 to 10000000")
	case o.Pool <= 0 || o.Conns <= 0 || o.OpenClients <= 0 || o.OpenClients > 100_000:
		return o, errors.New("-pool, -conns and -open-clients must be positive (-open-clients at most 100000)")
	case o.Burst < 0 || o.Burst > 1_000_000:
		return o, errors.New("-burst: want 0 to 1000000")
	case o.Timeout <= 0 || o.MaxRequests <= 0:
		return o, errors.New("-timeout and -max-requests must be positive")
	}
	if ext := strings.ToLower(filepath.Ext(o.Chart)); o.Chart != "" && ext != ".png" && ext != ".svg" {
		return o, fmt.Errorf("-chart: want a .png or .svg file name, got %q", o.Chart)
	}
	return o, nil
}

// defaultModes is -modes's default (-mysqld replica adds the replica mode).
const defaultModes = "direct,handwritten,service,coalesced"

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// duplicate returns the first value that occurs twice in vs, or "".
func duplicate(vs []string) string {
	seen := map[string]bool{}
	for _, v := range vs {
		if seen[v] {
			return v
		}
		seen[v] = true
	}
	return ""
}

// parseRate parses "500" (requests/s) or "50%" (of the best closed-loop
// service throughput).
func parseRate(s string) (v float64, percent bool, err error) {
	t, percent := strings.CutSuffix(s, "%")
	v, err = strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0 && v <= 1e6) { // also refuses NaN
		return 0, false, fmt.Errorf("-rates: want requests/s (up to 1000000) or a percentage such as 50%%, got %q", s)
	}
	return v, percent, nil
}

func (o *Options) has(mode string) bool {
	for _, m := range o.Modes {
		if m == mode {
			return true
		}
	}
	return false
}
