package metrics

import (
	"context"
	"runtime"
	"time"

	"github.com/dbapi-dev/dbapi/consumer"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// BuildInfo adds dbapi_build_info, 1, labelled with the version and the Go
// version.
func (m *Metrics) BuildInfo(version string) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "dbapi_build_info",
		Help:        "The running build: always 1, labelled with the version and the Go version.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	}, func() float64 { return 1 }))
}

// WatchNATS adds the NATS connection's state: dbapi_nats_connected (1
// when connected, 0 while disconnected or reconnecting) and
// dbapi_nats_reconnects_total.
func (m *Metrics) WatchNATS(nc *nats.Conn) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dbapi_nats_connected",
			Help: "1 while the NATS connection is up, else 0.",
		}, func() float64 {
			if nc.IsConnected() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dbapi_nats_reconnects_total",
			Help: "Times the NATS connection was re-established.",
		}, func() float64 { return float64(nc.Stats().Reconnects) }),
	)
}

// Tracer returns a consumer.Tracer that measures each request's wait in
// the queue (dbapi_queue_wait_seconds) and counts the busy workers
// (dbapi_workers_busy).
func (m *Metrics) Tracer() consumer.Tracer { return requestTimer{m} }

type requestTimer struct{ m *Metrics }

func (t requestTimer) Request(op string, _ nats.Header) consumer.RequestTrace {
	return &timedRequest{m: t.m, op: op, arrived: time.Now()}
}

type timedRequest struct {
	m       *Metrics
	op      string
	arrived time.Time
	running bool
}

func (r *timedRequest) Context(ctx context.Context) context.Context { return ctx }

func (r *timedRequest) Dequeued() {
	r.m.queueWait.WithLabelValues(r.op).Observe(time.Since(r.arrived).Seconds())
	r.m.busy.Inc()
	r.running = true
}

func (r *timedRequest) End(string) {
	if r.running {
		r.m.busy.Dec()
		r.running = false
	}
}
