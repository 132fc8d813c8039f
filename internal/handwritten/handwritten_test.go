package handwritten_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/internal/handwritten"
	"github.com/dbapi-dev/dbapi/internal/natstest"
	"github.com/nats-io/nats.go/micro"
)

// The baseline answers as the bank does, so the benchmark compares like
// with like: results, and errors with dbapi's status and code.
func TestServe(t *testing.T) {
	db, _ := dbtest.New(t, dbtest.Bank()...)
	if _, err := db.Exec("INSERT INTO accounts (id, owner, balance) VALUES (1, 'ann', 10), (2, 'bob', 0)"); err != nil {
		t.Fatal(err)
	}
	url := natstest.URL(t)
	svc, err := handwritten.Serve(natstest.Connect(t, url), db.DB, "hw", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop() })
	nc := natstest.Connect(t, url)
	tests := []struct {
		subject, body string
		status, want  string // want: the body, or the error code
	}{
		{"hw.accounts.transfer", `{"from":1,"to":2,"amount":"2.50"}`, "", `{"transfer_id":1,"from_balance":"7.5","to_balance":"2.5"}`},
		{"hw.accounts.transfer", `{"from":1,"to":2,"amount":"100"}`, "409", "insufficient_funds"},
		{"hw.accounts.transfer", `{"from":1,"to":1,"amount":"1"}`, "400", "bad_param"},
		{"hw.accounts.get", `{"id":2}`, "", `"balance":"2.50"`},
		{"hw.accounts.get", `{"id":9}`, "404", "not_found"},
	}
	for _, tt := range tests {
		msg, err := nc.Request(tt.subject, []byte(tt.body), 5*time.Second)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.subject, tt.body, err)
		}
		status := msg.Header.Get(micro.ErrorCodeHeader)
		if status != tt.status {
			t.Errorf("%s %s: status %q (%s), want %q", tt.subject, tt.body, status, msg.Data, tt.status)
			continue
		}
		if status != "" {
			var e struct{ Error struct{ Code string } }
			if err := json.Unmarshal(msg.Data, &e); err != nil || e.Error.Code != tt.want {
				t.Errorf("%s %s: %s, want code %s", tt.subject, tt.body, msg.Data, tt.want)
			}
			continue
		}
		if got := string(msg.Data); tt.subject == "hw.accounts.transfer" && got != tt.want ||
			tt.subject == "hw.accounts.get" && !strings.Contains(got, tt.want) {
			t.Errorf("%s %s: %s, want %s", tt.subject, tt.body, got, tt.want)
		}
	}
}
