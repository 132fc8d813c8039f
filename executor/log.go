package executor

import (
	"context"
	"log/slog"

	"github.com/dbapi-dev/dbapi"
)

// LogError logs a failed request: failures of the service at error level,
// the client's own mistakes and conflicts at debug level only.
func LogError(log *slog.Logger, op string, err error) {
	e := dbapi.AsError(err)
	switch e.Kind {
	case dbapi.EINTERNAL, dbapi.ECOMMITUNKNOWN, dbapi.EUNAVAILABLE:
		log.Error("request failed", "op", op, "code", e.ErrorCode(), "err", err)
	default:
		if log.Enabled(context.Background(), slog.LevelDebug) {
			log.Debug("request failed", "op", op, "code", e.ErrorCode(), "err", err)
		}
	}
}
