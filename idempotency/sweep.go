package idempotency

import (
	"context"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
)

// Sweeper is a store whose expired rows Sweep deletes.
type Sweeper interface {
	// Sweep deletes expired rows, batch at a time, and returns how many.
	Sweep(ctx context.Context, db *sqlx.DB, batch int) (int64, error)
	// Table names the store's table in logs.
	Table() string
}

// SweepEvery sweeps each store every interval until ctx ends.
func SweepEvery(ctx context.Context, db *sqlx.DB, interval time.Duration, log *slog.Logger, stores ...Sweeper) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, s := range stores {
			n, err := s.Sweep(ctx, db, 1000)
			if err != nil && ctx.Err() == nil {
				log.Warn("sweeping expired rows failed", "table", s.Table(), "err", err)
			} else if n > 0 {
				log.Debug("expired rows swept", "table", s.Table(), "deleted", n)
			}
		}
	}
}
