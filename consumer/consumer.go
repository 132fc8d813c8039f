package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// HeaderTimeout is the request header that sets the request's deadline, as
// a Go duration ("2s", "250ms"). It bounds the whole transaction, retries
// included.
const HeaderTimeout = "Dbapi-Timeout"

// Defaults for zero Config fields.
const (
	DefaultPrefix     = "dbapi"
	DefaultQueueGroup = "dbapi"
	DefaultWorkers    = 16
	DefaultTimeout    = 5 * time.Second
	DefaultMaxTimeout = time.Minute
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
	errOverloaded                    = dbapi.CodeErrorf(dbapi.EOVERLOADED, "overloaded", "too many requests are waiting; retry later")
	overloadedHeader, overloadedBody = errorReply(errOverloaded, nil)
)

// Config configures a Service.
type Config struct {
	Prefix     string        // subject prefix; default "dbapi"
	QueueGroup string        // queue group shared by all instances; default "dbapi"
	Workers    int           // concurrent transactions; default 16
	QueueLen   int           // requests that may wait for a worker; default 1024
	QueueBytes int64         // request bytes that may wait for a worker; default 64 MiB
	Timeout    time.Duration // deadline of a request without a Dbapi-Timeout header; default 5s
	MaxTimeout time.Duration // largest deadline a request may ask for; default 1m
	MaxPayload int           // largest request body in bytes; default 1 MiB
	MaxBatch   int           // most steps in one batch; default 100
	// Idempotency stores Idempotency-Key replies; nil refuses keyed
	// requests with 400.
	Idempotency *idempotency.Store
	// Observer, when set, is told the outcome of every request.
	Observer Observer
	Version  string       // service version shown by `nats micro info`; default "0.0.0"
	Logger   *slog.Logger // default slog.Default()
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
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = DefaultMaxTimeout
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
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

// Runner runs a function as one transaction; *txrunner.Runner is one.
type Runner interface {
	Run(ctx context.Context, opts txrunner.Options, fn txrunner.Func) error
}

// StatementRunner is a Runner that also runs one read-only statement in
// autocommit mode (an Operation's Statement); *txrunner.Runner is one.
type StatementRunner interface {
	RunStatement(ctx context.Context, opts txrunner.Options, fn txrunner.StatementFunc) error
}

// Service serves operations over NATS. Create it with Start; stop it with
// Stop.
type Service struct {
	cfg    Config
	nc     *nats.Conn
	runner Runner
	log    *slog.Logger
	svc    micro.Service
	reg    *dbapi.Registry
	stats  map[string]*opStats

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

type job struct {
	name     string           // operation name, or "batch"
	op       *dbapi.Operation // nil for a batch
	stats    *opStats
	data     []byte
	reply    string
	key      string // Idempotency-Key
	deadline time.Time
}

// work is what a job runs in its transaction.
type work struct {
	opts    txrunner.Options
	timeout time.Duration
	run     func(ctx context.Context, tx *sqlx.Tx) (any, error)
	batch   *batchPlan
	// statement, when set, is run instead of run, without a transaction
	// around it (see dbapi.Operation.Statement).
	statement func(ctx context.Context, q sqlx.ExtContext) (any, error)
}

// Start registers every operation in reg as an endpoint on nc and starts
// the workers. nc should be a connection of the service's own: Stop waits
// for all of nc's subscriptions to drain.
func Start(nc *nats.Conn, runner Runner, reg *dbapi.Registry, cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := ValidPrefix(cfg.Prefix); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:    cfg,
		nc:     nc,
		runner: runner,
		reg:    reg,
		log:    cfg.Logger,
		stats:  make(map[string]*opStats),
		queue:  make(chan *job, cfg.QueueLen),
	}
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	for range cfg.Workers {
		s.workers.Add(1)
		go s.work()
	}
	if err := s.serve(reg); err != nil {
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
	if _, clash := reg.Lookup(BatchOperation); clash {
		return fmt.Errorf("operation %q clashes with the batch endpoint", BatchOperation)
	}
	// The stats map is complete before the service exists: its STATS
	// handler reads the map from another goroutine.
	for _, op := range reg.Operations() {
		s.stats[s.cfg.Prefix+"."+op.Name] = &opStats{}
	}
	s.stats[s.cfg.Prefix+"."+BatchOperation] = &opStats{}
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
			s.log.Error("nats subscription error", "subject", err.Subject, "err", err.Description)
		},
	})
	if err != nil {
		return fmt.Errorf("nats micro service: %w", err)
	}
	s.svc = svc
	group := svc.AddGroup(s.cfg.Prefix)
	add := func(name string, op *dbapi.Operation, meta map[string]string) error {
		st := s.stats[s.cfg.Prefix+"."+name]
		return group.AddEndpoint(strings.ReplaceAll(name, ".", "_"),
			micro.HandlerFunc(func(r micro.Request) { s.receive(r, name, op, st) }),
			micro.WithEndpointSubject(name), micro.WithEndpointMetadata(meta))
	}
	for _, op := range reg.Operations() {
		meta := map[string]string{"read_only": fmt.Sprint(op.ReadOnly)}
		if op.Description != "" {
			meta["description"] = op.Description
		}
		if err := add(op.Name, &op, meta); err != nil {
			svc.Stop()
			return fmt.Errorf("endpoint %s: %w", op.Name, err)
		}
	}
	if err := add(BatchOperation, nil, map[string]string{"description": "Several operations in one transaction."}); err != nil {
		svc.Stop()
		return fmt.Errorf("endpoint %s: %w", BatchOperation, err)
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
func (s *Service) receive(r micro.Request, name string, op *dbapi.Operation, st *opStats) {
	j := &job{name: name, op: op, stats: st, data: r.Data(), reply: r.Reply(), key: r.Headers().Get(idempotency.HeaderKey)}
	var opTimeout time.Duration
	if op != nil {
		opTimeout = op.Timeout
	}
	deadline, err := s.deadline(r.Headers().Get(HeaderTimeout), opTimeout)
	if err == nil && len(j.data) > s.cfg.MaxPayload {
		err = dbapi.CodeErrorf(dbapi.ETOOLARGE, "payload_too_large", "the request body is %d bytes; the limit is %d", len(j.data), s.cfg.MaxPayload)
	}
	if err == nil && j.key != "" {
		err = s.checkKey(j.key)
	}
	if err != nil {
		s.reject(j, err)
		return
	}
	j.deadline = deadline

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.reject(j, dbapi.CodeErrorf(dbapi.EUNAVAILABLE, "stopping", "this instance is stopping; retry"))
		return
	}
	n := int64(len(j.data))
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

// deadline returns the request's deadline from its header, the default
// timeout, the operation's own cap and the service's maximum.
func (s *Service) deadline(header string, opTimeout time.Duration) (time.Time, error) {
	d := s.cfg.Timeout
	if header != "" {
		var err error
		d, err = time.ParseDuration(header)
		if err != nil || d <= 0 {
			return time.Time{}, dbapi.CodeErrorf(dbapi.EINVALID, "bad_timeout",
				"header %s: want a positive Go duration such as \"2s\"", HeaderTimeout)
		}
	}
	d = min(d, s.cfg.MaxTimeout)
	if opTimeout > 0 {
		d = min(d, opTimeout)
	}
	return time.Now().Add(d), nil
}

func (s *Service) work() {
	defer s.workers.Done()
	for j := range s.queue {
		s.queuedBytes.Add(-int64(len(j.data)))
		s.run(j)
	}
}

func (s *Service) checkKey(key string) error {
	if s.cfg.Idempotency == nil {
		return dbapi.CodeErrorf(dbapi.EINVALID, "idempotency_disabled", "this service does not accept %s", idempotency.HeaderKey)
	}
	return idempotency.ValidKey(key)
}

// plan returns what the job runs: its operation, or a checked batch.
func (s *Service) plan(j *job) (*work, error) {
	if j.op != nil {
		op, data := j.op, j.data
		w := &work{
			opts: txrunner.Options{Isolation: op.Isolation, ReadOnly: op.ReadOnly},
			run:  func(ctx context.Context, tx *sqlx.Tx) (any, error) { return op.Run(ctx, tx, data) },
		}
		// A keyed request stores its reply in the transaction: it needs one.
		if _, ok := s.runner.(StatementRunner); ok && op.Statement != nil && j.key == "" {
			w.statement = func(ctx context.Context, q sqlx.ExtContext) (any, error) { return op.Statement(ctx, q, data) }
		}
		return w, nil
	}
	p, err := planBatch(s.reg, j.data, s.cfg.MaxBatch)
	if err != nil {
		return nil, err
	}
	return &work{opts: p.opts, timeout: p.timeout, run: p.run, batch: p}, nil
}

// run executes one request as one transaction and replies.
func (s *Service) run(j *job) {
	defer func() {
		// Operation panics are caught inside the transaction; this one
		// catches a bug of our own, so one request cannot take the
		// process down.
		if p := recover(); p != nil {
			s.finish(j, reply{}, &dbapi.Error{Kind: dbapi.EINTERNAL, Message: "internal error", Err: fmt.Errorf("panic: %v\n%s", p, debug.Stack())})
		}
	}()
	if !time.Now().Before(j.deadline) {
		s.reject(j, dbapi.CodeErrorf(dbapi.ETIMEOUT, "timeout", "the deadline passed while the request waited; it was not run"))
		return
	}
	w, err := s.plan(j)
	if err != nil {
		s.reject(j, err)
		return
	}
	ctx, cancel := context.WithDeadline(s.runCtx, j.deadline)
	defer cancel()
	if w.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, w.timeout)
		defer cancel()
	}
	if j.key != "" {
		// A keyed write must not run READ ONLY: it stores its reply.
		w.opts.ReadOnly = false
	}
	start := time.Now()
	var out reply
	if w.statement != nil {
		err = s.runner.(StatementRunner).RunStatement(ctx, w.opts, func(ctx context.Context, q sqlx.ExtContext) error {
			res, err := w.statement(ctx, q)
			if err == nil {
				out.body, err = s.encode(res)
			}
			return err
		})
	} else {
		err = s.runner.Run(ctx, w.opts, func(ctx context.Context, tx *sqlx.Tx) error {
			var err error
			out, err = s.attempt(ctx, tx, j, w)
			return err
		})
	}
	s.record(j, time.Since(start), err)
	if err != nil && w.batch != nil {
		out.step = w.batch.failed
	}
	s.finish(j, out, err)
}

// reply is what a job answers besides an error.
type reply struct {
	body     []byte
	replayed bool      // the body was stored under the idempotency key
	step     *StepInfo // the failed step of a batch
}

// attempt is one run of the job's transaction body.
func (s *Service) attempt(ctx context.Context, tx *sqlx.Tx, j *job, w *work) (reply, error) {
	if w.batch != nil {
		w.batch.failed = nil
	}
	if j.key != "" {
		stored, replay, err := s.cfg.Idempotency.Claim(ctx, tx, j.key, j.name, idempotency.Hash(j.name, j.data))
		if err != nil || replay {
			return reply{body: stored, replayed: replay}, err
		}
	}
	res, err := w.run(ctx, tx)
	if err != nil {
		return reply{}, err
	}
	// Encode before COMMIT, so a result that cannot be sent rolls the
	// transaction back instead of being lost.
	body, err := s.encode(res)
	if err != nil {
		return reply{}, err
	}
	if j.key != "" {
		if err := s.cfg.Idempotency.Save(ctx, tx, j.key, body); err != nil {
			return reply{}, err
		}
	}
	return reply{body: body}, nil
}

// encode marshals an operation's result and checks it fits in a reply. A
// json.RawMessage result (what rowjson produces) is sent as it is: the
// operation vouches that it is valid JSON.
func (s *Service) encode(res any) ([]byte, error) {
	body, ok := res.(json.RawMessage)
	if !ok || body == nil {
		var err error
		if body, err = json.Marshal(res); err != nil {
			return nil, &dbapi.Error{Kind: dbapi.EINTERNAL, Message: "internal error", Err: fmt.Errorf("encode result: %w", err)}
		}
	}
	if limit := s.nc.MaxPayload(); limit > 0 && int64(len(body)) > limit-1024 {
		return nil, dbapi.CodeErrorf(dbapi.ETOOLARGE, "result_too_large",
			"the result is %d bytes, over the %d bytes NATS can carry; ask for less (paginate)", len(body), limit)
	}
	return body, nil
}

// reject answers a request that was not run.
func (s *Service) reject(j *job, err error) {
	s.record(j, 0, err)
	s.finish(j, reply{}, err)
}

// record counts a request's outcome for STATS and the observer.
func (s *Service) record(j *job, d time.Duration, err error) {
	j.stats.record(d, err)
	if s.cfg.Observer != nil {
		code := "ok"
		if err != nil {
			code = dbapi.AsError(err).ErrorCode()
		}
		s.cfg.Observer.Request(j.name, code, d)
	}
}

// finish publishes the reply. Replies are published on the connection,
// not through micro.Request, because they are sent from worker goroutines.
func (s *Service) finish(j *job, out reply, err error) {
	s.handled.Add(1)
	if err != nil {
		s.logError(j, err)
	}
	if j.reply == "" {
		return
	}
	msg := &nats.Msg{Subject: j.reply, Data: out.body}
	switch {
	case err == errOverloaded:
		msg.Header, msg.Data = overloadedHeader, overloadedBody
	case err != nil:
		msg.Header, msg.Data = errorReply(err, out.step)
	case out.replayed:
		msg.Header = nats.Header{idempotency.HeaderReplayed: []string{"true"}}
	}
	if perr := s.nc.PublishMsg(msg); perr != nil {
		s.log.Error("reply not sent", "op", j.name, "err", perr)
	}
}

func (s *Service) logError(j *job, err error) {
	e := dbapi.AsError(err)
	switch e.Kind {
	case dbapi.EINTERNAL, dbapi.ECOMMITUNKNOWN, dbapi.EUNAVAILABLE:
		s.log.Error("request failed", "op", j.name, "code", e.ErrorCode(), "err", err)
	default:
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("request failed", "op", j.name, "code", e.ErrorCode(), "err", err)
		}
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

	done := make(chan struct{})
	go func() { s.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("grace period over; rolling back unfinished transactions")
		s.cancelRun()
		<-done
	}
	s.cancelRun()
	if ferr := s.nc.Flush(); ferr != nil && err == nil && !errors.Is(ferr, nats.ErrConnectionClosed) {
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
