// Package catalog loads declarative operations: one operation per .sql
// file, a header of comment lines that declares its name, parameters and
// result, then the SQL to run.
//
//	-- name: accounts.list
//	-- description: List accounts by id, keyset paginated.
//	-- param: after int nullable
//	-- param: limit int default=100 min=1 max=1000
//	-- result: many
//	-- read-only: true
//	SELECT id, owner, balance, created_at FROM accounts
//	WHERE id > COALESCE(:after, 0) ORDER BY id LIMIT :limit;
//
// # Header
//
// The header is the run of lines at the top of the file that start with
// "--" (blank lines may separate them). A line "-- key: value" is a
// directive; any other comment line is free text. A key the package does
// not know is an error, so a typo never goes unnoticed. A directive found
// after the SQL began is an error too.
//
//	name         required; dot-separated words, as in dbapi.Operation
//	description  optional; repeated lines are joined with spaces
//	param        one per parameter, see below
//	result       required: one | many | exec
//	isolation    optional: read uncommitted | read committed |
//	             repeatable read | serializable (default: the server's)
//	read-only    optional: true | false (default false). A read-only
//	             operation that is one SELECT (no FOR UPDATE, LOCK IN SHARE
//	             MODE or INTO) at the default isolation runs in autocommit
//	             mode when alone in its request (dbapi.Operation.Statement):
//	             the statement is its own transaction, without the BEGIN
//	             and COMMIT round trips
//	timeout      optional Go duration ("2s"), caps the request deadline
//	max-rows     optional, result many only: overrides Config.MaxRows
//	json         optional, result one and many: comma-separated names of
//	             text columns holding JSON documents, embedded as JSON
//	not-found    optional, result one or exec: the message of the not_found
//	             error (default "no row matches the parameters"); each
//	             :name in it is replaced by the request's value of that
//	             parameter ("account :id does not exist"). For exec, the
//	             line also turns a last statement that affects no row into
//	             that 404 not_found, and the transaction rolls back. Mind
//	             that MySQL counts changed rows: an UPDATE that sets a row
//	             to the values it has affects none, unless the DSN sets
//	             clientFoundRows=true (then matched rows count)
//	coalesce     optional: true | false (default false). Requests of the
//	             operation that wait at the same time may share one
//	             transaction, one SAVEPOINT each (dbapi.Operation.Coalesce)
//	error        optional, repeatable: "<constraint> <status> <code>
//	             <message>" maps a named constraint to an error of the
//	             operation's own (see Domain errors)
//
// A line "-- rows: ..." is no header line but belongs directly above a
// statement (see Domain errors); the one of the first statement may
// follow the header.
//
// # Parameters
//
//	-- param: <name> <type> [nullable] [default=<JSON>] [min=<n>] [max=<n>]
//
//	type          request value (JSON)                 bound as
//	int           integer number, or a string of       int64 (uint64 above
//	              digits (as rowjson writes big ones)  2^63-1)
//	decimal       string "-12.50"; decimal(p,s) also   string, exact
//	              caps the digits like DECIMAL(p,s)
//	string        string; string(n): at most n chars   string
//	bool          true or false                        bool (1 or 0)
//	time          RFC 3339 string                      time.Time in UTC
//	date          "2006-01-02"                         string
//	bytes         standard base64 string; bytes(n):    []byte
//	              at most n bytes once decoded
//	json          any JSON value but null              its compact text
//
// A parameter the request leaves out takes its default; without one it is
// NULL if it is nullable, and a missing_param error otherwise. JSON null is
// NULL, allowed only for nullable parameters. min and max (int and decimal
// only) bound the value, inclusive. A request field that is not a declared
// parameter, a field given twice, or a value that does not fit its type is
// a dbapi EINVALID error that names the field and never echoes its value.
//
// The parameters are published to clients as a JSON Schema
// (Definition.ParamsSchema, the operation's Params) that accepts exactly
// the bodies DecodeParams accepts, but for what no JSON Schema can say: an
// int written 1.0 or 1e2 (integers to a schema), a name given twice, text
// that is not UTF-8 or holds a lone surrogate, an empty body (read as {}).
// Bounds of numbers written as strings, the digits of decimal(p,s), the
// 64-bit range of an int, canonical base64 and the size of bytes(n), and
// the RFC 3339 form of a time are patterns of the schema (bounds.go).
// TestParamsSchemaAcceptsWhatTheDecoderAccepts and FuzzParamsSchema hold
// the two to each other.
//
// # SQL
//
// The rest of the file is one or more statements separated by ';', run in
// order in the request's transaction. Parameters are written :name and
// always bound by the driver, never spliced into the SQL: each becomes a
// '?' with its value in the argument list. Text in quotes ('…', "…",
// `…`) and comments (-- …, # …, /* … */, including executable /*! … */
// comments) is never read for parameters or ';', and "::" is left as it
// is. Positional '?' placeholders are refused; so are statements that would
// end the transaction or change the pooled connection (BEGIN, START,
// COMMIT, ROLLBACK other than ROLLBACK TO, SET other than user @variables,
// LOCK, UNLOCK, USE, XA, DDL such as CREATE, ALTER, DROP, TRUNCATE, RENAME,
// and the like). Stored-program bodies with their own ';' (BEGIN NOT ATOMIC
// … END) are not supported: create routines in a migration and CALL them.
// Backslash escapes in strings are read as in MariaDB's default sql_mode
// (without NO_BACKSLASH_ESCAPES).
//
// Every parameter used in the SQL must be declared, and every declared
// parameter must be used.
//
// # Result
//
// The result comes from the last statement, encoded with package rowjson:
//
//	one   the single row as an object; no row is a dbapi ENOTFOUND error
//	      (404 not_found), more than one an ECONFLICT error with code
//	      multiple_rows (409): the declaration promised one row
//	many  an array of row objects; more than the max rows is an ETOOLARGE
//	      error with code result_too_large
//	exec  {"rows_affected":n,"last_insert_id":n}
//
// The result schema (Definition.ResultSchema, the operation's
// ResultSchema) comes from the database: Check runs the last statement of
// a one or many result once, with sample values, in a transaction it
// rolls back, and keeps its column types (Definition.Columns, through
// rowjson.RowSchema). Where they cannot be known (the last statement is
// no SELECT, or fails with the sample values), the schema is the kind's
// general one and says why.
//
// A statement's database error (duplicate key, foreign key, deadlock …)
// is returned as is, for txrunner to classify and retry, unless the file
// maps it.
//
// # Domain errors
//
//	-- error: chk_books_copies 409 no_copies_left no copies left of book :book
//	-- rows: 1 else 404 not_lent loan :loan is not out
//
// An "-- error:" line maps a named constraint (a CHECK, a UNIQUE or
// PRIMARY key, a FOREIGN KEY; txrunner.Constraint reads the name from the
// server's error) that any statement breaks to an error of the
// operation's own. A "-- rows:" line directly above a statement requires
// exactly n rows (">=n": at least n), returned by a SELECT (WITH, VALUES,
// TABLE) or changed by any other statement. The first broken rule ends
// the run with its error, and the transaction rolls back. The status is
// 400, 404 or 409 (dbapi EINVALID, ENOTFOUND, ECONFLICT: never
// retryable); the code lower_snake_case, and a code of protocol's table
// only with its status and never a retryable one; each :name in the
// message is the request's value of that parameter. Definition.Failures
// lists them, and the operation's Errors carries them to describe and
// the endpoint metadata. Check reports a mapped constraint that the
// database does not have.
package catalog
