package executor

import (
	"context"

	"github.com/dbapi-dev/dbapi"
)

// recovering answers a panic in next with a 500 reply. Operation panics
// are caught inside the transaction by txrunner; this catches a bug of our
// own, so one request cannot take the process down.
func recovering(next Handler) Handler {
	return func(ctx context.Context, req Request) (r Reply) {
		defer func() {
			if p := recover(); p != nil {
				r = ErrorReply(dbapi.PanicError("in the executor", p))
			}
		}()
		return next(ctx, req)
	}
}
