package schema

import (
	"embed"
	"io/fs"
)

//go:embed operations/*.sql
var operations embed.FS

// Operations returns the embedded declarative operations, the .sql files
// of the operations folder (see package catalog for their format).
func Operations() fs.FS { return folder(operations, "operations") }
