package executor

import (
	"context"
	"log/slog"

	"github.com/dbapi-dev/dbapi"
)

// LogError logs a failed request: failures of the service at error level,
// the client's own mistakes and conflicts at debug level only.
// ctx carries what the log handler adds to the line (a request id, a
// trace).
func LogError(ctx context.Context, log *slog.Logger, op string, err error) {
	e := dbapi.AsError(err)
	switch e.Kind {
	case dbapi.EINTERNAL, dbapi.ECOMMITUNKNOWN, dbapi.EUNAVAILABLE:
		log.ErrorContext(ctx, "request failed", "op", op, "code", e.ErrorCode(), "err", err)
	default:
		if log.Enabled(ctx, slog.LevelDebug) {
			log.DebugContext(ctx, "request failed", "op", op, "code", e.ErrorCode(), "err", err)
		}
	}
}
