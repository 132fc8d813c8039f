// Command dbapi serves database operations over NATS request-reply: each
// request runs as one MySQL transaction that commits before the reply.
//
//	dbapi [serve]   run the service (the default)
//	dbapi migrate   apply the migrations and exit
//	dbapi check     check the declared operations against the database
//
// It serves the declared operations in DBAPI_OPERATIONS_DIR and applies the
// goose migrations in DBAPI_MIGRATIONS_DIR; configuration comes from DBAPI_*
// environment variables (see README.md). A Go program that adds operations
// of its own is built the same way: see examples/bank.
package main

import (
	"os"

	"github.com/dbapi-dev/dbapi/service"
)

func main() {
	os.Exit(service.Command(os.Args[1:], service.App{Name: "dbapi"}))
}
