package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/batch"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/internal/drain"
	"github.com/dbapi-dev/dbapi/internal/natsmsg"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// HeaderTimeout is the request header that sets the request's deadline.
const HeaderTimeout = executor.HeaderTimeout

// Keys of an endpoint's metadata (`nats micro info`) that describe it:
// the JSON Schema of its request body, the kind of its reply (one, many
// or exec; absent when the operation does not say), the JSON Schema of
// its reply, and the errors of the operation's own (a JSON array of
// {"code","status","retryable","message"}; absent when it lists none).
const (
	MetadataParamsSchema = "params_schema"
	MetadataResult       = "result"
	MetadataResultSchema = "result_schema"
	MetadataErrors       = "errors"
)

// Defaults for zero Config fields.
const (
	DefaultPrefix     = "dbapi"
	DefaultQueueGroup = "dbapi"
	DefaultWorkers    = 16
	DefaultMaxPayload = 1 << 20
	// A deep queue keeps clients' bursts from turning into 503s (measured:
	// 4 × workers turned a third of the requests of 512 clients away); the
	// byte cap bounds its memory whatever the payload sizes.
	DefaultQueueLen   = 1024
	DefaultQueueBytes = 64 << 20
)

// errOverloaded and its encoded reply are made once: the overload path
// must stay cheap exactly when the service is busiest.
var (
	errOverloaded   = dbapi.CodeErrorf(dbapi.EOVERLOADED, "overloaded", "too many requests are waiting; retry later")
	overloadedReply = executor.ErrorReply(errOverloaded)
)

// Config configures a Service.
type Config struct {
	Prefix     string // subject prefix; default "dbapi"
	QueueGroup string // queue group shared by all instances; default "dbapi"
	Workers    int    // concurrent transactions; default 16
	QueueLen   int    // requests that may wait for a worker; default 1024
	QueueBytes int64  // request bytes that may wait for a worker; default 64 MiB
	MaxPayload int    // largest request body in bytes; default 1 MiB
	// Handler answers each request: the executor's Execute inside the
	// service's middleware (recovery, request id, tracing, metrics,
	// logs). Default: Execute with recovery only.
	Handler executor.Handler
	Version string       // service version shown by `nats micro info`; default "0.0.0"
	Logger  *slog.Logger // default slog.Default()
}

func (c *Config) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.QueueGroup == "" {
		c.QueueGroup = DefaultQueueGroup
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.Version == "" {
		c.Version = "0.0.0"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Service serves operations over NATS. Create it with Start; stop it with
// Stop.
type Service struct {
	cfg   Config
	nc    *nats.Conn
	exec  *executor.Executor
	log   *slog.Logger
	reg   *dbapi.Registry
	stats map[string]*opStats
	// endpoints are what the micro service serves, made once.
	endpoints []endpoint

	svcMu   sync.Mutex
	svc     micro.Service // the current one; a stopped one while paused
	paused  bool
	stopped bool // Stop was called

	queue   chan *job
	mu      sync.RWMutex // guards closed against sends on queue
	closed  bool
	workers sync.WaitGroup

	// runCtx is the parent of every transaction; cancelling it (when the
	// grace period of Stop runs out) rolls back what has not committed.
	runCtx    context.Context
	cancelRun context.CancelFunc

	handled     atomic.Uint64
	queuedBytes atomic.Int64 // request bytes waiting in queue
}

// job is a request waiting for a worker.
type job struct {
	req   executor.Request
	stats *opStats
	reply string
}

// Start registers every operation the executor runs as an endpoint on nc
// and starts the workers. nc should be a connection of the service's own:
// Stop waits for all of nc's subscriptions to drain.
func Start(nc *nats.Conn, exec *executor.Executor, cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := ValidPrefix(cfg.Prefix); err != nil {
		return nil, err
	}
	if cfg.Handler == nil {
		cfg.Handler = executor.Recover(exec.Execute)
	}
	s := &Service{
		cfg:   cfg,
		nc:    nc,
		exec:  exec,
		reg:   exec.Registry(),
		log:   cfg.Logger,
		stats: make(map[string]*opStats),
		queue: make(chan *job, cfg.QueueLen),
	}
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	for range cfg.Workers {
		s.workers.Add(1)
		go s.work()
	}
	err := exec.CheckNames()
	if err == nil {
		err = s.prepare(s.reg)
	}
	if err == nil {
		s.svc, err = s.subscribe()
	}
	if err != nil {
		s.closeQueue()
		s.cancelRun()
		s.workers.Wait()
		return nil, err
	}
	return s, nil
}

// ValidPrefix checks a subject prefix: dot-separated tokens without
// wildcards or white space.
func ValidPrefix(p string) error {
	for _, tok := range strings.Split(p, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return fmt.Errorf("prefix %q: want dot-separated subject tokens without wildcards", p)
		}
	}
	return nil
}

// endpoint is one endpoint of the micro service: an operation, or batch.
type endpoint struct {
	name  string // the operation's name
	meta  map[string]string
	stats *opStats
}

// prepare checks the operations' names and makes the endpoints' metadata
// and statistics, once: subscribe uses them each time it subscribes.
func (s *Service) prepare(reg *dbapi.Registry) error {
	// The stats map is complete before the service exists: its STATS
	// handler reads the map from another goroutine.
	add := func(name string, meta map[string]string) {
		st := &opStats{}
		s.stats[s.cfg.Prefix+"."+name] = st
		s.endpoints = append(s.endpoints, endpoint{name: name, meta: meta, stats: st})
	}
	for _, op := range reg.Operations() {
		meta := map[string]string{
			"read_only":          fmt.Sprint(op.ReadOnly),
			MetadataParamsSchema: string(op.ParamsSchema()),
			MetadataResultSchema: string(op.ResultSchemaOrKind()),
		}
		if op.Description != "" {
			meta["description"] = op.Description
		}
		if op.Coalesce {
			meta["coalesce"] = "true"
		}
		if op.Result != "" {
			meta[MetadataResult] = string(op.Result)
		}
		if errs := op.ErrorsJSON(); errs != "" {
			meta[MetadataErrors] = errs
		}
		add(op.Name, meta)
	}
	add(batch.Name, map[string]string{
		"description":        batch.Description,
		MetadataParamsSchema: string(batch.ParamsSchema),
		MetadataResult:       string(dbapi.ResultOne),
		MetadataResultSchema: string(batch.ResultSchema),
	})
	return nil
}

// subscribe adds the micro service with its endpoints: from now on the
// queue group hands this instance its share of the requests.
func (s *Service) subscribe() (micro.Service, error) {
	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        "dbapi",
		Version:     s.cfg.Version,
		Description: "Each request runs as one MySQL transaction.",
		QueueGroup:  s.cfg.QueueGroup,
		StatsHandler: func(e *micro.Endpoint) any {
			if st, ok := s.stats[e.Subject]; ok {
				return st.snapshot()
			}
			return nil
		},
		ErrorHandler: func(_ micro.Service, err *micro.NATSError) {
			if err.Description == nats.ErrSlowConsumer.Error() {
				return // the connection's ErrorHandler gets them too (the service counts them)
			}
			s.log.Error("nats subscription error", "subject", err.Subject, "err", err.Description)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("nats micro service: %w", err)
	}
	group := svc.AddGroup(s.cfg.Prefix)
	pendingBytes := PendingBytes(s.cfg.QueueBytes, s.cfg.MaxPayload, len(s.endpoints))
	for _, ep := range s.endpoints {
		err := group.AddEndpoint(strings.ReplaceAll(ep.name, ".", "_"),
			micro.HandlerFunc(func(r micro.Request) { s.receive(r, ep.name, ep.stats) }),
			micro.WithEndpointSubject(ep.name), micro.WithEndpointMetadata(ep.meta),
			micro.WithEndpointPendingLimits(PendingMsgs, pendingBytes))
		if err != nil {
			svc.Stop()
			return nil, fmt.Errorf("endpoint %s: %w", ep.name, err)
		}
	}
	// Once the server has seen the subscriptions, requests reach us: a
	// caller that starts us and then sends a request gets an answer, not
	// "no responders".
	if err := s.nc.Flush(); err != nil {
		svc.Stop()
		return nil, fmt.Errorf("nats flush: %w", err)
	}
	return svc, nil
}

// Pause stops taking requests: the endpoints unsubscribe, so that the
// queue group hands every request to the other instances (or, with none,
// the requester gets "no responders" at once). Requests already received
// are still run and answered. Resume takes requests again.
func (s *Service) Pause() error {
	s.svcMu.Lock()
	defer s.svcMu.Unlock()
	if s.paused || s.stopped {
		return nil
	}
	if err := s.svc.Stop(); err != nil {
		return err // the next Pause stops the rest
	}
	s.paused = true
	return nil
}

// Resume takes requests again after Pause: the service and its endpoints
// are added anew (with a new service id).
func (s *Service) Resume() error {
	s.svcMu.Lock()
	defer s.svcMu.Unlock()
	if !s.paused || s.stopped {
		return nil
	}
	svc, err := s.subscribe()
	if err != nil {
		return err
	}
	s.svc, s.paused = svc, false
	return nil
}

// Paused reports whether the service is paused.
func (s *Service) Paused() bool {
	s.svcMu.Lock()
	defer s.svcMu.Unlock()
	return s.paused
}

// receive runs on the subscription's goroutine: it must not block. It
// turns the message into a Request and queues it, or refuses it at once.
func (s *Service) receive(r micro.Request, name string, st *opStats) {
	now := time.Now()
	j := &job{
		req:   executor.Request{Op: name, Body: r.Data(), ID: executor.NewRequestID(), Received: now},
		stats: st,
		reply: r.Reply(),
	}
	err := s.exec.FromHeaders(now, &j.req, r.Headers())
	if err == nil && len(j.req.Body) > s.cfg.MaxPayload {
		err = dbapi.CodeErrorf(dbapi.ETOOLARGE, "payload_too_large", "the request body is %d bytes; the limit is %d", len(j.req.Body), s.cfg.MaxPayload)
	}
	if err != nil {
		s.refuse(j, err)
		return
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.refuse(j, errStopping)
		return
	}
	n := int64(len(j.req.Body))
	if s.queuedBytes.Add(n) > s.cfg.QueueBytes {
		s.queuedBytes.Add(-n)
		s.refuse(j, errOverloaded)
		return
	}
	select {
	case s.queue <- j:
	default:
		s.queuedBytes.Add(-n)
		s.refuse(j, errOverloaded)
	}
}

func (s *Service) work() {
	defer s.workers.Done()
	for j := range s.queue {
		s.queuedBytes.Add(-int64(len(j.req.Body)))
		s.finish(j, s.cfg.Handler(s.runCtx, j.req))
	}
}

var errStopping = dbapi.CodeErrorf(dbapi.EUNAVAILABLE, "stopping", "this instance is stopping; retry")

// refuse answers a request that will not run, through the handler, so
// that it is traced, counted and logged like the others.
func (s *Service) refuse(j *job, err error) {
	r := &overloadedReply
	if err != errOverloaded {
		reply := executor.ErrorReply(err)
		r = &reply
	}
	j.req.Refusal = r
	s.finish(j, s.cfg.Handler(s.runCtx, j.req))
}

// finish counts the reply for STATS, and publishes it. Replies are
// published on the connection, not through micro.Request, because they
// are sent from worker goroutines.
func (s *Service) finish(j *job, r executor.Reply) {
	j.stats.record(r)
	s.handled.Add(1)
	if j.reply == "" {
		return
	}
	if err := natsmsg.Publish(s.nc, j.reply, r); err != nil {
		s.log.ErrorContext(executor.WithRequestID(context.Background(), j.req.ID), "reply not sent", "op", j.req.Op, "err", err)
	}
}

// Info returns the micro service's description: its id, endpoints and
// subjects, as `nats micro info` shows them.
func (s *Service) Info() micro.Info {
	s.svcMu.Lock()
	defer s.svcMu.Unlock()
	return s.svc.Info()
}

// Queued returns the requests, and their bytes, waiting for a worker.
func (s *Service) Queued() (requests int, bytes int64) {
	return len(s.queue), s.queuedBytes.Load()
}

// Handled returns how many requests this instance has answered (or, for
// requests without a reply subject, finished).
func (s *Service) Handled() uint64 { return s.handled.Load() }

// Stop stops taking requests and lets queued and running ones finish and
// reply. If ctx ends first, transactions that have not committed are
// rolled back (a COMMIT already sent is never cut off) and answered with a
// timeout. Stop returns once every worker has finished.
func (s *Service) Stop(ctx context.Context) error {
	s.svcMu.Lock()
	s.stopped = true    // no Resume from now on
	err := s.svc.Stop() // unsubscribes; messages already received are still delivered
	s.svcMu.Unlock()
	s.waitDrained(ctx)
	s.closeQueue()

	drain.Wait(ctx, &s.workers, s.cancelRun, s.log, "grace period over; rolling back unfinished transactions")
	s.cancelRun()
	if ferr := drain.Flush(s.nc); err == nil {
		err = ferr
	}
	return err
}

// waitDrained waits until the connection has delivered every message its
// subscriptions received, or ctx ends.
func (s *Service) waitDrained(ctx context.Context) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for s.nc.NumSubscriptions() > 0 && !s.nc.IsClosed() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) closeQueue() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
}
