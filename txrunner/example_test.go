package txrunner_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// Run one transfer as a transaction. Deadlocks and lock-wait timeouts are
// retried by Run; fn only says what one attempt does, and must use only tx.
// (No Output: the example needs a MySQL server.)
func ExampleRunner_Run() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	cfg, err := txrunner.ParseDSN("app:secret@tcp(127.0.0.1:3306)/bank")
	if err != nil {
		log.Fatal(err)
	}
	db, err := txrunner.Open(ctx, cfg, txrunner.PoolConfig{MaxOpen: 16})
	if err != nil {
		log.Fatalf("database %s: %v", txrunner.Redact(cfg), err)
	}
	defer db.Close()
	r := txrunner.New(db, txrunner.Config{})

	err = r.Run(ctx, txrunner.Options{AttemptTimeout: time.Second}, func(ctx context.Context, tx *sqlx.Tx) error {
		var balance string
		if err := tx.GetContext(ctx, &balance, "SELECT balance FROM accounts WHERE id = ? FOR UPDATE", 1); err != nil {
			return err
		}
		if balance < "10.00" { // a real check compares decimals (see package bank)
			return dbapi.CodeErrorf(dbapi.ECONFLICT, "insufficient_funds", "account 1 has too little money")
		}
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance - 10 WHERE id = ?", 1); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance + 10 WHERE id = ?", 2)
		return err
	})
	switch {
	case err == nil:
		log.Print("committed")
	case errors.Is(err, dbapi.ErrCommitUnknown):
		log.Print("COMMIT was sent but its reply was lost: check before trying again")
	case errors.Is(err, dbapi.ErrConflict):
		log.Printf("not applied: %s", dbapi.AsError(err).Message)
	default:
		log.Printf("not applied: %v", err)
	}
}
