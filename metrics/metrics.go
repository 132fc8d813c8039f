package metrics

import (
	"database/sql"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors, in a registry of their own.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	txSeconds *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	queueWait *prometheus.HistogramVec
	busy      prometheus.Gauge
	durable   *prometheus.CounterVec
	groups    *prometheus.HistogramVec
	lag       *prometheus.GaugeVec
}

// New returns metrics registered with the Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dbapi_requests_total",
			Help: `Requests answered, by operation and reply code ("ok" or the error code).`,
		}, []string{"op", "code"}),
		txSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dbapi_transaction_seconds",
			Help:    "Time from the first BEGIN to the end of the last attempt, retries included, of requests that ran.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms to about 4 s
		}, []string{"op"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dbapi_transaction_retries_total",
			Help: "Transactions rolled back and run again, by cause.",
		}, []string{"cause"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dbapi_queue_wait_seconds",
			Help:    "Time requests waited in the queue for a worker, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 0.1 ms to about 26 s
		}, []string{"op"}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dbapi_workers_busy",
			Help: "Workers running a request.",
		}),
		durable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dbapi_durable_requests_total",
			Help: "Deliveries of durable requests, by operation, outcome (committed, replayed, failed, retried, gave_up) and reply code.",
		}, []string{"op", "outcome", "code"}),
		groups: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dbapi_group_size",
			Help:    "Requests per transaction of operations that coalesce (group commit), by operation.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		}, []string{"op"}),
	}
	m.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dbapi_replica_lag_seconds",
		Help: "How far each read replica is behind the primary at its last check (NaN: unknown, such as while it is down).",
	}, []string{"replica"})
	m.reg.MustRegister(m.lag)
	m.reg.MustRegister(m.requests, m.txSeconds, m.retries, m.queueWait, m.busy, m.durable, m.groups,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Request records one answered request. tx is zero when the request was
// refused before its transaction began.
func (m *Metrics) Request(op, code string, tx time.Duration) {
	m.requests.WithLabelValues(op, code).Inc()
	if tx > 0 {
		m.txSeconds.WithLabelValues(op).Observe(tx.Seconds())
	}
}

// Durable records what became of one delivery of a durable request.
func (m *Metrics) Durable(op, outcome, code string) {
	m.durable.WithLabelValues(op, outcome, code).Inc()
}

// Group records a transaction of an operation that coalesces, and how
// many requests it held.
func (m *Metrics) Group(op string, size int) { m.groups.WithLabelValues(op).Observe(float64(size)) }

// ReplicaLag records a replica's lag at its last check; a negative lag is
// unknown.
func (m *Metrics) ReplicaLag(replica string, lag time.Duration) {
	v := lag.Seconds()
	if lag < 0 {
		v = math.NaN()
	}
	m.lag.WithLabelValues(replica).Set(v)
}

// WatchReads adds dbapi_replica_reads_total{route}: read-only requests by
// where they were sent (a replica, or the primary and why), read from
// count for each of routes.
func (m *Metrics) WatchReads(routes []string, count func(route string) uint64) {
	for _, r := range routes {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "dbapi_replica_reads_total",
			Help:        "Read-only requests by where they ran: replica, or primary_no_replica, primary_behind (no replica had applied Dbapi-After in time), primary_replica_failed.",
			ConstLabels: prometheus.Labels{"route": r},
		}, func() float64 { return float64(count(r)) }))
	}
}

// Retry records a transaction that is run again.
func (m *Metrics) Retry(cause string) { m.retries.WithLabelValues(cause).Inc() }

// WatchDB adds the pool's statistics (open, in use, waits).
func (m *Metrics) WatchDB(db *sql.DB) {
	m.reg.MustRegister(collectors.NewDBStatsCollector(db, "dbapi"))
}

// WatchQueue adds gauges of the requests and bytes waiting for a worker.
func (m *Metrics) WatchQueue(queued func() (requests int, bytes int64)) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dbapi_queue_requests", Help: "Requests waiting for a worker."},
			func() float64 { n, _ := queued(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dbapi_queue_bytes", Help: "Request bytes waiting for a worker."},
			func() float64 { _, b := queued(); return float64(b) }),
	)
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
