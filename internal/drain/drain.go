package drain

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go"
)

// Wait waits for wg. If ctx ends first, it logs msg as a warning, calls
// cancel (which rolls back the transactions that have not committed; a
// COMMIT under way is never cut off) and still waits for wg.
func Wait(ctx context.Context, wg *sync.WaitGroup, cancel context.CancelFunc, log *slog.Logger, msg string) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		log.Warn(msg)
		cancel()
		<-done
	}
}

// Flush sends what nc has buffered (the last replies and acks) and waits
// for the server to have it. A closed connection is no error: there is
// nothing left to send on it.
func Flush(nc *nats.Conn) error {
	if err := nc.Flush(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return err
	}
	return nil
}
