package service

import (
	"github.com/dbapi-dev/dbapi/batch"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// runnerConfig is the configuration of every transaction runner, the
// primary's and the replicas'.
func (m *Main) runnerConfig() txrunner.Config {
	cfg := txrunner.Config{MaxAttempts: m.Config.MaxAttempts, Logger: m.Logger}
	if m.metrics != nil {
		cfg.OnRetry = m.metrics.Retry
	}
	return cfg
}

// replicaRunner is the runner of a replica's pool: the primary's, on
// another pool, with one attempt: a read that fails on a replica runs
// again on the primary, which is its retry (with the primary's ten
// attempts and their backoff, a read on a replica just killed took 0.6 s
// to fall back; with one, 0.08 s).
func (m *Main) replicaRunner(db *sqlx.DB) executor.Runner {
	cfg := m.runnerConfig()
	cfg.MaxAttempts = 1
	var r executor.Runner = txrunner.New(db, cfg)
	if m.tracing != nil {
		r = m.tracing.Runner(r)
	}
	return r
}

// runner returns the transaction runner: txrunner on the pool, counting
// retries in the metrics and traced when tracing is on.
func (m *Main) runner() (executor.Runner, error) {
	cfg := m.runnerConfig()
	if m.metrics != nil {
		m.metrics.WatchDB(m.DB.DB)
		m.metrics.WatchNATS(m.NATS.IsConnected, func() uint64 { return m.NATS.Stats().Reconnects })
		m.metrics.BuildInfo(Version())
	}
	var r executor.Runner = txrunner.New(m.DB, cfg)
	tracer, err := m.tracer()
	if err != nil {
		return nil, err
	}
	if tracer != nil {
		m.tracing = tracer
		r = tracer.Runner(r)
	}
	return r, nil
}

// handler is the one request path both transports hand their requests
// to: each concern of every request a middleware around the executor,
// outermost first.
func (m *Main) handler(exec *executor.Executor) executor.Handler {
	mws := []executor.Middleware{executor.Recover, executor.RequestIDs}
	if m.tracing != nil {
		mws = append(mws, m.tracing.Middleware)
	}
	if m.metrics != nil {
		mws = append(mws, m.metrics.Middleware(func(op string) bool {
			_, ok := exec.Registry().Lookup(op)
			return ok || op == batch.Name
		}))
	}
	mws = append(mws, executor.LogErrors(m.Logger, m.refused))
	return executor.Chain(mws...)(exec.Execute)
}
