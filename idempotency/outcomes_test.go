package idempotency_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/schema"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// An outcome key names one request (its operation and body): the same
// request finds the stored outcome; another request is a 409
// idempotency_key_reused that leaves the outcome as it is; a failure is
// stored once; outcomes expire after the TTL.
func TestOutcomes(t *testing.T) {
	db, _ := dbtest.New(t, schema.OwnSet())
	ctx := context.Background()
	o := &idempotency.Outcomes{TTL: time.Hour}
	runner := txrunner.New(db, txrunner.Config{})
	body := []byte(`{"a":1}`)
	hash := idempotency.Hash("op", body)
	claim := func(key, op string, hash []byte) (out *idempotency.Outcome, err error) {
		t.Helper()
		run(t, db, func(tx *sqlx.Tx) error {
			out, err = o.Claim(ctx, tx, key, op, hash)
			if err == nil && out == nil {
				return o.Save(ctx, tx, key, idempotency.Outcome{Status: 200, Code: "ok", Body: []byte(`{"done":"` + key + `"}`)})
			}
			return err
		})
		return out, err
	}

	if out, err := claim("k1", "op", hash); err != nil || out != nil {
		t.Fatalf("first claim: %v %v; want the key free", out, err)
	}
	out, err := claim("k1", "op", hash)
	if err != nil || out == nil || out.Status != 200 || string(out.Body) != `{"done":"k1"}` {
		t.Fatalf("the same request again: %+v %v; want the stored outcome", out, err)
	}
	for _, other := range []struct{ op string }{{"op"}, {"other.op"}} {
		h := idempotency.Hash(other.op, []byte(`{"a":2}`))
		if other.op != "op" {
			h = idempotency.Hash(other.op, body)
		}
		_, err := claim("k1", other.op, h)
		if !errors.Is(err, idempotency.ErrOutcomeKeyReused) || dbapi.AsError(err).ErrorCode() != "idempotency_key_reused" {
			t.Errorf("another request (%s) with the key: %v; want 409 idempotency_key_reused", other.op, err)
		}
	}

	// A row stored before hashes were is compared by its operation.
	if _, err := db.Exec("INSERT INTO dbapi_durable_outcomes (outcome_key, op, status, code, body, created_at) VALUES ('old', 'op', 200, 'ok', '{}', UTC_TIMESTAMP(6))"); err != nil {
		t.Fatal(err)
	}
	if out, err := claim("old", "op", hash); err != nil || out == nil {
		t.Errorf("an old row of the same operation: %v %v; want its outcome", out, err)
	}
	if _, err := claim("old", "other.op", hash); !errors.Is(err, idempotency.ErrOutcomeKeyReused) {
		t.Errorf("an old row of another operation: %v; want 409", err)
	}

	// A failure is stored once; a second one finds it; another request's
	// is refused.
	fail := idempotency.Outcome{Status: 400, Code: "bad_param", Header: map[string][]string{"Nats-Service-Error": {"x"}}, Body: []byte(`{}`)}
	if _, earlier, err := o.SaveFailure(ctx, runner, "f1", "op", hash, fail); err != nil || earlier {
		t.Fatalf("first failure: earlier=%v %v", earlier, err)
	}
	if got, earlier, err := o.SaveFailure(ctx, runner, "f1", "op", hash, idempotency.Outcome{Status: 409}); err != nil || !earlier || got.Status != 400 || got.Header["Nats-Service-Error"][0] != "x" {
		t.Fatalf("second failure: %+v earlier=%v %v; want the first", got, earlier, err)
	}
	if _, _, err := o.SaveFailure(ctx, runner, "f1", "op", idempotency.Hash("op", nil), fail); !errors.Is(err, idempotency.ErrOutcomeKeyReused) {
		t.Errorf("another request's failure under the key: %v; want 409", err)
	}
	if got, ok, err := o.Lookup(ctx, runner, "f1"); err != nil || !ok || got.Code != "bad_param" {
		t.Errorf("lookup: %+v %v %v", got, ok, err)
	}
	if _, ok, err := o.Lookup(ctx, runner, "never"); err != nil || ok {
		t.Errorf("lookup of an unknown key: %v %v", ok, err)
	}

	// A key too long for the column is stored as its hash, and found again.
	long := string(make([]byte, 300))
	if out, err := claim(long, "op", hash); err != nil || out != nil {
		t.Fatalf("long key: %v %v", out, err)
	}
	if out, err := claim(long, "op", hash); err != nil || out == nil {
		t.Fatalf("long key again: %v %v; want its outcome", out, err)
	}

	// Sweep deletes what is older than the TTL.
	if _, err := db.Exec("UPDATE dbapi_durable_outcomes SET created_at = UTC_TIMESTAMP(6) - INTERVAL 2 HOUR WHERE outcome_key IN ('k1', 'old')"); err != nil {
		t.Fatal(err)
	}
	if n, err := o.Sweep(ctx, db, 1); err != nil || n != 2 {
		t.Errorf("Sweep = %d, %v; want 2", n, err)
	}
	if n, err := (&idempotency.Outcomes{}).Sweep(ctx, db, 1); err != nil || n != 0 {
		t.Errorf("Sweep without a TTL = %d, %v; want nothing", n, err)
	}
}
