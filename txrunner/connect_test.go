package txrunner_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// A deadline that passes while the pool is still connecting is a timeout
// (504, nothing committed), not "unavailable": the database never said
// anything, the request ran out of time. The server here accepts the TCP
// connection and never sends MySQL's greeting.
func TestDeadlineWhileConnectingIsTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn // never answered; closed once ln is
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User = "tcp", ln.Addr().String(), "nobody"
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "mysql")
	defer db.Close()
	r := txrunner.New(db, txrunner.Config{BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = r.Run(ctx, txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error { return nil })
	var e *dbapi.Error
	if !errors.As(err, &e) || e.Kind != dbapi.ETIMEOUT {
		t.Fatalf("err = %v, want kind %s", err, dbapi.ETIMEOUT)
	}
	if !e.Retryable() {
		t.Errorf("a timeout must be retryable")
	}
}
