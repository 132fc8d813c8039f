package service

import (
	"context"
	"fmt"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/health"
	"github.com/dbapi-dev/dbapi/txrunner"
)

// watchHealth starts checking the database every second (see package
// health): /readyz reports the result, and the transports pause while
// the database has been unhealthy for DBAPI_PAUSE_AFTER. The check runs
// on a pool of its own, so busy workers never starve it.
func (m *Main) watchHealth(ctx context.Context, reg *dbapi.Registry) error {
	cfg, err := txrunner.ParseDSN(m.Config.MySQLDSN)
	if err != nil {
		return fmt.Errorf("DBAPI_MYSQL_DSN: %w", err)
	}
	m.healthDB, err = txrunner.Open(ctx, cfg, txrunner.PoolConfig{MaxOpen: 1})
	if err != nil {
		return err
	}
	writes := false
	for _, op := range reg.Operations() {
		writes = writes || !op.ReadOnly
	}
	targets := []health.Pausable{m.Consumer}
	if m.Durable != nil {
		targets = append(targets, m.Durable)
	}
	db := &health.Database{DB: m.healthDB.DB, Writes: writes}
	m.health = health.NewMonitor(db.Check, m.Config.PauseAfter, m.Logger, targets...)
	m.health.Start()
	return nil
}

// stopHealth stops the checks, before the transports stop (a check must
// not resume a stopping transport).
func (m *Main) stopHealth() {
	if m.health != nil {
		m.health.Stop()
		m.health = nil
	}
	if m.healthDB != nil {
		m.healthDB.Close()
		m.healthDB = nil
	}
}
