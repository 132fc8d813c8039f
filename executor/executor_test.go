package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/batch"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/schema"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type kv struct {
	K string `json:"k"`
	V int    `json:"v"`
}

// env is an executor on a database of the test's own with one table, kv,
// and a few operations on it. No NATS is involved.
type env struct {
	db   *sqlx.DB
	exec *executor.Executor
	runs atomic.Int64 // how many times kv.put's body ran
}

func newEnv(t *testing.T, cfg executor.Config) *env {
	t.Helper()
	db, _ := dbtest.New(t, schema.OwnSet())
	if _, err := db.Exec("CREATE TABLE kv (k VARCHAR(64) PRIMARY KEY, v INT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	e := &env{db: db}
	put := func(ctx context.Context, tx *sqlx.Tx, raw json.RawMessage) (any, error) {
		e.runs.Add(1)
		var p kv
		if err := dbapi.DecodeParams(raw, &p); err != nil {
			return nil, err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO kv (k, v) VALUES (?, ?)", p.K, p.V)
		return p, err
	}
	get := func(ctx context.Context, tx *sqlx.Tx, raw json.RawMessage) (any, error) {
		var p kv
		if err := dbapi.DecodeParams(raw, &p); err != nil {
			return nil, err
		}
		err := tx.GetContext(ctx, &p.V, "SELECT v FROM kv WHERE k = ?", p.K)
		return p, err
	}
	reg, err := dbapi.NewRegistry(
		dbapi.Operation{Name: "kv.put", Run: put},
		dbapi.Operation{Name: "kv.get", Run: get, ReadOnly: true},
		dbapi.Operation{Name: "kv.refuse", Run: func(context.Context, *sqlx.Tx, json.RawMessage) (any, error) {
			return nil, dbapi.CodeErrorf(dbapi.ECONFLICT, "refused", "no")
		}},
		dbapi.Operation{Name: "kv.big", ReadOnly: true, Run: func(context.Context, *sqlx.Tx, json.RawMessage) (any, error) {
			return strings.Repeat("x", 100), nil
		}},
		dbapi.Operation{Name: "kv.slow", ReadOnly: true, Timeout: 50 * time.Millisecond, Run: func(ctx context.Context, tx *sqlx.Tx, _ json.RawMessage) (any, error) {
			_, err := tx.ExecContext(ctx, "SELECT SLEEP(5)")
			return nil, err
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	e.exec = executor.New(txrunner.New(db, txrunner.Config{Logger: quiet}), reg, cfg)
	return e
}

func (e *env) do(t *testing.T, req executor.Request) executor.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return e.exec.Execute(ctx, req)
}

func (e *env) count(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.db.Get(&n, "SELECT COUNT(*) FROM kv"); err != nil {
		t.Fatal(err)
	}
	return n
}

func errorCode(t *testing.T, r executor.Reply) string {
	t.Helper()
	var eb executor.ErrorBody
	if err := json.Unmarshal(r.Body, &eb); err != nil {
		t.Fatalf("error body %q: %v", r.Body, err)
	}
	return eb.Error.Code
}

func TestExecute(t *testing.T) {
	e := newEnv(t, executor.Config{MaxReply: 64})
	tests := []struct {
		name   string
		req    executor.Request
		status int
		code   string
		body   string // for success
	}{
		{"write", executor.Request{Op: "kv.put", Body: []byte(`{"k":"a","v":1}`)}, 200, "ok", `{"k":"a","v":1}`},
		{"read", executor.Request{Op: "kv.get", Body: []byte(`{"k":"a"}`)}, 200, "ok", `{"k":"a","v":1}`},
		{"duplicate", executor.Request{Op: "kv.put", Body: []byte(`{"k":"a","v":2}`)}, 409, "duplicate", ""},
		{"bad params", executor.Request{Op: "kv.put", Body: []byte(`{"k":`)}, 400, "malformed_json", ""},
		{"unknown operation", executor.Request{Op: "kv.nope", Body: []byte(`{}`)}, 404, "unknown_operation", ""},
		{"operation error", executor.Request{Op: "kv.refuse", Body: []byte(`{}`)}, 409, "refused", ""},
		{"result over the limit", executor.Request{Op: "kv.big", Body: []byte(`{}`)}, 413, "result_too_large", ""},
		{"deadline passed while waiting", executor.Request{Op: "kv.put", Body: []byte(`{"k":"late","v":1}`), Deadline: time.Now().Add(-time.Second)}, 504, "timeout", ""},
		{"operation's own timeout", executor.Request{Op: "kv.slow", Body: []byte(`{}`)}, 504, "timeout", ""},
		{"idempotency without a store", executor.Request{Op: "kv.put", Body: []byte(`{"k":"b","v":1}`), IdempotencyKey: "k1"}, 400, "idempotency_disabled", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.req)
			if r.Status != tt.status || r.Code != tt.code {
				t.Fatalf("status %d code %s (%v); want %d %s", r.Status, r.Code, r.Err, tt.status, tt.code)
			}
			if tt.status == 200 {
				if string(r.Body) != tt.body || r.Err != nil || r.Header != nil {
					t.Errorf("body %s err %v header %v; want %s", r.Body, r.Err, r.Header, tt.body)
				}
				return
			}
			if got := errorCode(t, r); got != tt.code {
				t.Errorf("body code %s, want %s", got, tt.code)
			}
			if r.Header[executor.HeaderErrorCode][0] != (map[int]string{400: "400", 404: "404", 409: "409", 413: "413", 504: "504"})[tt.status] {
				t.Errorf("status header %v", r.Header)
			}
		})
	}
	if n := e.count(t); n != 1 {
		t.Errorf("%d rows in kv, want 1 (only the first write committed)", n)
	}
}

func TestBatchStepError(t *testing.T) {
	e := newEnv(t, executor.Config{})
	r := e.do(t, executor.Request{Op: batch.Name, Body: []byte(`{"ops":[
		{"op":"kv.put","params":{"k":"x","v":1},"as":"x"},
		{"op":"kv.get","params":{"k":"$x.k"}},
		{"op":"kv.put","params":{"k":"x","v":2}}]}`)})
	var step *batch.StepError
	if !errors.As(r.Err, &step) || step.Index != 2 || step.Op != "kv.put" {
		t.Fatalf("err %v: want a *batch.StepError for step 2 (kv.put)", r.Err)
	}
	if r.Status != 409 || r.Code != "duplicate" || !strings.Contains(string(r.Body), `"step":2`) {
		t.Errorf("reply %d %s %s; want 409 duplicate naming step 2", r.Status, r.Code, r.Body)
	}
	if n := e.count(t); n != 0 {
		t.Errorf("%d rows after a failed batch, want 0", n)
	}
	r = e.do(t, executor.Request{Op: batch.Name, Body: []byte(`{"ops":[
		{"op":"kv.put","params":{"k":"y","v":3},"as":"y"},
		{"op":"kv.get","params":{"k":"$y.k"}}]}`)})
	if r.Status != 200 || string(r.Body) != `{"results":[{"k":"y","v":3},{"k":"y","v":3}]}` {
		t.Errorf("batch reply %d %s", r.Status, r.Body)
	}
}

func TestIdempotencyReplays(t *testing.T) {
	e := newEnv(t, executor.Config{Idempotency: &idempotency.Store{}})
	req := executor.Request{Op: "kv.put", Body: []byte(`{"k":"i","v":7}`), IdempotencyKey: "key-1"}
	first := e.do(t, req)
	second := e.do(t, req)
	if first.Status != 200 || first.Replayed {
		t.Fatalf("first: %d replayed=%v %v", first.Status, first.Replayed, first.Err)
	}
	if second.Status != 200 || !second.Replayed || string(second.Body) != string(first.Body) ||
		second.Header[executor.HeaderReplayed][0] != "true" {
		t.Fatalf("second: %d replayed=%v body %s header %v", second.Status, second.Replayed, second.Body, second.Header)
	}
	if n := e.runs.Load(); n != 1 {
		t.Errorf("kv.put ran %d times, want 1", n)
	}
	other := e.do(t, executor.Request{Op: "kv.put", Body: []byte(`{"k":"i","v":8}`), IdempotencyKey: "key-1"})
	if other.Code != "idempotency_key_reused" {
		t.Errorf("same key, other body: %s", other.Code)
	}
}

// recordHook stores every reply it is given in the transaction, and
// replays when told to.
type recordHook struct {
	replay *executor.Reply
	after  []executor.Reply
}

func (h *recordHook) Before(context.Context, *sqlx.Tx) (*executor.Reply, error) { return h.replay, nil }
func (h *recordHook) After(_ context.Context, _ *sqlx.Tx, r executor.Reply) error {
	h.after = append(h.after, r)
	return nil
}

func TestHooks(t *testing.T) {
	e := newEnv(t, executor.Config{Idempotency: &idempotency.Store{}})
	// A hook's After sees the reply of a run operation.
	h := &recordHook{}
	r := e.do(t, executor.Request{Op: "kv.refuse", Body: []byte(`{}`), Hooks: []executor.TxHook{h}})
	if r.Code != "refused" || len(h.after) != 0 {
		t.Fatalf("failed request: %s, after called %d times; want refused and no After", r.Code, len(h.after))
	}
	r = e.do(t, executor.Request{Op: "kv.put", Body: []byte(`{"k":"h","v":1}`), Hooks: []executor.TxHook{h}})
	if r.Status != 200 || len(h.after) != 1 || string(h.after[0].Body) != string(r.Body) {
		t.Fatalf("reply %d %s; After got %v", r.Status, r.Body, h.after)
	}
	// A replaying hook answers without running the operation.
	runs := e.runs.Load()
	stored := executor.Reply{Status: 409, Code: "refused", Body: []byte(`{"stored":true}`), Replayed: true}
	r = e.do(t, executor.Request{Op: "kv.put", Body: []byte(`{"k":"h2","v":1}`), Hooks: []executor.TxHook{&recordHook{replay: &stored}}})
	if string(r.Body) != `{"stored":true}` || !r.Replayed || e.runs.Load() != runs {
		t.Fatalf("replayed reply %s replayed=%v; kv.put ran %d more times", r.Body, r.Replayed, e.runs.Load()-runs)
	}
	// An idempotency replay reaches the After of an earlier hook.
	key := executor.Request{Op: "kv.put", Body: []byte(`{"k":"h3","v":1}`), IdempotencyKey: "hk"}
	e.do(t, key)
	h = &recordHook{}
	key.Hooks = []executor.TxHook{h}
	r = e.do(t, key)
	if !r.Replayed || len(h.after) != 1 || !h.after[0].Replayed {
		t.Fatalf("idempotency replay: replayed=%v, After got %v", r.Replayed, h.after)
	}
}

// panicRunner is not a database: it stands for a bug of ours outside any
// transaction, which the executor must turn into a reply.
type panicRunner struct{}

func (panicRunner) Run(context.Context, txrunner.Options, txrunner.Func) error { panic("bug") }

func TestPanicBecomesInternalError(t *testing.T) {
	reg, _ := dbapi.NewRegistry(dbapi.Operation{Name: "x", Run: func(context.Context, *sqlx.Tx, json.RawMessage) (any, error) { return nil, nil }})
	h := executor.Recover(executor.New(panicRunner{}, reg, executor.Config{}).Execute)
	r := h(context.Background(), executor.Request{Op: "x", Body: []byte(`{}`)})
	if r.Status != 500 || r.Code != "internal" || strings.Contains(string(r.Body), "bug") {
		t.Fatalf("reply %d %s %s", r.Status, r.Code, r.Body)
	}
}

func TestDeadline(t *testing.T) {
	reg, _ := dbapi.NewRegistry(
		dbapi.Operation{Name: "free", Run: func(context.Context, *sqlx.Tx, json.RawMessage) (any, error) { return nil, nil }},
		dbapi.Operation{Name: "capped", Timeout: time.Second, Run: func(context.Context, *sqlx.Tx, json.RawMessage) (any, error) { return nil, nil }},
	)
	e := executor.New(panicRunner{}, reg, executor.Config{Timeout: 5 * time.Second, MaxTimeout: time.Minute})
	now := time.Unix(1000, 0)
	tests := []struct {
		header, op string
		want       time.Duration
		code       string
	}{
		{"", "free", 5 * time.Second, ""},
		{"2s", "free", 2 * time.Second, ""},
		{"2h", "free", time.Minute, ""},
		{"", "capped", time.Second, ""},
		{"", batch.Name, 5 * time.Second, ""},
		{"soon", "free", 0, "bad_timeout"},
		{"-1s", "free", 0, "bad_timeout"},
	}
	for _, tt := range tests {
		got, err := e.Deadline(now, tt.header, tt.op)
		if tt.code != "" {
			if dbapi.AsError(err).ErrorCode() != tt.code {
				t.Errorf("Deadline(%q, %s): %v, want %s", tt.header, tt.op, err, tt.code)
			}
			continue
		}
		if err != nil || got.Sub(now) != tt.want {
			t.Errorf("Deadline(%q, %s) = +%s, %v; want +%s", tt.header, tt.op, got.Sub(now), err, tt.want)
		}
	}
}
