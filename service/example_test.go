package service_test

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log"
	"os"
	"os/signal"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/service"
	"github.com/jmoiron/sqlx"
)

// A program's own migrations and declared operations, embedded; in a real
// program with a "//go:embed migrations operations" line above it.
var files embed.FS

// A Go program that adds an operation of its own to dbapi: it gets the
// same subcommands and DBAPI_* variables as dbapi.
func ExampleCommand() {
	ping := dbapi.Operation{
		Name:     "app.ping",
		ReadOnly: true,
		Run: func(ctx context.Context, tx *sqlx.Tx, _ json.RawMessage) (any, error) {
			var now string
			err := tx.GetContext(ctx, &now, "SELECT CAST(NOW(6) AS CHAR)")
			return map[string]string{"now": now}, err
		},
	}
	migrations, _ := fs.Sub(files, "migrations")
	operations, _ := fs.Sub(files, "operations")
	os.Exit(service.Command(os.Args[1:], service.App{
		Name:       "app",
		Operations: []dbapi.Operation{ping},
		Migrations: migrations,
		Declared:   operations,
	}))
}

// Running the service inside a program that does other things too.
func ExampleMain() {
	cfg, err := service.LoadConfig()
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	m := service.NewMain(cfg, service.App{})
	if err := m.Run(ctx); err != nil { // returns once serving
		m.Close()
		log.Fatal(err)
	}
	<-ctx.Done()
	if err := m.Close(); err != nil { // graceful: in-flight requests finish
		log.Print(err)
	}
}
