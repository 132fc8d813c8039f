package metrics

import (
	"context"
	"runtime"
	"time"

	"github.com/dbapi-dev/dbapi/executor"
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
// dbapi_nats_reconnects_total, read from the connection's connected and
// reconnects (nats.Conn's IsConnected, and its Stats().Reconnects).
func (m *Metrics) WatchNATS(connected func() bool, reconnects func() uint64) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dbapi_nats_connected",
			Help: "1 while the NATS connection is up, else 0.",
		}, func() float64 {
			if connected() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dbapi_nats_reconnects_total",
			Help: "Times the NATS connection was re-established.",
		}, func() float64 { return float64(reconnects()) }),
	)
}

// Middleware counts every request, whichever transport it came by:
// dbapi_requests_total{op,code} and dbapi_transaction_seconds{op} (both
// through Request), its wait in the transport's queue
// (dbapi_queue_wait_seconds) and the requests running
// (dbapi_workers_busy). Only operations known reports true for become op
// labels (any subject under the durable prefix can be published); others
// are counted as "unknown".
func (m *Metrics) Middleware(known func(op string) bool) executor.Middleware {
	return func(next executor.Handler) executor.Handler {
		return func(ctx context.Context, req executor.Request) executor.Reply {
			op := req.Op
			if known != nil && !known(op) {
				op = "unknown"
			}
			if req.Refusal == nil {
				if !req.Received.IsZero() {
					m.queueWait.WithLabelValues(op).Observe(time.Since(req.Received).Seconds())
				}
				m.busy.Inc()
				defer m.busy.Dec()
			}
			r := next(ctx, req)
			m.Request(op, r.Code, r.TxTime)
			return r
		}
	}
}
