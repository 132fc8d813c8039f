package executor

import (
	"context"
	"log/slog"

	"github.com/dbapi-dev/dbapi"
)

// LogError logs a failed request: failures of the service at error level,
// the client's own mistakes and conflicts at debug level only.
func LogError(log *slog.Logger, op string, err error) {
	LogErrorContext(context.Background(), log, op, err)
}

// LogErrorContext is LogError with the request's context, from which a
// log handler may take the request's id or trace.
func LogErrorContext(ctx context.Context, log *slog.Logger, op string, err error) {
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
