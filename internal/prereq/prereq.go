package prereq

import (
	"fmt"
	"os"
	"testing"
)

// Missing fails tb under CI and skips it elsewhere, with the message.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// Require is Missing with err's text when err is not nil.
func Require(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		Missing(tb, "%v", err)
	}
}
