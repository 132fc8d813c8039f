package bank

import (
	"embed"
	"io/fs"
)

//go:embed migrations/*.sql operations/*.sql
var files embed.FS

// Migrations returns the bank's goose migrations: the accounts and
// transfers tables.
func Migrations() fs.FS { return sub("migrations") }

// Declared returns the bank's declared operations, the .sql files of the
// operations folder (accounts.get and accounts.list; see package catalog
// for their format).
func Declared() fs.FS { return sub("operations") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return f
}
