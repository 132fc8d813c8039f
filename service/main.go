package service

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/catalog"
	"github.com/dbapi-dev/dbapi/consumer"
	"github.com/dbapi-dev/dbapi/durable"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/health"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/internal/embednats"
	"github.com/dbapi-dev/dbapi/internal/ratelog"
	"github.com/dbapi-dev/dbapi/metrics"
	"github.com/dbapi-dev/dbapi/opshttp"
	"github.com/dbapi-dev/dbapi/replica"
	"github.com/dbapi-dev/dbapi/tracing"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
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
	dsn           *mysql.Config         // DBAPI_MYSQL_DSN as parsed, before withIOTimeouts
	embedded      *embednats.Server
	metrics       *metrics.Metrics
	metricsServer *opshttp.Server // the older DBAPI_METRICS_ADDR, if set apart
	stopSweeper   context.CancelFunc
	sweeperDone   chan struct{}
	ownTracing    *sdktrace.TracerProvider // set up from OTEL_*, shut down by Close
	rate          *ratelog.Logger          // counted warnings
	outcomes      *idempotency.Outcomes    // durable requests' outcomes, when DBAPI_DURABLE is set
	replicas      *replica.Set             // DBAPI_MYSQL_REPLICA_DSN's, if any
	health        *health.Monitor          // the database's health, every second
	tracing       *tracing.Tracer          // when tracing is on
	// workers and durableWorkers are how many requests of each transport
	// run at once (DBAPI_WORKERS, DBAPI_DURABLE_WORKERS, or the
	// executor's own count).
	workers, durableWorkers int
	healthDB                *sqlx.DB // the health check's own pool
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
	if err := m.connectNATS(ctx); err != nil {
		return err
	}
	return m.serve(ctx, reg)
}

// serve wires the request path and starts both transports.
func (m *Main) serve(ctx context.Context, reg *dbapi.Registry) error {
	runner, err := m.runner()
	if err != nil {
		return err
	}
	if err := m.openReplicas(ctx); err != nil {
		return err
	}
	idem := &idempotency.Store{TTL: m.Config.IdemTTL}
	sweep := []idempotency.Sweeper{idem}
	if m.Config.Durable {
		m.outcomes = &idempotency.Outcomes{TTL: m.Config.DurableOutcomeTTL}
		sweep = append(sweep, m.outcomes)
	}
	m.startSweeper(sweep...)
	exec := executor.New(runner, reg, executor.Config{
		Timeout:     m.Config.Timeout,
		MaxReply:    maxReply(m.NATS),
		MaxBatch:    m.Config.MaxBatch,
		Idempotency: idem,
		Coalesce: executor.CoalesceConfig{
			MaxGroup:  m.Config.CoalesceMax,
			MaxGroups: m.Config.CoalesceGroups,
			MaxWait:   m.Config.CoalesceWait,
			OnGroup:   m.onGroup(),
		},
		Replicas:      m.replicas,
		ReplicaRunner: m.replicaRunner,
	})
	m.workers = m.Config.Workers
	if m.workers == 0 {
		m.workers = exec.Workers(m.Config.PoolSize)
	}
	handler := m.handler(exec)
	m.Consumer, err = consumer.Start(m.NATS, exec, consumer.Config{
		Handler:    handler,
		Prefix:     m.Config.Prefix,
		QueueGroup: m.Config.QueueGroup,
		Workers:    m.workers,
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
		if err := m.startDurable(ctx, exec, runner, handler); err != nil {
			return err
		}
	}
	if m.metrics != nil {
		m.metrics.WatchQueue(m.Consumer.Queued)
	}
	if err := m.watchHealth(ctx, reg); err != nil {
		return err
	}
	m.addReadyChecks()
	limit := debug.SetMemoryLimit(-1)
	if m.LimitMemory {
		limit = m.setMemoryLimit()
	}
	m.Logger.Info("memory", "request_bytes", m.RequestMemory(), "limit_bytes", limit)
	m.Logger.Info("serving", "nats", m.NATSURL, "prefix", m.Config.Prefix, "queue_group", m.Config.QueueGroup,
		"operations", len(reg.Operations()), "workers", m.workers, "pool", m.Config.PoolSize)
	return nil
}

// Close stops the service gracefully: no new requests, in-flight ones
// finish and reply within the grace period, then NATS and the database
// pool close.
func (m *Main) Close() error {
	var errs []error
	m.stoppingHTTP()
	m.stopHealth()
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
	}
	if m.replicas != nil {
		errs = append(errs, m.replicas.Close())
		m.replicas = nil
	}
	if m.DB != nil {
		errs = append(errs, m.DB.Close())
	}
	errs = append(errs, m.shutdownHTTP())
	return errors.Join(errs...)
}

// onGroup is group commit's report of each group's size: the metric, when
// metrics are on.
func (m *Main) onGroup() func(op string, size int) {
	if m.metrics == nil {
		return nil
	}
	return m.metrics.Group
}
