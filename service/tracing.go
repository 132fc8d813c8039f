package service

import (
	"context"
	"time"

	"github.com/dbapi-dev/dbapi/tracing"
)

// tracer returns the requests' tracer: from TracerProvider, else from the
// OTEL_* variables, else none (tracing off).
func (m *Main) tracer() (*tracing.Tracer, error) {
	if m.TracerProvider == nil {
		tp, err := tracing.FromEnv(context.Background(), m.App.name(), Version())
		if err != nil || tp == nil {
			return nil, err
		}
		m.ownTracing, m.TracerProvider = tp, tp
		m.Logger.Info("tracing on (OTEL_* variables)")
	}
	return tracing.New(m.TracerProvider), nil
}

// shutdownTracing sends the spans not yet exported, if this Main set the
// tracing up.
func (m *Main) shutdownTracing() error {
	if m.ownTracing == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := m.ownTracing.Shutdown(ctx)
	m.ownTracing = nil
	return err
}
