package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbapi-dev/dbapi"
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
)

// Config configures a Service.
type Config struct {
	Prefix     string        // subject prefix; default "dbapi"
	QueueGroup string        // queue group shared by all instances; default "dbapi"
	Workers    int           // concurrent transactions; default 16
	QueueLen   int           // requests that may wait for a worker; default 4 × Workers
	Timeout    time.Duration // deadline of a request without a Dbapi-Timeout header; default 5s
	MaxTimeout time.Duration // largest deadline a request may ask for; default 1m
	MaxPayload int           // largest request body in bytes; default 1 MiB
	Version    string        // service version shown by `nats micro info`; default "0.0.0"
	Logger     *slog.Logger  // default slog.Default()
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
		c.QueueLen = 4 * c.Workers
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
	if c.Version == "" {
		c.Version = "0.0.0"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Runner runs a function as one transaction; *txrunner.Runner is one.
type Runner interface {
	Run(ctx context.Context, opts txrunner.Options, fn txrunner.Func) error
}

// Service serves operations over NATS. Create it with Start; stop it with
// Stop.
type Service struct {
	cfg    Config
	nc     *nats.Conn
	runner Runner
	log    *slog.Logger
	svc    micro.Service
	stats  map[string]*opStats

	queue   chan *job
	mu      sync.RWMutex // guards closed against sends on queue
	closed  bool
	workers sync.WaitGroup

	// runCtx is the parent of every transaction; cancelling it (when the
	// grace period of Stop runs out) rolls back what has not committed.
	runCtx    context.Context
	cancelRun context.CancelFunc

	handled atomic.Uint64
}

type job struct {
	op       *dbapi.Operation
	stats    *opStats
	data     []byte
	reply    string
	deadline time.Time
}

// Start registers every operation in reg as an endpoint on nc and starts
// the workers. nc should be a connection of the service's own: Stop waits
// for all of nc's subscriptions to drain.
func Start(nc *nats.Conn, runner Runner, reg *dbapi.Registry, cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := validPrefix(cfg.Prefix); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:    cfg,
		nc:     nc,
		runner: runner,
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

func validPrefix(p string) error {
	for _, tok := range strings.Split(p, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return fmt.Errorf("prefix %q: want dot-separated subject tokens without wildcards", p)
		}
	}
	return nil
}

// serve adds the micro service and one endpoint per operation.
func (s *Service) serve(reg *dbapi.Registry) error {
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
	for _, op := range reg.Operations() {
		op := op
		subject := s.cfg.Prefix + "." + op.Name
		st := &opStats{}
		s.stats[subject] = st
		meta := map[string]string{"read_only": fmt.Sprint(op.ReadOnly)}
		if op.Description != "" {
			meta["description"] = op.Description
		}
		err := group.AddEndpoint(strings.ReplaceAll(op.Name, ".", "_"),
			micro.HandlerFunc(func(r micro.Request) { s.receive(r, &op, st) }),
			micro.WithEndpointSubject(op.Name), micro.WithEndpointMetadata(meta))
		if err != nil {
			svc.Stop()
			return fmt.Errorf("endpoint %s: %w", op.Name, err)
		}
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
func (s *Service) receive(r micro.Request, op *dbapi.Operation, st *opStats) {
	j := &job{op: op, stats: st, data: r.Data(), reply: r.Reply()}
	deadline, err := s.deadline(r.Headers().Get(HeaderTimeout), op.Timeout)
	if err == nil && len(j.data) > s.cfg.MaxPayload {
		err = dbapi.CodeErrorf(dbapi.ETOOLARGE, "payload_too_large", "the request body is %d bytes; the limit is %d", len(j.data), s.cfg.MaxPayload)
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
	select {
	case s.queue <- j:
	default:
		s.reject(j, dbapi.CodeErrorf(dbapi.EOVERLOADED, "overloaded", "too many requests are waiting; retry later"))
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
		s.run(j)
	}
}

// run executes one request as one transaction and replies.
func (s *Service) run(j *job) {
	if !time.Now().Before(j.deadline) {
		s.reject(j, dbapi.CodeErrorf(dbapi.ETIMEOUT, "timeout", "the deadline passed while the request waited; it was not run"))
		return
	}
	ctx, cancel := context.WithDeadline(s.runCtx, j.deadline)
	defer cancel()
	start := time.Now()
	var body []byte
	err := s.runner.Run(ctx, txrunner.Options{Isolation: j.op.Isolation, ReadOnly: j.op.ReadOnly},
		func(ctx context.Context, tx *sqlx.Tx) error {
			res, err := j.op.Run(ctx, tx, j.data)
			if err != nil {
				return err
			}
			// Encode before COMMIT, so a result that cannot be sent
			// rolls the transaction back instead of being lost.
			body, err = s.encode(res)
			return err
		})
	j.stats.record(time.Since(start), err)
	s.finish(j, body, err)
}

// encode marshals an operation's result and checks it fits in a reply.
func (s *Service) encode(res any) ([]byte, error) {
	body, err := json.Marshal(res)
	if err != nil {
		return nil, &dbapi.Error{Kind: dbapi.EINTERNAL, Message: "internal error", Err: fmt.Errorf("encode result: %w", err)}
	}
	if limit := s.nc.MaxPayload(); limit > 0 && int64(len(body)) > limit-1024 {
		return nil, dbapi.CodeErrorf(dbapi.ETOOLARGE, "result_too_large",
			"the result is %d bytes, over the %d bytes NATS can carry; ask for less (paginate)", len(body), limit)
	}
	return body, nil
}

// reject answers a request that was not run.
func (s *Service) reject(j *job, err error) {
	j.stats.record(0, err)
	s.finish(j, nil, err)
}

// finish publishes the reply. Replies are published on the connection,
// not through micro.Request, because they are sent from worker goroutines.
func (s *Service) finish(j *job, body []byte, err error) {
	s.handled.Add(1)
	if err != nil {
		s.logError(j, err)
	}
	if j.reply == "" {
		return
	}
	msg := &nats.Msg{Subject: j.reply, Data: body}
	if err != nil {
		msg.Header, msg.Data = errorReply(err)
	}
	if perr := s.nc.PublishMsg(msg); perr != nil {
		s.log.Error("reply not sent", "op", j.op.Name, "err", perr)
	}
}

func (s *Service) logError(j *job, err error) {
	e := dbapi.AsError(err)
	switch e.Kind {
	case dbapi.EINTERNAL, dbapi.ECOMMITUNKNOWN, dbapi.EUNAVAILABLE:
		s.log.Error("request failed", "op", j.op.Name, "code", e.ErrorCode(), "err", err)
	default:
		s.log.Debug("request failed", "op", j.op.Name, "code", e.ErrorCode(), "err", err)
	}
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
