package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/catalog"
	"github.com/dbapi-dev/dbapi/consumer"
	"github.com/dbapi-dev/dbapi/durable"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/internal/ratelog"
	"github.com/dbapi-dev/dbapi/metrics"
	"github.com/dbapi-dev/dbapi/opshttp"
	"github.com/dbapi-dev/dbapi/rawsql"
	"github.com/dbapi-dev/dbapi/schema"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Main is the whole service, wired from its packages. Tests start it in
// process with Run and stop it with Close.
type Main struct {
	Config Config
	App    App
	Logger *slog.Logger

	DB       *sqlx.DB
	NATS     *nats.Conn
	NATSURL  string // the URL of the NATS server in use
	Consumer *consumer.Service
	Durable  *durable.Service // when DBAPI_DURABLE is set
	// DurableNATS is the durable transport's own connection.
	DurableNATS *nats.Conn

	// MetricsURL is where Prometheus metrics are served, if they are.
	MetricsURL string
	// TracerProvider makes the spans of requests; when nil, one is set up
	// from the OTEL_* variables if they ask for traces (see package
	// tracing).
	TracerProvider trace.TracerProvider
	// LimitMemory sets the Go runtime's soft memory limit from the
	// configuration when serving (see setMemoryLimit); the command does,
	// tests in one process do not.
	LimitMemory bool
	// HTTP serves /healthz, /readyz and /metrics on DBAPI_HTTP_ADDR, if
	// that is set.
	HTTP *opshttp.Server

	defs          []*catalog.Definition // the declared operations served
	embedded      *server.Server
	metrics       *metrics.Metrics
	metricsServer *opshttp.Server // the older DBAPI_METRICS_ADDR, if set apart
	stopSweeper   context.CancelFunc
	sweeperDone   chan struct{}
	ownTracing    *sdktrace.TracerProvider // set up from OTEL_*, shut down by Close
	rate          *ratelog.Logger          // counted warnings
}

// NewMain returns a Main serving app with a JSON logger on stderr at the
// configured level.
func NewMain(cfg Config, app App) *Main {
	level, _ := cfg.Level()
	return &Main{
		Config: cfg,
		App:    app,
		Logger: slog.New(contextHandler{slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})}),
	}
}

// Run opens the database (creating and migrating it unless told not to),
// connects to NATS (or starts an embedded server), and starts serving. It
// returns once the service is serving.
func (m *Main) Run(ctx context.Context) error {
	m.rate = ratelog.New(m.Logger, warnEvery)
	if err := m.listenHTTP(); err != nil {
		return err
	}
	reg, err := m.registry()
	if err != nil {
		return err
	}
	if err := m.openDB(ctx, m.Config.Migrate); err != nil {
		return err
	}
	if m.Config.Migrate {
		if err := m.migrate(ctx); err != nil {
			return err
		}
	} else {
		m.warnPending(ctx)
	}
	if reg, err = m.checkBeforeServing(ctx, reg); err != nil {
		return err
	}
	if err := m.connectNATS(); err != nil {
		return err
	}
	return m.serve(reg)
}

// registry gathers every operation: the Go ones, the declared ones, and
// raw SQL when it is enabled. A duplicate name is an error.
func (m *Main) registry() (*dbapi.Registry, error) {
	declared, err := m.loadCatalog()
	if err != nil {
		return nil, err
	}
	goOps := map[string]bool{}
	for _, op := range m.App.Operations {
		goOps[op.Name] = true
	}
	for _, d := range m.defs {
		if goOps[d.Name] {
			return nil, &catalog.Error{File: d.File, Line: d.Line, Msg: fmt.Sprintf("operation %q is also a Go operation of %s", d.Name, m.App.name())}
		}
	}
	ops := append(m.App.Operations[:len(m.App.Operations):len(m.App.Operations)], declared...)
	if m.Config.AllowRawSQL {
		ops = append(ops, rawsql.Operations(m.Config.MaxRows)...)
		m.Logger.Warn("raw SQL is enabled (DBAPI_ALLOW_RAW_SQL): only trusted clients may reach " + m.Config.Prefix + ".sql.>")
	}
	if len(ops) == 0 {
		return nil, errNoOperations
	}
	return dbapi.NewRegistry(ops...)
}

// serve starts the idempotency sweeper, the consumer and, when
// DBAPI_METRICS_ADDR is set, the metrics endpoint.
func (m *Main) serve(reg *dbapi.Registry) error {
	for _, op := range reg.Operations() {
		m.Config.coalescing = m.Config.coalescing || op.Coalesce
	}
	runnerCfg := txrunner.Config{MaxAttempts: m.Config.MaxAttempts, Logger: m.Logger}
	var observer consumer.Observer
	var metricsTracer consumer.Tracer
	var onGroup func(string, int)
	if m.metrics != nil {
		onGroup = m.metrics.Group
		m.metrics.WatchDB(m.DB.DB)
		m.metrics.WatchNATS(m.NATS)
		m.metrics.BuildInfo(Version())
		runnerCfg.OnRetry, observer, metricsTracer = m.metrics.Retry, m.metrics, m.metrics.Tracer()
	}
	var runner executor.Runner = txrunner.New(m.DB, runnerCfg)
	tracer, err := m.tracer()
	if err != nil {
		return err
	}
	if tracer != nil {
		runner = tracer.Runner(runner)
	}
	idem := &idempotency.Store{TTL: m.Config.IdemTTL}
	m.startSweeper(idem)
	exec := executor.New(runner, reg, executor.Config{
		Timeout:     m.Config.Timeout,
		MaxReply:    maxReply(m.NATS),
		MaxBatch:    m.Config.MaxBatch,
		Idempotency: idem,
		Coalesce: executor.CoalesceConfig{
			MaxGroup:  m.Config.CoalesceMax,
			MaxGroups: m.Config.CoalesceGroups,
			MaxWait:   m.Config.CoalesceWait,
			OnGroup:   onGroup,
		},
	})
	m.Consumer, err = consumer.Start(m.NATS, exec, consumer.Config{
		Observer:   observer,
		Tracer:     consumer.Tracers(consumerTracer(tracer), metricsTracer, refusals{m.rate}),
		Prefix:     m.Config.Prefix,
		QueueGroup: m.Config.QueueGroup,
		Workers:    m.Config.workers(),
		QueueLen:   m.Config.QueueLen,
		QueueBytes: m.Config.QueueBytes,
		MaxPayload: m.Config.MaxPayload,
		Version:    Version(),
		Logger:     m.Logger,
	})
	if err != nil {
		return err
	}
	if m.Config.Durable {
		if err := m.startDurable(exec, runner); err != nil {
			return err
		}
	}
	if m.metrics != nil {
		m.metrics.WatchQueue(m.Consumer.Queued)
	}
	m.addReadyChecks()
	limit := debug.SetMemoryLimit(-1)
	if m.LimitMemory {
		limit = m.setMemoryLimit()
	}
	m.Logger.Info("memory", "request_bytes", m.RequestMemory(), "limit_bytes", limit)
	m.Logger.Info("serving", "nats", m.NATSURL, "prefix", m.Config.Prefix, "queue_group", m.Config.QueueGroup,
		"operations", len(reg.Operations()), "workers", m.Config.workers(), "pool", m.Config.PoolSize)
	return nil
}

// startDurable starts the durable transport on JetStream.
func (m *Main) startDurable(exec *executor.Executor, runner executor.Runner) error {
	storage, _ := m.Config.storage() // checked by Validate
	var observer durable.Observer
	if m.metrics != nil {
		observer = m.metrics
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	m.Durable, err = durable.Start(ctx, m.DurableNATS, exec, runner, durable.Config{
		Prefix:     m.Config.Prefix,
		Stream:     m.Config.Stream,
		Consumer:   m.Config.DurableConsumer,
		QueueGroup: m.Config.QueueGroup,
		Workers:    m.Config.durableWorkers(),
		MaxAge:     m.Config.DurableMaxAge,
		Replicas:   m.Config.DurableReplicas,
		Storage:    storage,
		Duplicates: m.Config.DurableDuplicates,
		AckWait:    m.Config.DurableAckWait,
		MaxDeliver: m.Config.DurableMaxDeliver,
		Backoff:    m.Config.DurableBackoff,
		MaxBackoff: m.Config.DurableMaxBackoff,
		OutcomeTTL: m.Config.DurableOutcomeTTL,
		Observer:   observer,
		Version:    Version(),
		Logger:     m.Logger,
	})
	if err != nil {
		return fmt.Errorf("durable requests (DBAPI_DURABLE): %w", err)
	}
	m.Logger.Info("durable requests", "stream", m.Config.Stream, "consumer", m.Config.DurableConsumer,
		"subjects", m.Config.Prefix+".durable.>", "workers", m.Config.durableWorkers())
	return nil
}

// maxReply is the largest reply body nc can carry, leaving room for the
// headers.
func maxReply(nc *nats.Conn) int {
	if limit := nc.MaxPayload(); limit > 1024 {
		return int(limit - 1024)
	}
	return 0
}

// startSweeper deletes expired idempotency keys in the background.
func (m *Main) startSweeper(idem *idempotency.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	m.stopSweeper, m.sweeperDone = cancel, make(chan struct{})
	go func() {
		defer close(m.sweeperDone)
		idem.SweepEvery(ctx, m.DB, time.Minute, m.Logger)
	}()
}

// loadCatalog loads the declared operations: the .sql files in
// DBAPI_OPERATIONS_DIR, else the ones the App embeds. It keeps their
// definitions for the check at start.
func (m *Main) loadCatalog() ([]dbapi.Operation, error) {
	defs, where, problems := m.definitions()
	if len(problems) > 0 {
		return nil, fmt.Errorf("operations (%s): %w", where, errors.Join(problems...))
	}
	m.defs = defs
	return catalog.Operations(defs, catalog.Config{MaxRows: m.Config.MaxRows}), nil
}

// migrations returns the application's migrations: DBAPI_MIGRATIONS_DIR,
// else the ones the App embeds, else none.
func (m *Main) migrations() (fs.FS, error) {
	if dir := m.Config.MigrationsDir; dir != "" {
		fsys, err := folder(dir)
		if err != nil {
			return nil, fmt.Errorf("DBAPI_MIGRATIONS_DIR: %w", err)
		}
		return fsys, nil
	}
	return m.App.Migrations, nil
}

// Migrate creates the database if needed and applies the migrations.
func (m *Main) Migrate(ctx context.Context) error {
	if _, err := m.migrations(); err != nil {
		return err // before the database is created
	}
	if err := m.openDB(ctx, true); err != nil {
		return err
	}
	return m.migrate(ctx)
}

// openDB opens the pool, retrying for DBAPI_CONNECT_TIMEOUT while the
// server cannot be reached (in a container platform the database often
// starts after the service). It creates the database only when create is
// set and the server says the database does not exist: an existing
// database needs no CREATE privilege.
func (m *Main) openDB(ctx context.Context, create bool) error {
	cfg, err := txrunner.ParseDSN(m.Config.MySQLDSN)
	if err != nil {
		return fmt.Errorf("DBAPI_MYSQL_DSN: %w", err)
	}
	if cfg.DBName == "" {
		return errors.New("DBAPI_MYSQL_DSN names no database")
	}
	open := func(ctx context.Context) error {
		db, err := txrunner.Open(ctx, cfg, txrunner.PoolConfig{MaxOpen: m.Config.PoolSize})
		if err != nil && create && txrunner.IsUnknownDatabase(err) {
			m.Logger.Info("creating the database", "database", cfg.DBName)
			if err := schema.EnsureDatabase(ctx, cfg); err != nil {
				return fmt.Errorf("database %s at %s: %w", cfg.DBName, cfg.Addr, txrunner.Classify(err))
			}
			db, err = txrunner.Open(ctx, cfg, txrunner.PoolConfig{MaxOpen: m.Config.PoolSize})
		}
		m.DB = db
		return err
	}
	if err := retryUnavailable(ctx, m.Config.ConnectTimeout, m.Logger, open); err != nil {
		return err
	}
	m.Logger.Info("database", "dsn", txrunner.Redact(cfg))
	return nil
}

// retryUnavailable calls f until it succeeds, fails with an error other
// than the database being unavailable, or patience runs out. Waits double
// from 250ms up to 5s; zero patience means one try.
func retryUnavailable(ctx context.Context, patience time.Duration, log *slog.Logger, f func(context.Context) error) error {
	deadline := time.Now().Add(patience)
	wait := 250 * time.Millisecond
	for {
		err := f(ctx)
		if err == nil || dbapi.AsError(err).Kind != dbapi.EUNAVAILABLE || time.Now().Add(wait).After(deadline) {
			return err
		}
		log.Warn("database unavailable; retrying", "err", err, "retry_in", wait.String(),
			"gives_up_in", time.Until(deadline).Round(time.Second).String())
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// migrate applies dbapi's own migrations, then the application's.
func (m *Main) migrate(ctx context.Context) error {
	sets := []schema.Set{schema.OwnSet()}
	appFS, err := m.migrations()
	if err != nil {
		return err
	}
	if appFS != nil {
		sets = append(sets, schema.Set{FS: appFS, VersionTable: m.Config.MigrationsTable})
	}
	applied, err := schema.Migrate(ctx, m.DB.DB, m.Logger, sets...)
	if err != nil {
		return err
	}
	for _, a := range applied { // in the order they ran, dbapi's own first
		m.Logger.Info("migrations applied", "version_table", a.VersionTable, "versions", a.Versions)
	}
	return nil
}

// connectNATS connects to DBAPI_NATS_URL, or starts an embedded server.
func (m *Main) connectNATS() error {
	url := m.Config.NATSURL
	if url == "" {
		var err error
		if url, err = m.startEmbedded(); err != nil {
			return err
		}
	}
	opts := []nats.Option{
		nats.Name("dbapi"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil when we close the connection ourselves
				m.Logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { m.Logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				m.slowConsumer(sub)
				return
			}
			m.Logger.Error("nats error", "err", err)
		}),
	}
	if m.Config.NATSCreds != "" {
		if _, err := os.Stat(m.Config.NATSCreds); err != nil {
			return fmt.Errorf("DBAPI_NATS_CREDS: %w", err)
		}
		opts = append(opts, nats.UserCredentials(m.Config.NATSCreds))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("connect to NATS (DBAPI_NATS_URL): %w", err)
	}
	m.NATS = nc
	m.NATSURL = nc.ConnectedUrlRedacted()
	if m.Config.Durable {
		// A connection of its own: the request-reply consumer drains its
		// connection's subscriptions on stop, and JetStream keeps one.
		opts[0] = nats.Name("dbapi-durable")
		if m.DurableNATS, err = nats.Connect(url, opts...); err != nil {
			return fmt.Errorf("connect to NATS (DBAPI_NATS_URL): %w", err)
		}
	}
	return nil
}

// startEmbedded starts an in-process NATS server on DBAPI_NATS_LISTEN, or
// on a free port if that one is taken, and returns its URL.
func (m *Main) startEmbedded() (string, error) {
	host, port, err := listenAddr(m.Config.NATSListen)
	if err != nil {
		return "", fmt.Errorf("DBAPI_NATS_LISTEN: %w", err)
	}
	opts := &server.Options{Host: host, Port: port, NoSigs: true, MaxPayload: int32(max(m.Config.MaxPayload, 1<<20))}
	if m.Config.Durable {
		// For trying durable requests out; its store is a temporary folder.
		opts.JetStream, opts.StoreDir = true, filepath.Join(os.TempDir(), "dbapi-embedded-nats")
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return "", fmt.Errorf("embedded NATS: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return "", errors.New("embedded NATS server did not start")
	}
	m.embedded = ns
	if _, want, _ := net.SplitHostPort(m.Config.NATSListen); want != "0" && want != strconv.Itoa(port) {
		// Clients that expect the usual port would reach whatever holds
		// it and get "no responders", which reads like an unknown
		// operation: say so loudly.
		m.Logger.Warn("DBAPI_NATS_LISTEN "+m.Config.NATSListen+" is taken (another NATS server or dbapi?): "+
			"the embedded NATS server listens on "+ns.ClientURL()+" instead. Clients must use that URL, "+
			"e.g. nats --server "+ns.ClientURL()+" request ...; or set DBAPI_NATS_URL to use the server that holds the port",
			"url", ns.ClientURL(), "wanted", m.Config.NATSListen)
	} else {
		m.Logger.Info("embedded NATS server started (set DBAPI_NATS_URL to use your own)", "url", ns.ClientURL())
	}
	return ns.ClientURL(), nil
}

// listenAddr splits addr, choosing a free port when the wanted one is busy.
func listenAddr(addr string) (string, int, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		l, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", 0, err
		}
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return host, port, nil
}

// Close stops the service gracefully: no new requests, in-flight ones
// finish and reply within the grace period, then NATS and the database
// pool close.
func (m *Main) Close() error {
	var errs []error
	m.stoppingHTTP()
	if m.Durable != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.Grace)
		errs = append(errs, m.Durable.Stop(ctx))
		cancel()
	}
	if m.Consumer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.Grace)
		errs = append(errs, m.Consumer.Stop(ctx))
		cancel()
	}
	errs = append(errs, m.shutdownTracing())
	if m.rate != nil {
		m.rate.Close()
	}
	if m.stopSweeper != nil {
		m.stopSweeper()
		<-m.sweeperDone
	}
	if m.NATS != nil {
		m.NATS.Close()
	}
	if m.DurableNATS != nil {
		m.DurableNATS.Close()
	}
	if m.embedded != nil {
		m.embedded.Shutdown()
		m.embedded.WaitForShutdown()
	}
	if m.DB != nil {
		errs = append(errs, m.DB.Close())
	}
	errs = append(errs, m.shutdownHTTP())
	return errors.Join(errs...)
}
