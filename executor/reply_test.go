package executor

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/batch"
)

func TestErrorReply(t *testing.T) {
	two := 2
	tests := []struct {
		name   string
		err    error
		step   *batch.StepError
		status string
		want   ErrorDetail
	}{
		{"invalid", dbapi.CodeErrorf(dbapi.EINVALID, "bad_param", "parameter %q", "x"), nil, "400", ErrorDetail{Code: "bad_param", Message: `parameter "x"`}},
		{"not found", dbapi.Errorf(dbapi.ENOTFOUND, "gone"), nil, "404", ErrorDetail{Code: "not_found", Message: "gone"}},
		{"conflict", dbapi.CodeErrorf(dbapi.ECONFLICT, "insufficient_funds", "poor"), nil, "409", ErrorDetail{Code: "insufficient_funds", Message: "poor"}},
		{"too large", dbapi.CodeErrorf(dbapi.ETOOLARGE, "result_too_large", "big"), nil, "413", ErrorDetail{Code: "result_too_large", Message: "big"}},
		{"overloaded", dbapi.CodeErrorf(dbapi.EOVERLOADED, "overloaded", "busy"), nil, "503", ErrorDetail{Code: "overloaded", Message: "busy", Retryable: true}},
		{"unavailable", dbapi.Errorf(dbapi.EUNAVAILABLE, "down"), nil, "503", ErrorDetail{Code: "unavailable", Message: "down", Retryable: true}},
		{"timeout", dbapi.Errorf(dbapi.ETIMEOUT, "late"), nil, "504", ErrorDetail{Code: "timeout", Message: "late", Retryable: true}},
		{"commit unknown", &dbapi.Error{Kind: dbapi.ECOMMITUNKNOWN, Message: "lost"}, nil, "500", ErrorDetail{Code: "commit_outcome_unknown", Message: "lost"}},
		{"plain error hides its text", errors.New("Error 1064: secret SQL root:pw@tcp"), nil, "500", ErrorDetail{Code: "internal", Message: "internal error"}},
		{"deadlock is retryable", dbapi.CodeErrorf(dbapi.ECONFLICT, "deadlock", "dl"), nil, "409", ErrorDetail{Code: "deadlock", Message: "dl", Retryable: true}},
		{"lock wait is retryable", dbapi.CodeErrorf(dbapi.ECONFLICT, "lock_wait_timeout", "lw"), nil, "409", ErrorDetail{Code: "lock_wait_timeout", Message: "lw", Retryable: true}},
		{"duplicate is not", dbapi.CodeErrorf(dbapi.ECONFLICT, "duplicate", "d"), nil, "409", ErrorDetail{Code: "duplicate", Message: "d"}},
		{"idempotency race", dbapi.CodeErrorf(dbapi.EUNAVAILABLE, "idempotency_race", "r"), nil, "503", ErrorDetail{Code: "idempotency_race", Message: "r", Retryable: true}},
		{"an operation's own code takes its kind's row", dbapi.CodeErrorf(dbapi.EUNAVAILABLE, "upstream_down", "u"), nil, "503", ErrorDetail{Code: "upstream_down", Message: "u", Retryable: true}},
		{"unknown kind is internal", &dbapi.Error{Kind: "weird", Message: "w"}, nil, "500", ErrorDetail{Code: "weird", Message: "w"}},
		{"batch step", dbapi.Errorf(dbapi.ENOTFOUND, "gone"), &batch.StepError{Index: 2, Op: "a.b"}, "404", ErrorDetail{Code: "not_found", Message: "step 2 (a.b): gone", Step: &two, Op: "a.b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err
			if tt.step != nil {
				tt.step.Err = err
				de := dbapi.AsError(err)
				err = &dbapi.Error{Kind: de.Kind, Code: de.Code, Message: de.Message, Err: tt.step}
			}
			r := ErrorReply(err)
			h, body := r.Header, r.Body
			if got := h[HeaderErrorCode]; len(got) != 1 || got[0] != tt.status {
				t.Errorf("status header %v, want %s", got, tt.status)
			}
			if got := h[HeaderError]; len(got) != 1 || got[0] != tt.want.Message {
				t.Errorf("message header %v, want %q", got, tt.want.Message)
			}
			var eb ErrorBody
			if err := json.Unmarshal(body, &eb); err != nil {
				t.Fatal(err)
			}
			d := eb.Error
			if d.Code != tt.want.Code || d.Message != tt.want.Message || d.Retryable != tt.want.Retryable || d.Op != tt.want.Op ||
				(d.Step == nil) != (tt.want.Step == nil) || (d.Step != nil && *d.Step != *tt.want.Step) {
				t.Errorf("body %s, want %+v", body, tt.want)
			}
			if strings.Contains(string(body), "secret") {
				t.Errorf("body leaks the cause: %s", body)
			}
		})
	}
}
