package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dbapi-dev/dbapi/metrics"
	"github.com/dbapi-dev/dbapi/opshttp"
)

// listenHTTP binds DBAPI_HTTP_ADDR (and DBAPI_METRICS_ADDR when it is set
// apart) before anything else starts, so an address in use stops the
// service at once, and starts serving: /healthz answers from now on,
// /readyz once the service is serving. Metrics are on when either address
// is set.
func (m *Main) listenHTTP() error {
	if m.Config.HTTPAddr == "" && m.Config.MetricsAddr == "" {
		return nil
	}
	m.metrics = metrics.New()
	if m.Config.HTTPAddr != "" {
		s, err := opshttp.Listen(m.Config.HTTPAddr)
		if err != nil {
			return fmt.Errorf("DBAPI_HTTP_ADDR: %w", err)
		}
		m.HTTP = s
		s.Handle("/metrics", m.metrics.Handler())
		s.Start()
		m.MetricsURL = s.URL("/metrics")
		m.Logger.Info("http", "healthz", s.URL("/healthz"), "readyz", s.URL("/readyz"), "metrics", m.MetricsURL)
	}
	if a := m.Config.MetricsAddr; a != "" && a != m.Config.HTTPAddr {
		s, err := opshttp.Listen(a)
		if err != nil {
			m.shutdownHTTP()
			return fmt.Errorf("DBAPI_METRICS_ADDR: %w", err)
		}
		m.metricsServer = s
		s.Handle("/metrics", m.metrics.Handler())
		s.Start()
		if m.HTTP == nil {
			m.MetricsURL = s.URL("/metrics")
		}
		m.Logger.Info("metrics", "url", s.URL("/metrics"))
	}
	return nil
}

// addReadyChecks makes /readyz report the service ready while it is
// subscribed (its NATS connection is up) and the database could serve at
// its last health check (see package health), saying why not and whether
// the instance stopped taking requests.
func (m *Main) addReadyChecks() {
	for _, s := range []*opshttp.Server{m.HTTP, m.metricsServer} {
		if s == nil {
			continue
		}
		s.AddCheck("nats", func(context.Context) error {
			if !m.NATS.IsConnected() {
				return fmt.Errorf("not connected (%s)", m.NATS.Status())
			}
			return nil
		})
		s.AddCheck("database", m.health.Ready)
		if m.replicas != nil {
			s.AddDetail(m.replicas.Summary)
		}
	}
}

// stoppingHTTP makes /readyz fail: a stop has begun.
func (m *Main) stoppingHTTP() {
	for _, s := range []*opshttp.Server{m.HTTP, m.metricsServer} {
		if s != nil {
			s.Stopping()
		}
	}
}

// shutdownHTTP stops the HTTP servers, last, so that /healthz answers
// during the whole stop.
func (m *Main) shutdownHTTP() error {
	var errs []error
	for _, s := range []*opshttp.Server{m.HTTP, m.metricsServer} {
		if s != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			errs = append(errs, s.Shutdown(ctx))
			cancel()
		}
	}
	m.HTTP, m.metricsServer = nil, nil
	return errors.Join(errs...)
}
