package txrunner

import (
	"errors"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Kinds of constraint a statement can break, as Constraint reports them.
const (
	ConstraintUnique     = "unique"      // a duplicate entry for a unique key (the primary key included)
	ConstraintCheck      = "check"       // a CHECK constraint
	ConstraintForeignKey = "foreign_key" // a FOREIGN KEY: a missing parent row, or a row still referenced
)

// Constraint reports which named constraint err says a statement broke:
// its kind (ConstraintUnique, ConstraintCheck or ConstraintForeignKey) and
// its name as the schema declares it (the name information_schema lists:
// TABLE_CONSTRAINTS.CONSTRAINT_NAME, STATISTICS.INDEX_NAME for a unique
// key, "PRIMARY" for a primary key). ok is false for any other error, and
// for a constraint error that names no constraint.
//
// The name is read from the server's message, whose wording is stable
// across versions (and in English whatever lc_messages says only for the
// parts read here: the quoted names):
//
//	1062 (both)     Duplicate entry '7' for key 'uq_books_isbn'        (MariaDB, MySQL < 8.0.19)
//	                Duplicate entry '7' for key 'books.uq_books_isbn'  (MySQL 8.0.19+: table.key)
//	4025 (MariaDB)  CONSTRAINT `chk_books_copies` failed for `db`.`books`
//	                (a column-level CHECK is named `books.copies` there:
//	                reported as "copies", its information_schema name)
//	3819 (MySQL)    Check constraint 'chk_books_copies' is violated.
//	1451, 1452      Cannot ... a foreign key constraint fails (`db`.`loans`,
//	                CONSTRAINT `fk_loans_book` FOREIGN KEY (`book_id`) REFERENCES ...)
//
// MariaDB 10.11 was tested against a real server; the MySQL 8 forms are
// from its documentation and error message files, untested on a MySQL 8
// server. A unique key whose name holds a '.' cannot be told apart from
// MySQL 8's table.key form: its name is read as what follows the first
// '.'.
func Constraint(err error) (kind, name string, ok bool) {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return "", "", false
	}
	msg := me.Message
	switch me.Number {
	case erDupEntry:
		const marker = " for key '"
		i := strings.LastIndex(msg, marker)
		if i < 0 || !strings.HasSuffix(msg, "'") || len(msg) < i+len(marker)+1 {
			return "", "", false
		}
		name = msg[i+len(marker) : len(msg)-1]
		if _, key, dotted := strings.Cut(name, "."); dotted {
			name = key // MySQL 8.0.19+: 'table.key'
		}
		kind = ConstraintUnique
	case erConstraintFailed:
		// CONSTRAINT `name` failed for `db`.`table`
		n, rest, found := backquoted(strings.TrimPrefix(msg, "CONSTRAINT "))
		if !found || !strings.HasPrefix(msg, "CONSTRAINT ") {
			return "", "", false
		}
		name = n
		// A column-level CHECK is printed as `table.column`; its name in
		// information_schema is the column's.
		if i := strings.LastIndex(rest, "."); i >= 0 {
			if table, _, ok := backquoted(rest[i+1:]); ok && strings.HasPrefix(name, table+".") {
				name = name[len(table)+1:]
			}
		}
		kind = ConstraintCheck
	case erCheckViolated:
		// Check constraint 'name' is violated.
		const prefix, suffix = "Check constraint '", "' is violated."
		if !strings.HasPrefix(msg, prefix) || !strings.HasSuffix(msg, suffix) || len(msg) < len(prefix)+len(suffix) {
			return "", "", false
		}
		name, kind = msg[len(prefix):len(msg)-len(suffix)], ConstraintCheck
	case erRowIsReferenced, erNoReferencedRow:
		// ... (`db`.`child`, CONSTRAINT `name` FOREIGN KEY (...
		i := strings.Index(msg, ", CONSTRAINT `")
		if i < 0 {
			return "", "", false
		}
		n, rest, found := backquoted(msg[i+len(", CONSTRAINT "):])
		if !found || !strings.HasPrefix(rest, " FOREIGN KEY") {
			return "", "", false
		}
		name, kind = n, ConstraintForeignKey
	default:
		return "", "", false
	}
	if name == "" {
		return "", "", false
	}
	return kind, name, true
}

// backquoted reads a `quoted` identifier at the start of s (a doubled
// backquote inside is one backquote) and returns it and what follows.
func backquoted(s string) (ident, rest string, ok bool) {
	if !strings.HasPrefix(s, "`") {
		return "", s, false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '`' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '`' {
			b.WriteByte('`')
			i++
			continue
		}
		return b.String(), s[i+1:], true
	}
	return "", s, false
}
