package await

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Bounds of the wait between tries: it doubles from First up to Max.
const (
	First = 250 * time.Millisecond
	Max   = 5 * time.Second
)

// Retry calls f until it succeeds, fails with an error transient says
// will not pass, or patience runs out; then it returns f's last error.
// Zero patience means one try. Each retry is logged as a warning saying
// what is waited for. ctx ends the waiting early.
func Retry(ctx context.Context, patience time.Duration, log *slog.Logger, what string,
	transient func(error) bool, f func(context.Context) error) error {
	deadline := time.Now().Add(patience)
	wait := First
	for {
		err := f(ctx)
		if err == nil || !transient(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		log.Warn(what+" unavailable; retrying", "err", err, "retry_in", wait.String(),
			"gives_up_in", time.Until(deadline).Round(time.Second).String())
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, Max)
	}
}
