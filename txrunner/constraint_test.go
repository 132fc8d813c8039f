package txrunner_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/go-sql-driver/mysql"
)

// Constraint reads the names the real server (MariaDB here) prints, for
// every kind of constraint, with names that need quoting too.
func TestConstraintFromServer(t *testing.T) {
	db, _ := setup(t, nil,
		"CREATE TABLE books (id BIGINT PRIMARY KEY, isbn VARCHAR(20) NOT NULL, copies INT NOT NULL CHECK (copies < 1000), "+
			"CONSTRAINT chk_books_copies CHECK (copies >= 0), UNIQUE KEY uq_books_isbn (isbn)) ENGINE=InnoDB",
		"CREATE TABLE loans (id BIGINT AUTO_INCREMENT PRIMARY KEY, book_id BIGINT NOT NULL, "+
			"CONSTRAINT fk_loans_book FOREIGN KEY (book_id) REFERENCES books (id)) ENGINE=InnoDB",
		"CREATE TABLE `odd``names` (a INT, b VARCHAR(5), CONSTRAINT `weird ``name`` here` CHECK (a > 0), "+
			"UNIQUE KEY `key with space` (b), CHECK (a < 100)) ENGINE=InnoDB",
		"INSERT INTO books VALUES (1, 'x', 0)",
		"INSERT INTO loans (book_id) VALUES (1)",
		"INSERT INTO `odd``names` VALUES (1, 'b')",
	)
	tests := []struct {
		query      string
		kind, name string
	}{
		{"INSERT INTO books VALUES (2, 'x', 1)", txrunner.ConstraintUnique, "uq_books_isbn"},
		{"INSERT INTO books VALUES (1, 'y', 1)", txrunner.ConstraintUnique, "PRIMARY"},
		// The duplicate value itself holds the marker the name follows.
		{"INSERT INTO books VALUES (3, 'z'' for key ''q', 1), (4, 'z'' for key ''q', 1)", txrunner.ConstraintUnique, "uq_books_isbn"},
		{"UPDATE books SET copies = copies - 1 WHERE id = 1", txrunner.ConstraintCheck, "chk_books_copies"},
		{"UPDATE books SET copies = 1000 WHERE id = 1", txrunner.ConstraintCheck, "copies"}, // column-level: `books.copies`
		{"INSERT INTO loans (book_id) VALUES (9)", txrunner.ConstraintForeignKey, "fk_loans_book"},
		{"DELETE FROM books WHERE id = 1", txrunner.ConstraintForeignKey, "fk_loans_book"},
		{"INSERT INTO `odd``names` VALUES (0, 'c')", txrunner.ConstraintCheck, "weird `name` here"},
		{"INSERT INTO `odd``names` VALUES (100, 'c')", txrunner.ConstraintCheck, "CONSTRAINT_1"},
		{"INSERT INTO `odd``names` VALUES (2, 'b')", txrunner.ConstraintUnique, "key with space"},
	}
	for _, tt := range tests {
		_, err := db.Exec(tt.query)
		if err == nil {
			t.Errorf("%s: no error", tt.query)
			continue
		}
		kind, name, ok := txrunner.Constraint(fmt.Errorf("wrapped: %w", err))
		if !ok || kind != tt.kind || name != tt.name {
			t.Errorf("%s: Constraint(%v) = %q %q %v, want %q %q", tt.query, err, kind, name, ok, tt.kind, tt.name)
		}
	}
	// What information_schema calls them, as dbapi check looks them up.
	for _, name := range []string{"chk_books_copies", "copies", "fk_loans_book", "uq_books_isbn", "weird `name` here", "CONSTRAINT_1"} {
		var n int
		if err := db.Get(&n, "SELECT COUNT(*) FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_NAME = ?", name); err != nil || n != 1 {
			t.Errorf("information_schema has %d constraints named %q (%v), want 1", n, name, err)
		}
	}
	for _, q := range []string{"SELECT * FROM no_such_table", "INSERT INTO books VALUES (5, NULL, 1)"} {
		_, err := db.Exec(q)
		if kind, name, ok := txrunner.Constraint(err); ok {
			t.Errorf("%s: Constraint(%v) = %q %q, want not ok", q, err, kind, name)
		}
	}
}

// MySQL 8's messages, from its documentation and error message files
// (untested on a MySQL 8 server), and malformed ones.
func TestConstraintMessages(t *testing.T) {
	tests := []struct {
		number     uint16
		msg        string
		kind, name string
		ok         bool
	}{
		{1062, "Duplicate entry '7' for key 'books.uq_books_isbn'", txrunner.ConstraintUnique, "uq_books_isbn", true},
		{1062, "Duplicate entry '7' for key 'books.PRIMARY'", txrunner.ConstraintUnique, "PRIMARY", true},
		{1062, "Duplicate entry '7' for key 'uq_books_isbn'", txrunner.ConstraintUnique, "uq_books_isbn", true},
		{3819, "Check constraint 'chk_books_copies' is violated.", txrunner.ConstraintCheck, "chk_books_copies", true},
		{1452, "Cannot add or update a child row: a foreign key constraint fails (`lib`.`loans`, CONSTRAINT `fk_loans_book` FOREIGN KEY (`book_id`) REFERENCES `books` (`id`))",
			txrunner.ConstraintForeignKey, "fk_loans_book", true},
		{1451, "Cannot delete or update a parent row: a foreign key constraint fails (`lib`.`loans`, CONSTRAINT `fk_loans_book` FOREIGN KEY (`book_id`) REFERENCES `books` (`id`))",
			txrunner.ConstraintForeignKey, "fk_loans_book", true},
		{4025, "CONSTRAINT `chk` failed for `db`.`t`", txrunner.ConstraintCheck, "chk", true},
		// No name, or not these errors at all.
		{1062, "Duplicate entry '7' for key ''", "", "", false},
		{1062, "Duplicate entry", "", "", false},
		{1452, "Cannot add or update a child row: a foreign key constraint fails", "", "", false},
		{1216, "Cannot add or update a child row: a foreign key constraint fails", "", "", false},
		{3819, "Check constraint", "", "", false},
		{4025, "CONSTRAINT `chk failed", "", "", false},
		{1213, "Deadlock found when trying to get lock", "", "", false},
	}
	for _, tt := range tests {
		kind, name, ok := txrunner.Constraint(&mysql.MySQLError{Number: tt.number, Message: tt.msg})
		if kind != tt.kind || name != tt.name || ok != tt.ok {
			t.Errorf("%d %q: got %q %q %v, want %q %q %v", tt.number, tt.msg, kind, name, ok, tt.kind, tt.name, tt.ok)
		}
	}
	if _, _, ok := txrunner.Constraint(errors.New("Duplicate entry '7' for key 'k'")); ok {
		t.Error("a plain error is read as a constraint error")
	}
}
