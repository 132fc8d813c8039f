package executor

import (
	"context"
	"log/slog"

	"github.com/dbapi-dev/dbapi"
)

// LogErrors logs every failed request with the context of the request
// (its id, its trace): failures of the service at error level, the
// client's own mistakes and conflicts at debug level only. Refusals that
// can come thousands of times a second (overloaded, stopping; debug level
// too) are also handed to counted, when it is set, to be logged as one
// warning per interval with a count.
func LogErrors(log *slog.Logger, counted func(op, code string)) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, req Request) Reply {
			r := next(ctx, req)
			if r.Err == nil {
				return r
			}
			if counted != nil && (r.Code == "overloaded" || r.Code == "stopping") {
				counted(req.Op, r.Code)
			}
			LogError(ctx, log, req.Op, r.Err)
			return r
		}
	}
}

// LogError logs a failed request: failures of the service at error level,
// the client's own mistakes and conflicts at debug level only. ctx carries
// what the log handler adds to the line (a request id, a trace).
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
