package durable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/internal/drain"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

// OutcomeOperation is the reserved name of the outcome lookup:
// request-reply on <prefix>.outcome.
const OutcomeOperation = protocol.OutcomeOperation

// Config configures the durable transport. It has no defaults of its own:
// package service holds them, in its envconfig tags.
type Config struct {
	Prefix     string                // subject prefix; the stream takes <Prefix>.durable.>
	Stream     string                // stream name
	Consumer   string                // durable consumer name, shared by every instance
	QueueGroup string                // queue group of the outcome endpoint
	Workers    int                   // messages run at once by this instance
	MaxAge     time.Duration         // the stream's max age; 0 keeps messages until they run
	Replicas   int                   // the stream's replicas (1 outside a cluster)
	Storage    jetstream.StorageType // file or memory
	Duplicates time.Duration         // the stream's Nats-Msg-Id de-duplication window
	AckWait    time.Duration         // how long a delivered message may go without an ack before redelivery
	MaxDeliver int                   // deliveries of a retryable failure before it is stored as failed
	Backoff    time.Duration         // delay before the second delivery of a retryable failure; doubles each time
	MaxBackoff time.Duration         // the longest such delay
	OutcomeTTL time.Duration         // how long outcomes are kept; must outlive MaxAge
	Observer   Observer              // told every message's outcome; may be nil
	Version    string                // shown by `nats micro info`
	Logger     *slog.Logger          // default slog.Default()
	FetchWait  time.Duration         // longest wait of one fetch; 0 means 5s
}

// Observer is told what became of every durable message, for metrics.
type Observer interface {
	// Durable reports one delivery of a message for op: its outcome
	// (see the Outcome constants) and its reply code.
	Durable(op, outcome, code string)
}

// What became of one delivery of a message.
const (
	OutcomeCommitted = "committed" // ran and committed; acked
	OutcomeReplayed  = "replayed"  // its key had an outcome; acked without running
	OutcomeFailed    = "failed"    // failed for good; error outcome stored, acked
	OutcomeRetried   = "retried"   // retryable failure; nak'ed with a backoff
	OutcomeGaveUp    = "gave_up"   // retryable failure on the last delivery; stored as failed, acked
)

// Service is the durable transport of one instance.
type Service struct {
	cfg      Config
	nc       *nats.Conn
	exec     *executor.Executor
	outcomes *outcomes
	log      *slog.Logger
	stream   jetstream.Stream
	cons     jetstream.Consumer
	svc      micro.Service
	stats    *stats

	running atomic.Int64
	freed   chan struct{} // signalled when a worker slot frees
	wg      sync.WaitGroup

	stopFetch context.CancelFunc
	fetchDone chan struct{}
	runCtx    context.Context // parent of every transaction
	cancelRun context.CancelFunc
	sweepDone chan struct{}
}

// Start creates or updates the stream and the shared consumer, starts the
// outcome endpoint and starts fetching. nc should be the service's own
// connection.
func Start(ctx context.Context, nc *nats.Conn, exec *executor.Executor, runner executor.Runner, cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.FetchWait <= 0 {
		cfg.FetchWait = 5 * time.Second
	}
	if cfg.Workers <= 0 || cfg.MaxDeliver <= 0 || cfg.AckWait <= 0 {
		return nil, errors.New("durable: Workers, MaxDeliver and AckWait must be positive")
	}
	reg := exec.Registry()
	if _, clash := reg.Lookup(OutcomeOperation); clash {
		return nil, fmt.Errorf("operation %q clashes with the durable outcome endpoint", OutcomeOperation)
	}
	for _, op := range reg.Operations() {
		if op.Name == "durable" || strings.HasPrefix(op.Name, "durable.") {
			return nil, fmt.Errorf("operation %q clashes with the durable subjects %s.durable.>", op.Name, cfg.Prefix)
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	s := &Service{
		cfg:       cfg,
		nc:        nc,
		exec:      exec,
		outcomes:  &outcomes{runner: runner},
		log:       cfg.Logger,
		stats:     newStats(),
		freed:     make(chan struct{}, 1),
		fetchDone: make(chan struct{}),
		sweepDone: make(chan struct{}),
	}
	if err := s.setUp(ctx, js); err != nil {
		return nil, err
	}
	if err := s.serveOutcomes(); err != nil {
		return nil, err
	}
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	var fetchCtx context.Context
	fetchCtx, s.stopFetch = context.WithCancel(context.Background())
	go s.fetchLoop(fetchCtx)
	go s.sweepLoop(fetchCtx)
	return s, nil
}

// subjects returns the stream's subjects.
func (s *Service) subjects() string { return s.cfg.Prefix + ".durable.>" }

// setUp creates or updates the stream and the consumer.
func (s *Service) setUp(ctx context.Context, js jetstream.JetStream) error {
	var err error
	s.stream, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        s.cfg.Stream,
		Description: "dbapi durable requests",
		Subjects:    []string{s.subjects()},
		Retention:   jetstream.WorkQueuePolicy,
		MaxAge:      s.cfg.MaxAge,
		Replicas:    s.cfg.Replicas,
		Storage:     s.cfg.Storage,
		Duplicates:  s.cfg.Duplicates,
	})
	if err != nil {
		return fmt.Errorf("stream %s (DBAPI_STREAM): %w", s.cfg.Stream, err)
	}
	s.cons, err = s.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       s.cfg.Consumer,
		Description:   "dbapi instances",
		FilterSubject: s.subjects(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		// Deliveries are counted and ended by us (MaxDeliver in Config),
		// so that the last one stores an outcome.
		MaxDeliver: -1,
	})
	if err != nil {
		return fmt.Errorf("consumer %s (DBAPI_DURABLE_CONSUMER) on stream %s: %w", s.cfg.Consumer, s.cfg.Stream, err)
	}
	return nil
}

// fetchLoop fetches only as many messages as there are free workers, and
// runs each in its own goroutine. Backpressure comes from the consumer:
// what is not fetched waits in the stream.
func (s *Service) fetchLoop(ctx context.Context) {
	defer close(s.fetchDone)
	wait := time.Second
	for ctx.Err() == nil {
		free := s.cfg.Workers - int(s.running.Load())
		if free <= 0 {
			select {
			case <-s.freed:
			case <-ctx.Done():
			}
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, s.cfg.FetchWait)
		msgs, err := s.cons.Fetch(free, jetstream.FetchContext(fctx))
		if err == nil {
			for msg := range msgs.Messages() {
				s.running.Add(1)
				s.wg.Add(1)
				go s.handle(msg)
			}
			err = msgs.Error()
		}
		cancel()
		if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
			errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
			wait = time.Second
			continue
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("durable fetch failed; retrying", "stream", s.cfg.Stream, "consumer", s.cfg.Consumer, "err", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// done frees a worker slot.
func (s *Service) done() {
	s.running.Add(-1)
	s.wg.Done()
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

// sweepLoop deletes outcomes older than OutcomeTTL, once a minute.
func (s *Service) sweepLoop(ctx context.Context) {
	defer close(s.sweepDone)
	if s.cfg.OutcomeTTL <= 0 {
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.outcomes.sweep(ctx, s.cfg.OutcomeTTL, 1000); err != nil && ctx.Err() == nil {
			s.log.Warn("sweeping durable outcomes failed", "err", err)
		} else if n > 0 {
			s.log.Debug("swept durable outcomes", "deleted", n)
		}
	}
}

// Running returns how many messages this instance is running.
func (s *Service) Running() int { return int(s.running.Load()) }

// Stats returns the counts of what became of the messages this instance
// handled, by outcome.
func (s *Service) Stats() StatsData { return s.stats.snapshot() }

// Stop stops fetching and lets the messages held finish, commit and be
// acked. If ctx ends first, transactions that have not committed are
// rolled back and their messages nak'ed, to be redelivered.
func (s *Service) Stop(ctx context.Context) error {
	s.stopFetch()
	<-s.fetchDone
	<-s.sweepDone
	drain.Wait(ctx, &s.wg, s.cancelRun, s.log, "grace period over; rolling back unfinished durable requests")
	s.cancelRun()
	err := s.svc.Stop()
	if ferr := drain.Flush(s.nc); err == nil {
		err = ferr
	}
	return err
}

// op returns the operation a message's subject names, or "" if none.
func (s *Service) op(subject string) string {
	op, ok := strings.CutPrefix(subject, s.cfg.Prefix+".durable.")
	if !ok {
		return ""
	}
	return op
}
