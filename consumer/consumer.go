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
	"github.com/dbapi-dev/dbapi/protocol"
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
	// Observer, when set, is told the outcome of every request.
	Observer Observer
	// Tracer, when set, follows every request (see package tracing).
	Tracer  Tracer
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

// Observer is told the outcome of every request, for metrics.
type Observer interface {
	// Request reports an answered request: its operation (or "batch"),
	// the reply code ("ok" or the error code), and the time its
	// transaction took (zero if it never began).
	Request(op, code string, tx time.Duration)
}

// Service serves operations over NATS. Create it with Start; stop it with
// Stop.
type Service struct {
	cfg   Config
	nc    *nats.Conn
	exec  *executor.Executor
	log   *slog.Logger
	svc   micro.Service
	reg   *dbapi.Registry
	stats map[string]*opStats

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
	trace RequestTrace
	id    string // request id, for logs
}

// Start registers every operation the executor runs as an endpoint on nc
// and starts the workers. nc should be a connection of the service's own:
// Stop waits for all of nc's subscriptions to drain.
func Start(nc *nats.Conn, exec *executor.Executor, cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := ValidPrefix(cfg.Prefix); err != nil {
		return nil, err
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
	if err := s.serve(s.reg); err != nil {
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

// serve adds the micro service and one endpoint per operation.
func (s *Service) serve(reg *dbapi.Registry) error {
	if _, clash := reg.Lookup(batch.Name); clash {
		return fmt.Errorf("operation %q clashes with the batch endpoint", batch.Name)
	}
	// Reserved by the durable transport (package durable), whether or not
	// it is on, so that turning it on never hides an operation.
	for _, op := range reg.Operations() {
		if op.Name == protocol.OutcomeOperation || op.Name == protocol.DurableToken || strings.HasPrefix(op.Name, protocol.DurableToken+".") {
			return fmt.Errorf("operation %q: the names outcome and durable.* are reserved for durable requests", op.Name)
		}
	}
	// The stats map is complete before the service exists: its STATS
	// handler reads the map from another goroutine.
	for _, op := range reg.Operations() {
		s.stats[s.cfg.Prefix+"."+op.Name] = &opStats{}
	}
	s.stats[s.cfg.Prefix+"."+batch.Name] = &opStats{}
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
		return fmt.Errorf("nats micro service: %w", err)
	}
	s.svc = svc
	group := svc.AddGroup(s.cfg.Prefix)
	pendingBytes := PendingBytes(s.cfg.QueueBytes, s.cfg.MaxPayload, len(s.stats))
	add := func(name string, meta map[string]string) error {
		st := s.stats[s.cfg.Prefix+"."+name]
		return group.AddEndpoint(strings.ReplaceAll(name, ".", "_"),
			micro.HandlerFunc(func(r micro.Request) { s.receive(r, name, st) }),
			micro.WithEndpointSubject(name), micro.WithEndpointMetadata(meta),
			micro.WithEndpointPendingLimits(PendingMsgs, pendingBytes))
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
		if err := add(op.Name, meta); err != nil {
			svc.Stop()
			return fmt.Errorf("endpoint %s: %w", op.Name, err)
		}
	}
	if err := add(batch.Name, map[string]string{
		"description":        batch.Description,
		MetadataParamsSchema: string(batch.ParamsSchema),
		MetadataResult:       string(dbapi.ResultOne),
		MetadataResultSchema: string(batch.ResultSchema),
	}); err != nil {
		svc.Stop()
		return fmt.Errorf("endpoint %s: %w", batch.Name, err)
	}
	// Once the server has seen the subscriptions, requests reach us: a
	// caller that starts us and then sends a request gets an answer, not
	// "no responders".
	if err := s.nc.Flush(); err != nil {
		svc.Stop()
		return fmt.Errorf("nats flush: %w", err)
	}
	return nil
}

// receive runs on the subscription's goroutine: it must not block. It
// checks the request and queues it, or answers at once.
func (s *Service) receive(r micro.Request, name string, st *opStats) {
	j := &job{
		req:   executor.Request{Op: name, Body: r.Data()},
		stats: st,
		reply: r.Reply(),
		trace: s.trace(name, nats.Header(r.Headers())),
		id:    newRequestID(),
	}
	err := s.exec.FromHeaders(time.Now(), &j.req, r.Headers())
	if err == nil && len(j.req.Body) > s.cfg.MaxPayload {
		err = dbapi.CodeErrorf(dbapi.ETOOLARGE, "payload_too_large", "the request body is %d bytes; the limit is %d", len(j.req.Body), s.cfg.MaxPayload)
	}
	if err != nil {
		s.reject(j, err)
		return
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.reject(j, dbapi.CodeErrorf(dbapi.EUNAVAILABLE, "stopping", "this instance is stopping; retry"))
		return
	}
	n := int64(len(j.req.Body))
	if s.queuedBytes.Add(n) > s.cfg.QueueBytes {
		s.queuedBytes.Add(-n)
		s.reject(j, errOverloaded)
		return
	}
	select {
	case s.queue <- j:
	default:
		s.queuedBytes.Add(-n)
		s.reject(j, errOverloaded)
	}
}

func (s *Service) work() {
	defer s.workers.Done()
	for j := range s.queue {
		s.queuedBytes.Add(-int64(len(j.req.Body)))
		j.trace.Dequeued()
		s.finish(j, s.exec.Execute(withRequestID(j.trace.Context(s.runCtx), j.id), j.req))
	}
}

// reject answers a request that was not run.
func (s *Service) reject(j *job, err error) {
	if err == errOverloaded {
		s.finish(j, overloadedReply)
		return
	}
	s.finish(j, executor.ErrorReply(err))
}

// finish counts the reply for STATS and the observer, and publishes it.
// Replies are published on the connection, not through micro.Request,
// because they are sent from worker goroutines.
func (s *Service) finish(j *job, r executor.Reply) {
	j.stats.record(r)
	if s.cfg.Observer != nil {
		s.cfg.Observer.Request(j.req.Op, r.Code, r.TxTime)
	}
	j.trace.End(r.Code)
	s.handled.Add(1)
	if r.Err != nil {
		executor.LogError(j.logCtx(), s.log, j.req.Op, r.Err)
	}
	if j.reply == "" {
		return
	}
	if err := s.nc.PublishMsg(&nats.Msg{Subject: j.reply, Header: r.Header, Data: r.Body}); err != nil {
		s.log.ErrorContext(j.logCtx(), "reply not sent", "op", j.req.Op, "err", err)
	}
}

// Info returns the micro service's description: its id, endpoints and
// subjects, as `nats micro info` shows them.
func (s *Service) Info() micro.Info { return s.svc.Info() }

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
	err := s.svc.Stop() // unsubscribes; messages already received are still delivered
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
