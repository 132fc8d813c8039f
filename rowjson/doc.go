// Package rowjson encodes query results as JSON, faithfully: each value is
// encoded by its column's type (as the driver reports it), never guessed
// from its Go value, so a DECIMAL keeps its exact digits, a BIGINT beyond
// what a JavaScript number holds stays exact, and a DATETIME(3) keeps
// exactly three fractional digits.
//
// Rows returns a JSON array of objects and One a single object; in both,
// an object's keys are the column names (or aliases) in the order the query
// selects them. Two columns with the same name are an error: alias one.
//
// # Types
//
//	column type                       JSON
//	--------------------------------  ------------------------------------------------
//	NULL (any column)                 null
//	TINYINT … BIGINT, UNSIGNED too,   number when -2^53 <= v <= 2^53, else a string of
//	YEAR                              its decimal digits ("18446744073709551615")
//	BIT(n)                            the bits as an unsigned integer, same rule
//	DECIMAL(p,s)                      string with the exact digits the server sends,
//	                                  s fractional digits ("-12.50")
//	FLOAT, DOUBLE                     number (FLOAT as a 32-bit value, so 1.1 is 1.1);
//	                                  NaN, +Inf, -Inf as "NaN", "Infinity", "-Infinity"
//	DATE                              "2006-01-02"
//	DATETIME(n), TIMESTAMP(n)         RFC 3339 in UTC with exactly n fractional digits:
//	                                  "2006-01-02T15:04:05Z", "…05.120Z" for n = 3
//	TIME(n)                           "[-]HH:MM:SS[.f]" as the server writes it, with n
//	                                  fractional digits; hours may exceed 24 ("-838:59:59")
//	zero DATE/DATETIME/TIMESTAMP      null (see below)
//	CHAR, VARCHAR, TEXT types, ENUM   string (UTF-8; invalid UTF-8 is an error, never
//	                                  silently replaced)
//	SET                               array of the member strings, in the column's
//	                                  order ("a,c" is ["a","c"], "" is [])
//	JSON (MySQL), or a text column    the document itself, embedded (compacted); an
//	named in Options.JSON             invalid document is an error
//	BINARY, VARBINARY, BLOB types,    string, standard base64 with padding
//	GEOMETRY, VECTOR
//
// # Limitations
//
// MariaDB stores JSON columns as LONGTEXT and tells only clients that ask
// for extended metadata (go-sql-driver/mysql does not) that they hold JSON;
// so on MariaDB a JSON column (or an expression such as JSON_OBJECT) is a
// string unless the caller names it in Options.JSON. A JSON document that
// is the literal null is then indistinguishable from SQL NULL.
//
// With parseTime=true, as the service connects, the driver turns zero dates
// ('0000-00-00', '0000-00-00 00:00:00') into Go's zero time, which is also
// what '0001-01-01 00:00:00' becomes; rowjson encodes that time as null.
// Dates with a zero month or day ('2020-00-00') are normalized by the
// driver to a different day before rowjson sees them; keep NO_ZERO_DATE and
// NO_ZERO_IN_DATE in the sql_mode to keep such values out. With
// parseTime=false, rowjson gets the server's text and encodes it exactly
// (zero dates still as null).
//
// Values of DATETIME and TIMESTAMP columns are taken to be UTC: the service
// sets loc=UTC and the session time_zone to '+00:00'.
//
// Both the text protocol (plain and client-interpolated queries) and the
// binary protocol (server-side prepared statements) give the same JSON.
//
// # Schemas
//
// RowSchema derives from a result's columns the JSON Schema of the rows
// Rows and One write: one required property per column, following the
// table above, null only where the server reports the column nullable
// (and for every date type, for zero dates).
package rowjson
