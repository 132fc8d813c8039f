// Package service is the dbapi service as a library: the configuration
// (DBAPI_* environment variables), the wiring of the packages into a
// running service (Main, with Run and Close), and the command line
// (Command: serve, migrate, check, help).
//
// cmd/dbapi is Command with an empty App: it serves only the declared
// operations and migrations the configuration names. A Go program that adds
// operations of its own passes them in an App, with the migrations and
// declared operations it embeds; examples/bank is such a program.
package service
