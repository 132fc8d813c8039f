package executor

import (
	"context"

	"github.com/dbapi-dev/dbapi"
)

// Recover answers a panic in next with a 500 reply, so one request cannot
// take the process down. Operation panics are already caught inside the
// transaction by txrunner (and, in a group, by group commit); this
// catches a bug of our own, in the executor or a middleware inside it.
func Recover(next Handler) Handler {
	return func(ctx context.Context, req Request) (r Reply) {
		defer func() {
			if p := recover(); p != nil {
				r = ErrorReply(dbapi.PanicError("in the request path", p))
			}
		}()
		return next(ctx, req)
	}
}
