package service

import (
	"testing"
)

// When the server drops every pooled connection (a restart, a failover, a
// wait_timeout), the next requests succeed: a broken connection found when
// a transaction begins is replaced and the transaction runs, since nothing
// of it had reached the server.
func TestDroppedConnectionsAreReplaced(t *testing.T) {
	e := newEnv(t)
	e.start(e.config())
	ids := e.openAccounts(2, "100.00")
	transfer := func() reply {
		return e.call("accounts.transfer", map[string]any{"from": ids[0], "to": ids[1], "amount": "1.00"})
	}
	// Fill the pool with idle connections.
	for range 20 {
		if r := transfer(); r.status != 0 || r.err != nil {
			t.Fatalf("before: %v", r)
		}
	}
	admin := e.sqlx()
	var conns []int64
	if err := admin.Select(&conns, "SELECT id FROM information_schema.PROCESSLIST WHERE db = ? AND id <> CONNECTION_ID()", e.db.DBName); err != nil {
		t.Fatal(err)
	}
	if len(conns) == 0 {
		t.Fatal("the service holds no connections to kill")
	}
	for _, id := range conns {
		if _, err := admin.Exec("KILL ?", id); err != nil {
			t.Logf("KILL %d: %v", id, err)
		}
	}
	for i := range 40 {
		if r := transfer(); r.status != 0 || r.err != nil {
			t.Fatalf("request %d after %d connections were killed: %v", i, len(conns), r)
		}
	}
	var n int
	if err := admin.Get(&n, "SELECT COUNT(*) FROM transfers"); err != nil || n != 60 {
		t.Errorf("%d transfers committed (err %v); want 60", n, err)
	}
}
