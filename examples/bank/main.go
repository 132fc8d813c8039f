// Command bank is dbapi serving the bank example: accounts and transfers.
// It has the same subcommands and DBAPI_* variables as dbapi, and adds the
// bank's Go operations (accounts.open, accounts.transfer), its declared
// operations (accounts.get, accounts.list) and its migrations, all
// embedded in the binary.
//
//	go run ./examples/bank           # serve
//	go run ./examples/bank migrate
//	go run ./examples/bank check
package main

import (
	"os"

	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/dbapi-dev/dbapi/service"
)

func main() {
	os.Exit(service.Command(os.Args[1:], service.App{
		Name:       "bank",
		Operations: bank.Operations(),
		Declared:   bank.Declared(),
		Migrations: bank.Migrations(),
		// Printed at start when NATS is embedded (make run), with the URL
		// it really listens on.
		TryIt: func(url, prefix string) []string {
			return []string{
				"nats --server " + url + " request " + prefix + ".accounts.list '{}'",
				"cd examples/js && npm ci && NATS_URL=" + url + " DBAPI_PREFIX=" + prefix + " node example.mjs",
			}
		},
	}))
}
