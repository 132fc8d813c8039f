package tracing

import (
	"context"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Runner wraps r: each transaction gets a span, with a child span for
// each attempt (each run of the transaction's body) and one for each
// COMMIT, the time from the body's end to the end of the attempt.
func (t *Tracer) Runner(r executor.Runner) executor.Runner { return &runner{next: r, t: t} }

type runner struct {
	next executor.Runner
	t    *Tracer
}

func (r *runner) Run(ctx context.Context, opts txrunner.Options, fn txrunner.Func) error {
	attrs := []attribute.KeyValue{attribute.Bool("db.read_only", opts.ReadOnly), attribute.String("db.system.name", "mysql")}
	if op, ok := ctx.Value(opKey{}).(string); ok {
		attrs = append(attrs, AttrOperation.String(op))
	}
	ctx, span := r.t.tracer.Start(ctx, SpanTransaction, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	attempts := 0
	var commit trace.Span // the COMMIT under way, if the body succeeded
	err := r.next.Run(ctx, opts, func(actx context.Context, tx *sqlx.Tx) error {
		if commit != nil { // the last COMMIT failed and the transaction runs again
			commit.SetStatus(codes.Error, "retried")
			commit.End()
			commit = nil
		}
		attempts++
		actx, a := r.t.tracer.Start(actx, SpanAttempt, trace.WithAttributes(AttrAttempt.Int(attempts)))
		err := fn(actx, tx)
		if err != nil {
			a.SetAttributes(AttrCode.String(dbapi.AsError(err).ErrorCode()))
			a.RecordError(err)
			a.SetStatus(codes.Error, dbapi.AsError(err).ErrorCode())
		}
		a.End()
		if err == nil {
			_, commit = r.t.tracer.Start(ctx, SpanCommit)
		}
		return err
	})
	code := "ok"
	if err != nil {
		code = dbapi.AsError(err).ErrorCode()
	}
	if commit != nil {
		if err != nil {
			commit.RecordError(err)
			commit.SetStatus(codes.Error, code)
		}
		commit.End()
	}
	span.SetAttributes(AttrCode.String(code), AttrRetries.Int(max(attempts-1, 0)))
	if err != nil {
		span.SetStatus(codes.Error, code)
	}
	span.End()
	return err
}

// RunStatement traces one read-only statement run in autocommit mode (see
// executor.StatementRunner) as a transaction of one attempt, without a
// COMMIT span: there is none.
func (r *runner) RunStatement(ctx context.Context, opts txrunner.Options, fn txrunner.StatementFunc) error {
	sr, ok := r.next.(executor.StatementRunner)
	if !ok {
		return r.Run(ctx, opts, func(ctx context.Context, tx *sqlx.Tx) error { return fn(ctx, tx) })
	}
	attrs := []attribute.KeyValue{attribute.Bool("db.read_only", opts.ReadOnly), attribute.String("db.system.name", "mysql"), attribute.Bool("db.autocommit", true)}
	if op, ok := ctx.Value(opKey{}).(string); ok {
		attrs = append(attrs, AttrOperation.String(op))
	}
	ctx, span := r.t.tracer.Start(ctx, SpanTransaction, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	err := sr.RunStatement(ctx, opts, func(ctx context.Context, q sqlx.ExtContext) error {
		actx, a := r.t.tracer.Start(ctx, SpanAttempt, trace.WithAttributes(AttrAttempt.Int(1)))
		err := fn(actx, q)
		if err != nil {
			a.RecordError(err)
			a.SetStatus(codes.Error, dbapi.AsError(err).ErrorCode())
		}
		a.End()
		return err
	})
	code := "ok"
	if err != nil {
		code = dbapi.AsError(err).ErrorCode()
		span.SetStatus(codes.Error, code)
	}
	span.SetAttributes(AttrCode.String(code), AttrRetries.Int(0))
	span.End()
	return err
}
