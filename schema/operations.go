package schema

import (
	"embed"
	"io/fs"
)

//go:embed operations/*.sql
var operations embed.FS

// Operations returns the embedded declarative operations, the .sql files
// of the operations folder (see package catalog for their format).
func Operations() fs.FS {
	sub, err := fs.Sub(operations, "operations")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return sub
}
