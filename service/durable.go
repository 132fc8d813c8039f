package service

import (
	"context"
	"fmt"
	"time"

	"github.com/dbapi-dev/dbapi/durable"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/idempotency"
)

// startDurable starts the durable transport on JetStream.
func (m *Main) startDurable(ctx context.Context, exec *executor.Executor, runner executor.Runner, handler executor.Handler) error {
	m.durableWorkers = m.Config.DurableWorkers
	if m.durableWorkers == 0 {
		m.durableWorkers = m.workers
	}
	storage, _ := m.Config.storage() // checked by Validate
	var observer durable.Observer
	if m.metrics != nil {
		observer = m.metrics
	}
	var err error
	m.Durable, err = durable.Start(ctx, m.DurableNATS, exec, runner, durable.Config{
		Prefix:     m.Config.Prefix,
		Stream:     m.Config.Stream,
		Consumer:   m.Config.DurableConsumer,
		QueueGroup: m.Config.QueueGroup,
		Workers:    m.durableWorkers,
		Handler:    handler,
		MaxAge:     m.Config.DurableMaxAge,
		Replicas:   m.Config.DurableReplicas,
		Storage:    storage,
		Duplicates: m.Config.DurableDuplicates,
		AckWait:    m.Config.DurableAckWait,
		MaxDeliver: m.Config.DurableMaxDeliver,
		Backoff:    m.Config.DurableBackoff,
		MaxBackoff: m.Config.DurableMaxBackoff,
		Outcomes:   m.outcomes,
		// A NATS cluster that has just restarted has no JetStream leader
		// for a while: wait for it as for the database.
		SetUpPatience: m.Config.ConnectTimeout,
		Observer:      observer,
		Version:       Version(),
		Logger:        m.Logger,
	})
	if err != nil {
		return fmt.Errorf("durable requests (DBAPI_DURABLE): %w", err)
	}
	m.Logger.Info("durable requests", "stream", m.Durable.Stream(), "consumer", m.Durable.Consumer(),
		"subjects", m.Config.Prefix+".durable.>", "workers", m.durableWorkers)
	return nil
}

// startSweeper deletes expired idempotency keys and durable outcomes in
// the background, once a minute.
func (m *Main) startSweeper(stores ...idempotency.Sweeper) {
	ctx, cancel := context.WithCancel(context.Background())
	m.stopSweeper, m.sweeperDone = cancel, make(chan struct{})
	go func() {
		defer close(m.sweeperDone)
		idempotency.SweepEvery(ctx, m.DB, time.Minute, m.Logger, stores...)
	}()
}
