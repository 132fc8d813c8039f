package txrunner

import (
	"errors"

	"github.com/go-sql-driver/mysql"
)

// Server errors that refuse a login.
const (
	erDBAccessDenied         = 1044 // Access denied for user 'u'@'h' to database 'd'
	erAccessDenied           = 1045 // Access denied for user 'u'@'h' (using password: YES)
	erAccessDeniedNoPassword = 1698 // Access denied for user 'u'@'h' (an account that takes no password, such as unix_socket)
)

// LoginRefused reports whether err is the server refusing a login, and
// returns the server's message, which names the user and the host the
// server saw ("Access denied for user 'app'@'10.0.0.7' (using password:
// YES)"); it never holds the password.
func LoginRefused(err error) (string, bool) {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return "", false
	}
	switch me.Number {
	case erDBAccessDenied, erAccessDenied, erAccessDeniedNoPassword:
		return me.Message, true
	}
	return "", false
}

// LoginError is Open's error when the server refused the login: wrong
// user or password, or no access to the database.
type LoginError struct {
	Addr    string // the server's address
	Message string // the server's message, naming the user and host it saw
	Err     error
}

func (e *LoginError) Error() string {
	return "connect to MySQL at " + e.Addr + ": the server refused the login: " + e.Message
}

// Unwrap returns the driver's error.
func (e *LoginError) Unwrap() error { return e.Err }
