package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/dbapi-dev/dbapi/schema"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
)

// Latency holds percentiles of one level, in microseconds.
type Latency struct {
	P50  int64   `json:"p50_us"`
	P90  int64   `json:"p90_us"`
	P99  int64   `json:"p99_us"`
	P999 int64   `json:"p99_9_us"`
	Max  int64   `json:"max_us"`
	Mean float64 `json:"mean_us"`
}

// Level is one level of one mode of one workload.
type Level struct {
	Workload string           `json:"workload"`
	Loop     string           `json:"loop"`               // closed or open
	Mode     string           `json:"mode"`               // direct, handwritten, service or coalesced
	Clients  int              `json:"clients"`            // closed: clients; open: most outstanding
	Rate     float64          `json:"offered_rate"`       // open loop: requests/s offered
	Seconds  float64          `json:"seconds"`            // measured window
	OK       int64            `json:"ok"`                 // successful requests in the window
	RPS      float64          `json:"requests_per_s"`     // OK / Seconds
	Latency  Latency          `json:"latency"`            // of successful requests
	Errors   map[string]int64 `json:"errors,omitempty"`   // by code
	Service  *ProcUsage       `json:"service,omitempty"`  // the service process (all modes but direct)
	Bench    ProcUsage        `json:"bench"`              // this process
	Database *ProcUsage       `json:"database,omitempty"` // mysqld/mariadbd (the primary), when found
	// Replica is the replica's mariadbd in the replica profile.
	Replica *ProcUsage `json:"replica,omitempty"`
	// ReplicaReads is how many SELECT statements the replica ran in the
	// window (its global Com_select), in the replica profile only: the
	// reads the replica mode sent there, plus a health check a second.
	ReplicaReads *int64 `json:"replica_reads,omitempty"`
	// Commits is how many COMMIT statements the database server ran in
	// the window (its global Com_commit: on a shared server other
	// sessions' commits count too), nil where it could not be read.
	Commits *int64 `json:"commits,omitempty"`
	// Selects is how many SELECT statements the database server (the
	// primary) ran in the window (global Com_select, other sessions'
	// included), nil where it could not be read. In the replica profile
	// it shows where reads ran and the position a write reads.
	Selects *int64 `json:"selects,omitempty"`
	// OtherCPUSeconds is the CPU time that processes other than this one,
	// the service and the database used in the window: the noise.
	OtherCPUSeconds float64 `json:"other_cpu_s"`
	Load1           float64 `json:"load1"` // 1-minute load average at the end
}

// ProcUsage is what a process used in a level's window.
type ProcUsage struct {
	CPUSeconds  float64 `json:"cpu_s"`
	CPUPerReqUS float64 `json:"cpu_per_request_us"`
	MaxRSSMiB   float64 `json:"max_rss_mib,omitempty"`
}

// Results is everything one run measured; it is written as results.json.
type Results struct {
	Date string `json:"date"`
	// Profile is the database profile: "default" (the server -mysql
	// names) or one that starts a server of its own, such as "binlog".
	Profile     string            `json:"profile,omitempty"`
	Machine     Machine           `json:"machine"`
	Command     string            `json:"command"`
	Settings    map[string]any    `json:"settings"`
	Workloads   map[string]string `json:"workloads"`
	Unavailable map[string]string `json:"unavailable,omitempty"` // workload → why it did not run
	Levels      []Level           `json:"levels"`
	Burst       *Burst            `json:"burst,omitempty"`
	IdleRSSMiB  float64           `json:"service_idle_rss_mib,omitempty"`
	ErrorLog    []string          `json:"service_error_log,omitempty"`
	Targets     []Target          `json:"targets"`
}

// bench holds what a run shares.
type bench struct {
	o      *Options
	db     *sqlx.DB
	runner *txrunner.Runner
	conns  []*nats.Conn
	status *sqlx.DB // one connection, apart from the pool, for SHOW GLOBAL STATUS
	svc    *serviceProc
	co     *serviceProc // the dbapi process with group commit on
	hw     *serviceProc // the hand-written service
	rep    *serviceProc // the dbapi process with the replica (replica mode)
	dbPID  string
	// In the replica profile: the servers, the replica's mariadbd and a
	// connection to it for SHOW GLOBAL STATUS.
	mysqld        *mysqld
	replicaPID    string
	replicaStatus *sqlx.DB
	results       *Results
}

func run(ctx context.Context, o Options) error {
	cfg, err := txrunner.ParseDSN(o.MySQLDSN)
	if err != nil {
		return fmt.Errorf("-mysql: %w", err)
	}
	if err := checkLoopback(cfg, o.NATSURL); err != nil {
		return err
	}
	if err := loadOperations(); err != nil {
		return err
	}
	profile, dbPID := profileDefault, ""
	var m *mysqld
	if o.MySQLD != "" {
		fmt.Fprintf(os.Stderr, "starting a mariadbd of its own (profile %s) ...\n", o.MySQLD)
		var err error
		if m, err = startMySQLD(ctx, o.MySQLD); err != nil {
			return err
		}
		defer m.Stop()
		cfg = m.dsn(cfg)
		o.MySQLDSN = cfg.FormatDSN()
		profile, dbPID = o.MySQLD, m.pid
		fmt.Fprintf(os.Stderr, "mariadbd pid %s on %s, data in %s\n", m.pid, m.Addr(), m.Dir())
		if m.replica != nil {
			o.ReplicaDSN = m.replicaDSN(cfg).FormatDSN()
			fmt.Fprintf(os.Stderr, "replica: mariadbd pid %s on %s, data in %s\n", m.replicaPID, m.replica.Addr(), m.replica.Dir())
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := schema.EnsureDatabase(octx, cfg); err != nil {
		return fmt.Errorf("database %s: %w", cfg.DBName, err)
	}
	db, err := txrunner.Open(octx, cfg, txrunner.PoolConfig{MaxOpen: o.Pool})
	if err != nil {
		return err
	}
	defer db.Close()
	status, err := txrunner.Open(octx, cfg, txrunner.PoolConfig{MaxOpen: 1})
	if err != nil {
		return err
	}
	defer status.Close()
	if _, err := schema.Migrate(octx, db.DB, quiet, schema.OwnSet(), schema.Set{FS: bank.Migrations(), VersionTable: schema.AppVersionTable}); err != nil {
		return err
	}
	if dbPID == "" {
		dbPID = findProcess("mariadbd", "mysqld")
	}
	// The replica has the schema once it has caught up: then it can be
	// read (and its status too, as its DSN names the database).
	var replicaStatus *sqlx.DB
	if m != nil && m.replica != nil {
		if err := m.caughtUp(octx); err != nil {
			return err
		}
		if replicaStatus, err = txrunner.Open(octx, m.replicaDSN(cfg), txrunner.PoolConfig{MaxOpen: 1}); err != nil {
			return fmt.Errorf("replica: %w", err)
		}
		defer replicaStatus.Close()
	}
	b := &bench{
		o: &o, db: db, status: status,
		mysqld: m, replicaStatus: replicaStatus,
		runner: txrunner.New(db, txrunner.Config{Logger: quiet}),
		dbPID:  dbPID,
		results: &Results{
			Date:        time.Now().UTC().Format("2006-01-02 15:04 MST"),
			Profile:     profile,
			Machine:     describeMachine(octx, db),
			Command:     strings.Join(append([]string{"dbapi-bench"}, o.Args...), " "),
			Workloads:   map[string]string{},
			Unavailable: map[string]string{},
			Settings: map[string]any{
				"duration_s": o.Duration.Seconds(), "warmup_s": o.Warmup.Seconds(), "accounts": o.Accounts,
				"rounds": o.Rounds, "pool": o.Pool, "conns": o.Conns, "open_clients": o.OpenClients, "overload_wait_ms": o.OverloadWait.Milliseconds(),
				"service_env": strings.Join(o.ServiceEnv, " "), "coalesced_env": strings.Join(o.CoalescedEnv, " "),
				"nats": map[bool]string{true: "embedded in the benchmark process", false: "external server"}[o.NATSURL == ""],
			},
		},
	}
	if m != nil {
		b.replicaPID = m.replicaPID
	}
	if !cfg.InterpolateParams {
		fmt.Fprintln(os.Stderr, "note: interpolateParams is off in -mysql; each statement costs extra round trips")
	}

	if o.has(modeService) || o.has(modeHandwritten) || o.has(modeCoalesced) || o.has(modeReplica) || o.Burst > 0 {
		natsURL, stopNATS, err := startNATS(&o)
		if err != nil {
			return err
		}
		defer stopNATS()
		if b.conns, err = connect(natsURL, o.Conns); err != nil {
			return err
		}
		defer closeAll(b.conns)
		coalesced := b.coalescedRuns()
		if o.has(modeService) || o.Burst > 0 || coalesced || o.has(modeReplica) {
			bin, cleanup, err := dbapiBinary(ctx, &o)
			if err != nil {
				return err
			}
			defer cleanup()
			if o.has(modeService) || o.Burst > 0 {
				if b.svc, err = startService(ctx, &o, bin, modeService, natsURL, b.conns[0]); err != nil {
					return err
				}
				defer b.svc.Stop()
				if rss, ok := procRSS(b.svc.pid); ok {
					b.results.IdleRSSMiB = mib(rss)
				}
				fmt.Fprintf(os.Stderr, "service pid %s on %s, prefix %s, pool %d, DBAPI_COALESCE_MAX=1\n", b.svc.pid, natsURL, o.Prefix, o.Pool)
			}
			if coalesced {
				if b.co, err = startService(ctx, &o, bin, modeCoalesced, natsURL, b.conns[0]); err != nil {
					return err
				}
				defer b.co.Stop()
				env := strings.Join(o.CoalescedEnv, " ")
				if env == "" {
					env = "group commit at its defaults"
				}
				fmt.Fprintf(os.Stderr, "coalesced service pid %s, prefix %s, pool %d, %s\n", b.co.pid, coalescedPrefix(&o), o.Pool, env)
			}
			if o.has(modeReplica) {
				if b.rep, err = startService(ctx, &o, bin, modeReplica, natsURL, b.conns[0]); err != nil {
					return err
				}
				defer b.rep.Stop()
				fmt.Fprintf(os.Stderr, "replica-mode service pid %s, prefix %s, pool %d (and %d on the replica), DBAPI_COALESCE_MAX=1, DBAPI_MYSQL_REPLICA_DSN=the replica\n",
					b.rep.pid, replicaPrefix(&o), o.Pool, o.Pool)
			}
		}
		if o.has(modeHandwritten) {
			if b.hw, err = startHandwritten(ctx, &o, natsURL, b.conns[0]); err != nil {
				return err
			}
			defer b.hw.Stop()
			fmt.Fprintf(os.Stderr, "hand-written service pid %s, prefix %shw, pool %d\n", b.hw.pid, o.Prefix, o.Pool)
		}
	}

	for _, name := range o.Workloads {
		if ctx.Err() != nil {
			break
		}
		wl := workloadDefs[name]
		b.results.Workloads[name] = wl.desc
		if reason := b.available(ctx, wl); reason != "" {
			fmt.Fprintf(os.Stderr, "%s: not available: %s\n", name, reason)
			b.results.Unavailable[name] = reason
			continue
		}
		if err := b.seed(ctx); err != nil {
			return err
		}
		for _, n := range o.Clients {
			b.levels(ctx, wl, loopClosed, n, 0)
		}
		for _, r := range o.Rates {
			rate := b.resolveRate(name, r)
			if rate <= 0 {
				fmt.Fprintf(os.Stderr, "%s: rate %s: no closed-loop throughput to take a percentage of; skipped\n", name, r)
				continue
			}
			b.levels(ctx, wl, loopOpen, o.OpenClients, rate)
		}
	}
	if o.Burst > 0 && b.svc != nil && ctx.Err() == nil {
		wl := workloadDefs["transfer"]
		if err := b.seed(ctx); err != nil {
			return err
		}
		b.results.Burst = b.burst(ctx, wl, o.Burst)
	}
	if b.svc != nil {
		b.results.ErrorLog = b.svc.errorLines(10)
	}
	if b.co != nil {
		for _, l := range b.co.errorLines(10) {
			b.results.ErrorLog = append(b.results.ErrorLog, "coalesced: "+l)
		}
	}
	if b.rep != nil {
		for _, l := range b.rep.errorLines(10) {
			b.results.ErrorLog = append(b.results.ErrorLog, "replica: "+l)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	b.results.Targets = evaluate(b.results)
	return b.report()
}

// available returns why a workload cannot run, or "".
func (b *bench) available(ctx context.Context, wl *workload) string {
	if wl.name != "batch" || b.svc == nil || !b.o.has(modeService) {
		return ""
	}
	subject := b.o.Prefix + "." + wl.subject
	if err := b.seed(ctx); err != nil {
		return err.Error()
	}
	msg, err := b.conns[0].Request(subject, wl.body(rand.New(rand.NewPCG(1, 2)), b.o.Accounts), 5*time.Second)
	if err != nil {
		return fmt.Sprintf("the service does not answer %s (%s)", subject, natsErrorCode(err))
	}
	if code := replyCode(msg); code != "" {
		return fmt.Sprintf("the service answered the probe on %s with %s: %s", subject, code, strings.TrimSpace(string(msg.Data)))
	}
	return ""
}

// resolveRate turns "500" or "50%" into requests/s for a workload.
func (b *bench) resolveRate(workload, s string) float64 {
	v, percent, _ := parseRate(s)
	if !percent {
		return v
	}
	best := map[string]float64{}
	for _, l := range b.results.Levels {
		if l.Workload == workload && l.Loop == loopClosed {
			best[l.Mode] = max(best[l.Mode], l.RPS)
		}
	}
	base := best[modeService]
	if base == 0 {
		base = best[modeDirect]
	}
	return float64(int(base * v / 100))
}

// segment is one mode's share of one round of a level.
type segment struct {
	run     levelRun
	cpu     []time.Duration // this process, the service, the database, the machine, the replica
	maxRSS  int64           // of the service
	load    float64
	commits int64 // COMMIT statements the server ran; -1: not read
	selects int64 // SELECT statements the server ran; -1: not read
	// replicaReads is the SELECT statements the replica ran; -1: not
	// read (no replica).
	replicaReads int64
}

// modesOf returns the modes a workload runs in: the hand-written service
// has no batch, and the coalesced mode runs only operations that coalesce.
func modesOf(o *Options, wl *workload) []string {
	var out []string
	for _, m := range o.Modes {
		switch {
		case m == modeHandwritten && wl.name == "batch":
		case m == modeCoalesced && !wl.coalesces():
		default:
			out = append(out, m)
		}
	}
	return out
}

// coalescedRuns reports whether any workload of the run has the coalesced
// mode, which needs a dbapi process of its own.
func (b *bench) coalescedRuns() bool {
	for _, name := range b.o.Workloads {
		if slices.Contains(modesOf(b.o, workloadDefs[name]), modeCoalesced) {
			return true
		}
	}
	return false
}

// levels runs one level in every mode, alternating the modes for -rounds
// rounds so that a change in background load hits all alike, and records
// one Level per mode.
func (b *bench) levels(ctx context.Context, wl *workload, loop string, clients int, rate float64) {
	o := b.o
	modes := modesOf(o, wl)
	segs := map[string][]segment{}
	for round := range o.Rounds {
		for _, mode := range modes {
			if ctx.Err() != nil {
				return
			}
			label := fmt.Sprintf("%s %s %d clients", wl.name, mode, clients)
			if loop == loopOpen {
				label = fmt.Sprintf("%s %s %.0f req/s", wl.name, mode, rate)
			}
			if o.Rounds > 1 {
				label += fmt.Sprintf(" (%d/%d)", round+1, o.Rounds)
			}
			segs[mode] = append(segs[mode], b.segment(ctx, wl, mode, loop, clients, rate, round, label))
		}
	}
	for _, mode := range modes {
		l := b.record(wl, mode, loop, clients, rate, segs[mode])
		if !o.Quiet {
			label := fmt.Sprintf("%s %s %s", wl.name, mode, (&pair{loop: loop, clients: clients, rate: rate}).level())
			fmt.Fprintf(os.Stderr, "%-34s %8.0f req/s  p50 %s  p99 %s  errors %v\n", label, l.RPS,
				fmtUS(l.Latency.P50), fmtUS(l.Latency.P99), errString(l.Errors))
		}
	}
}

// segment runs one mode at one level for -duration / -rounds.
func (b *bench) segment(ctx context.Context, wl *workload, mode, loop string, clients int, rate float64, round int, label string) segment {
	o := b.o
	var req request
	svcPID := ""
	switch mode {
	case modeDirect:
		req = func(ctx context.Context, _ int, r *rand.Rand) string {
			rctx, cancel := context.WithTimeout(ctx, o.Timeout)
			defer cancel()
			return directCode(rctx, wl, b.runner, r, o.Accounts)
		}
	case modeService:
		subject := o.Prefix + "." + wl.subject
		req = func(_ context.Context, i int, r *rand.Rand) string {
			return serviceCode(b.conns[i%len(b.conns)], subject, wl.body(r, o.Accounts), o.Timeout)
		}
		svcPID = b.svc.pid
	case modeCoalesced:
		subject := coalescedPrefix(o) + "." + wl.subject
		req = func(_ context.Context, i int, r *rand.Rand) string {
			return serviceCode(b.conns[i%len(b.conns)], subject, wl.body(r, o.Accounts), o.Timeout)
		}
		svcPID = b.co.pid
	case modeReplica:
		subject := replicaPrefix(o) + "." + wl.subject
		req = func(_ context.Context, i int, r *rand.Rand) string {
			return serviceCode(b.conns[i%len(b.conns)], subject, wl.body(r, o.Accounts), o.Timeout)
		}
		svcPID = b.rep.pid
	case modeHandwritten:
		subject := o.Prefix + "hw." + wl.subject
		req = func(_ context.Context, i int, r *rand.Rand) string {
			return serviceCode(b.conns[i%len(b.conns)], subject, wl.body(r, o.Accounts), o.Timeout)
		}
		svcPID = b.hw.pid
	}
	cpu := newCPUMeter("self", svcPID, b.dbPID, machinePID, b.replicaPID)
	primary := newStatusMeter(b.status, "Com_commit", "Com_select")
	replicaReads := newStatusMeter(b.replicaStatus, "Com_select")
	rss := sampleRSS(svcPID, 100*time.Millisecond)
	dur := o.Duration / time.Duration(o.Rounds)
	// Later rounds find the pools and connections warm: a quarter of the
	// warm-up is enough to let the load settle.
	warmup := o.Warmup
	if round > 0 {
		warmup /= 4
	}
	w := window{warmup: warmup, duration: dur,
		onStart: func() { meters((*statusMeter).begin, primary, replicaReads); cpu.begin() },
		onEnd:   func() { meters((*statusMeter).finish, primary, replicaReads); cpu.finish() }}
	p := startProgress(o.Quiet, label, warmup+dur)
	var res levelRun
	if loop == loopClosed {
		res = closedLoop(ctx, clients, w, o.MaxRequests, o.OverloadWait, p, req)
	} else {
		res = openLoop(ctx, rate, clients, w, o.MaxRequests, o.Timeout, p, req)
	}
	p.end()
	counts := primary.counts()
	return segment{run: res, cpu: cpu.used(), maxRSS: rss.end(), load: loadAverage(),
		commits: counts[0], selects: counts[1], replicaReads: replicaReads.used()}
}

// record merges the segments of one mode into a Level.
func (b *bench) record(wl *workload, mode, loop string, clients int, rate float64, segs []segment) Level {
	res := levelRun{hist: newHist(), errors: map[string]int64{}}
	cpu := make([]time.Duration, 5)
	var maxRSS int64
	var load float64
	// Counters of the servers' status: -1 once a segment could not read
	// one.
	var commits, selects, replicaReads int64
	add := func(sum *int64, v int64) {
		if *sum >= 0 && v >= 0 {
			*sum += v
		} else {
			*sum = -1
		}
	}
	for _, s := range segs {
		add(&commits, s.commits)
		add(&selects, s.selects)
		add(&replicaReads, s.replicaReads)
		res.hist.Merge(s.run.hist)
		res.ok += s.run.ok
		res.elapsed += s.run.elapsed
		for k, v := range s.run.errors {
			res.errors[k] += v
		}
		for i := range cpu {
			cpu[i] += s.cpu[i]
		}
		maxRSS = max(maxRSS, s.maxRSS)
		load += s.load / float64(len(segs))
	}
	l := Level{
		Workload: wl.name, Loop: loop, Mode: mode, Clients: clients, Rate: rate,
		Seconds: res.elapsed.Seconds(), OK: res.ok, Latency: latencyOf(res), Bench: usage(cpu[0], res.ok, 0),
		Load1: load,
	}
	if cpu[3] > 0 {
		l.OtherCPUSeconds = max(cpu[3]-cpu[0]-cpu[1]-cpu[2]-cpu[4], 0).Seconds()
	}
	if res.elapsed > 0 {
		l.RPS = float64(res.ok) / res.elapsed.Seconds()
	}
	if len(res.errors) > 0 {
		l.Errors = res.errors
	}
	if mode != modeDirect {
		u := usage(cpu[1], res.ok, maxRSS)
		l.Service = &u
	}
	counted := func(v int64) *int64 {
		if v < 0 || len(segs) == 0 {
			return nil
		}
		return &v
	}
	l.Commits, l.Selects, l.ReplicaReads = counted(commits), counted(selects), counted(replicaReads)
	if b.dbPID != "" {
		u := usage(cpu[2], res.ok, 0)
		l.Database = &u
	}
	if b.replicaPID != "" {
		u := usage(cpu[4], res.ok, 0)
		l.Replica = &u
	}
	b.results.Levels = append(b.results.Levels, l)
	return l
}

func latencyOf(r levelRun) Latency {
	h := r.hist
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), Max: h.Max(), Mean: h.Mean(),
	}
}

func usage(cpu time.Duration, ok int64, rss int64) ProcUsage {
	u := ProcUsage{CPUSeconds: cpu.Seconds(), MaxRSSMiB: mib(rss)}
	if ok > 0 {
		u.CPUPerReqUS = float64(cpu.Microseconds()) / float64(ok)
	}
	return u
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// seed seeds the benchmark tables (see seed) and, in the replica
// profile, waits until the replica has them too.
func (b *bench) seed(ctx context.Context) error {
	if err := seed(ctx, b.db, b.o.Accounts); err != nil {
		return err
	}
	return b.mysqld.caughtUp(ctx)
}

// seed empties the benchmark tables and inserts n accounts (ids 1..n) with
// balances large enough that no transfer of 0.01 ever runs short.
func seed(ctx context.Context, db *sqlx.DB, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	conn, err := db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	defer conn.Close()
	for _, q := range []string{
		"SET FOREIGN_KEY_CHECKS = 0", "TRUNCATE TABLE transfers", "TRUNCATE TABLE accounts", "SET FOREIGN_KEY_CHECKS = 1",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("seed: %s: %w", q, err)
		}
	}
	const chunk = 1000
	for first := 1; first <= n; first += chunk {
		var sb strings.Builder
		sb.WriteString("INSERT INTO accounts (id, owner, balance) VALUES ")
		for id := first; id < first+chunk && id <= n; id++ {
			if id > first {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "(%d,'bench-%d',1000000000.00)", id, id)
		}
		if _, err := conn.ExecContext(ctx, sb.String()); err != nil {
			return fmt.Errorf("seed accounts: %w", err)
		}
	}
	return nil
}
