package main

import (
	"database/sql"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/dbapi-dev/dbapi/internal/handwritten"
	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
)

// The hand-written service (package internal/handwritten): what a user
// would write instead of dbapi. It is the "handwritten" mode, run as a
// process of its own (this binary with -serve-handwritten), so that its
// CPU time and RSS are measured as the dbapi process's are.

const modeHandwritten = "handwritten"

// hwConfig is what the hand-written service needs.
type hwConfig struct {
	NATSURL string
	DSN     string
	Prefix  string
	Pool    int
}

// hwArgs returns the command line that runs the hand-written service.
func hwArgs(c hwConfig) []string {
	return []string{"-serve-handwritten", "-nats", c.NATSURL, "-mysql", c.DSN, "-prefix", c.Prefix, "-pool", strconv.Itoa(c.Pool)}
}

// serveHandwritten runs the hand-written service until SIGTERM or SIGINT.
func serveHandwritten(c hwConfig) error {
	cfg, err := mysql.ParseDSN(c.DSN)
	if err != nil {
		return err
	}
	// The settings any careful author picks (and dbapi picks by default).
	cfg.ParseTime, cfg.InterpolateParams, cfg.Loc = true, true, time.UTC
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxOpenConns(c.Pool)
	db.SetMaxIdleConns(c.Pool)
	db.SetConnMaxLifetime(5 * time.Minute)

	nc, err := nats.Connect(c.NATSURL, nats.Name("dbapi-bench-handwritten"))
	if err != nil {
		return err
	}
	defer nc.Close()
	svc, err := handwritten.Serve(nc, db, c.Prefix, c.Prefix)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	return svc.Stop()
}
