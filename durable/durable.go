package durable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/internal/await"
	"github.com/dbapi-dev/dbapi/internal/drain"
	"github.com/dbapi-dev/dbapi/internal/ratelog"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

// OutcomeOperation is the reserved name of the outcome lookup:
// request-reply on <prefix>.outcome.
const OutcomeOperation = protocol.OutcomeOperation

// Defaults for zero Config fields (the service's configuration has the
// same, which a test of package service holds to these).
const (
	DefaultReplicas = 1
	// DefaultMaxAge and DefaultOutcomeTTL are the service's: zero
	// MaxAge and Outcomes.TTL mean "for ever".
	DefaultMaxAge     = 7 * 24 * time.Hour
	DefaultDuplicates = 2 * time.Minute
	DefaultAckWait    = 30 * time.Second
	DefaultMaxDeliver = 20
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = time.Minute
	DefaultOutcomeTTL = 30 * 24 * time.Hour
)

// Config configures the durable transport.
type Config struct {
	Prefix     string                // subject prefix; the stream takes <Prefix>.durable.>
	Stream     string                // stream name; default StreamName(Prefix)
	Consumer   string                // durable consumer name, shared by every instance; default ConsumerName(Prefix)
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
	// Outcomes stores the outcomes (its TTL must outlive MaxAge); the
	// service sweeps it (idempotency.SweepEvery).
	Outcomes *idempotency.Outcomes
	Observer Observer // told every message's outcome; may be nil
	// Handler answers each message's request: the executor's Execute
	// inside the service's middleware (recovery, request id, tracing,
	// metrics, logs). Default: Execute with recovery only.
	Handler   executor.Handler
	Version   string        // shown by `nats micro info`
	Logger    *slog.Logger  // default slog.Default()
	FetchWait time.Duration // longest wait of one fetch; 0 means 1s
	// SetUpPatience is how long Start keeps trying to set the stream and
	// the consumer up while JetStream cannot do it yet (a cluster that has
	// just restarted has no meta leader for a while); 0 means one try.
	SetUpPatience time.Duration
}

func (c *Config) setDefaults() {
	if c.Replicas <= 0 {
		c.Replicas = DefaultReplicas
	}
	if c.Duplicates <= 0 {
		c.Duplicates = DefaultDuplicates
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
}

// StreamName is the default stream of the services with subject prefix
// prefix: the prefix in capitals, with every character a stream name
// cannot hold (".", "*", ">", white space, "/", "\\") as "_" ("dbapi" gives
// "DBAPI", "shop.orders" gives "SHOP_ORDERS"). Services with different
// prefixes so get streams of their own on a shared NATS; two prefixes
// that map to one name (a.b and a_b) are told apart at start, where a
// stream that exists with other subjects is refused.
func StreamName(prefix string) string { return strings.ToUpper(nameOf(prefix)) }

// ConsumerName is the default durable consumer of the services with
// subject prefix prefix: the prefix as in StreamName, in lower case
// ("dbapi", "shop_orders").
func ConsumerName(prefix string) string { return strings.ToLower(nameOf(prefix)) }

func nameOf(prefix string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, prefix)
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
	// OutcomeKeyReused: its key holds the outcome of another request
	// (another operation or body); answered 409 idempotency_key_reused,
	// not run, acked, the stored outcome left as it is.
	OutcomeKeyReused = "key_reused"
)

// Service is the durable transport of one instance.
type Service struct {
	cfg      Config
	nc       *nats.Conn
	exec     *executor.Executor
	outcomes *idempotency.Outcomes
	runner   executor.Runner
	log      *slog.Logger
	stream   jetstream.Stream
	cons     jetstream.Consumer
	svc      micro.Service
	stats    *stats

	running atomic.Int64
	freed   chan struct{} // signalled when a worker slot frees
	wg      sync.WaitGroup

	pauseMu  sync.Mutex
	resumed  chan struct{}   // while paused: closed by Resume
	failures *ratelog.Logger // repeated fetch failures, counted

	stopFetch context.CancelFunc
	fetchDone chan struct{}
	runCtx    context.Context // parent of every transaction
	cancelRun context.CancelFunc
}

// Start creates or updates the stream and the shared consumer, starts the
// outcome endpoint and starts fetching. nc should be the service's own
// connection.
func Start(ctx context.Context, nc *nats.Conn, exec *executor.Executor, runner executor.Runner, cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.setDefaults()
	if cfg.Stream == "" {
		cfg.Stream = StreamName(cfg.Prefix)
	}
	if cfg.Consumer == "" {
		cfg.Consumer = ConsumerName(cfg.Prefix)
	}
	if cfg.FetchWait <= 0 {
		// Short: a fetch that was waiting on a stream leader that is
		// gone is replaced within this, so fetching resumes about a
		// second after a new leader is elected.
		cfg.FetchWait = time.Second
	}
	if cfg.Workers <= 0 {
		return nil, errors.New("durable: Workers must be positive")
	}
	if cfg.Outcomes == nil {
		return nil, errors.New("durable: an outcome store is needed")
	}
	if cfg.Handler == nil {
		cfg.Handler = executor.Recover(exec.Execute)
	}
	if err := exec.CheckNames(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	s := &Service{
		cfg:       cfg,
		nc:        nc,
		exec:      exec,
		outcomes:  cfg.Outcomes,
		runner:    runner,
		log:       cfg.Logger,
		stats:     newStats(),
		freed:     make(chan struct{}, 1),
		fetchDone: make(chan struct{}),
	}
	err = await.Retry(ctx, cfg.SetUpPatience, cfg.Logger, "jetstream", transient, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, setUpTimeout)
		defer cancel()
		return s.setUp(ctx, js)
	})
	if err != nil {
		return nil, err
	}
	if err := s.serveOutcomes(); err != nil {
		return nil, err
	}
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	var fetchCtx context.Context
	fetchCtx, s.stopFetch = context.WithCancel(context.Background())
	s.failures = ratelog.New(cfg.Logger, 30*time.Second)
	go s.fetchLoop(fetchCtx)
	return s, nil
}

// subjects returns the stream's subjects.
func (s *Service) subjects() string { return s.cfg.Prefix + ".durable.>" }

// setUpTimeout bounds one try at setting the stream and consumer up: short,
// so that a try sent while a cluster had no leader yet is soon replaced
// by one the new leader answers (a 10 s bound made instances serve 11 to
// 22 s after a cluster restart whose leader came at 5 to 7 s).
const setUpTimeout = 3 * time.Second

// errSubjects refuses a stream of the configured name that takes other
// subjects than ours: another service's.
var errSubjects = errors.New("the stream exists with other subjects")

// transient reports whether a set-up error may pass by itself: JetStream
// not ready (no meta leader, no responders, a time-out) or NATS
// reconnecting, rather than a configuration JetStream refused.
func transient(err error) bool {
	if errors.Is(err, errSubjects) {
		return false
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jsClusterNoPeers, jsClusterNotAssigned, jsClusterNotLeader:
			return true // a cluster whose servers are still coming back
		case jsStreamInvalidConfig:
			return false
		}
		return apiErr.Code == 503 || apiErr.Code == 504 || apiErr.Code == 408
	}
	return true
}

// JetStream API error codes (nats-server's errors.json) that set-up
// tells apart.
const (
	jsClusterNoPeers      = 10005 // no server suitable for the stream's replicas (yet)
	jsClusterNotAssigned  = 10007
	jsClusterNotLeader    = 10009
	jsStreamInvalidConfig = 10052 // e.g. an update that changes the storage type
)

// setUp creates the stream, or updates it if it exists with our subjects,
// and creates or updates the consumer. A stream of the configured name
// with other subjects is another service's: it is refused, never
// rewritten.
func (s *Service) setUp(ctx context.Context, js jetstream.JetStream) error {
	cfg := jetstream.StreamConfig{
		Name:        s.cfg.Stream,
		Description: "dbapi durable requests",
		Subjects:    []string{s.subjects()},
		Retention:   jetstream.WorkQueuePolicy,
		MaxAge:      s.cfg.MaxAge,
		Replicas:    s.cfg.Replicas,
		Storage:     s.cfg.Storage,
		Duplicates:  s.cfg.Duplicates,
	}
	var err error
	for range 2 { // once more if another instance created it meanwhile
		s.stream, err = js.Stream(ctx, cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			s.stream, err = js.CreateStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				continue
			}
		} else if err == nil {
			if got := s.stream.CachedInfo().Config.Subjects; !slices.Equal(got, cfg.Subjects) {
				return fmt.Errorf("stream %s (DBAPI_STREAM): %w %v, not %v: it belongs to another service "+
					"(another DBAPI_PREFIX); give this one a stream of its own with DBAPI_STREAM", cfg.Name, errSubjects, got, cfg.Subjects)
			}
			s.stream, err = js.UpdateStream(ctx, cfg)
		}
		break
	}
	if err != nil {
		return fmt.Errorf("stream %s (DBAPI_STREAM): %w", cfg.Name, err)
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

// Bounds of the wait between failed fetches. A fetch fails while NATS is
// unreachable, or the stream or its consumer has no leader (a cluster
// that lost its quorum or is electing); the wait stays short so that
// fetching resumes within about a second of their coming back. A failed
// fetch costs one small request.
const (
	fetchRetryMin = 100 * time.Millisecond
	fetchRetryMax = time.Second
)

// fetchLoop fetches only as many messages as there are free workers, and
// runs each in its own goroutine. Backpressure comes from the consumer:
// what is not fetched waits in the stream. While paused it fetches
// nothing.
func (s *Service) fetchLoop(ctx context.Context) {
	defer close(s.fetchDone)
	wait := fetchRetryMin
	var failing time.Time // when fetches began to fail, if they do
	for ctx.Err() == nil {
		if resumed := s.pausedUntil(); resumed != nil {
			select {
			case <-resumed:
			case <-ctx.Done():
			}
			continue
		}
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
			if !failing.IsZero() && ctx.Err() == nil {
				s.log.Info("durable fetch works again", "stream", s.cfg.Stream, "consumer", s.cfg.Consumer,
					"failed_for", time.Since(failing).Round(time.Millisecond).String())
				failing = time.Time{}
			}
			wait = fetchRetryMin
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if failing.IsZero() {
			failing = time.Now()
			s.log.Warn("durable fetch failed; retrying every second until it works", "stream", s.cfg.Stream, "consumer", s.cfg.Consumer, "err", err)
		} else {
			s.failures.Add("durable fetch still failing", "stream", s.cfg.Stream, "consumer", s.cfg.Consumer, "err", err.Error())
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, fetchRetryMax)
	}
}

// Pause stops fetching messages (the ones running go on): while the
// database cannot serve, the messages wait in the stream for an instance
// that can. Resume starts again.
func (s *Service) Pause() error {
	s.pauseMu.Lock()
	defer s.pauseMu.Unlock()
	if s.resumed == nil {
		s.resumed = make(chan struct{})
	}
	return nil
}

// Resume starts fetching again after Pause.
func (s *Service) Resume() error {
	s.pauseMu.Lock()
	defer s.pauseMu.Unlock()
	if s.resumed != nil {
		close(s.resumed)
		s.resumed = nil
	}
	return nil
}

// pausedUntil returns a channel closed on Resume while paused, else nil.
func (s *Service) pausedUntil() chan struct{} {
	s.pauseMu.Lock()
	defer s.pauseMu.Unlock()
	return s.resumed
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

// Stream returns the name of the stream the service uses.
func (s *Service) Stream() string { return s.cfg.Stream }

// Consumer returns the name of the durable consumer the service uses.
func (s *Service) Consumer() string { return s.cfg.Consumer }

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
	s.failures.Close()
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
