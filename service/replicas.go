package service

import (
	"context"
	"fmt"

	"github.com/dbapi-dev/dbapi/replica"
	"github.com/dbapi-dev/dbapi/txrunner"
)

// openReplicas opens DBAPI_MYSQL_REPLICA_DSN's replicas, if any (see
// package replica): each gets a pool the size of the primary's, checked
// every second; a replica that cannot be reached now is no error (it gets
// no reads until it can). Their lag is a metric and their state a line of
// /readyz that never makes the instance unready.
func (m *Main) openReplicas(ctx context.Context) error {
	dsns := replica.SplitDSNs(m.Config.ReplicaDSN)
	if len(dsns) == 0 {
		return nil
	}
	cfg := replica.Config{
		DSNs:      dsns,
		MaxLag:    m.Config.ReplicaMaxLag,
		Wait:      m.Config.ReplicaWait,
		Pool:      txrunner.PoolConfig{MaxOpen: m.Config.PoolSize},
		IOTimeout: ioTimeout,
		Logger:    m.Logger,
	}
	if m.metrics != nil {
		cfg.OnCheck = func(st replica.State) { m.metrics.ReplicaLag(st.Replica, st.Lag) }
	}
	set, err := replica.Open(ctx, m.DB, cfg)
	if err != nil {
		return fmt.Errorf("DBAPI_MYSQL_REPLICA_DSN: %w", err)
	}
	m.replicas = set
	if m.metrics != nil {
		var routes []string
		byName := map[string]replica.Route{}
		for _, r := range replica.Routes() {
			routes = append(routes, r.String())
			byName[r.String()] = r
		}
		m.metrics.WatchReads(routes, func(route string) uint64 { return set.Count(byName[route]) })
	}
	names := make([]string, 0, len(dsns))
	for _, r := range set.Replicas() {
		names = append(names, r.Name())
	}
	m.Logger.Info("read replicas", "replicas", names, "max_lag", m.Config.ReplicaMaxLag.String(), "wait", m.Config.ReplicaWait.String())
	return nil
}
