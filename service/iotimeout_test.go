package service

import (
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/txrunner"
)

// The serving pool bounds every read and write (a COMMIT the server never
// answers would hold its request for ever), longer than any request may
// run, unless the DSN chose its own bounds; the DSN as given is left as it
// was, for the migrations.
func TestWithIOTimeouts(t *testing.T) {
	if ioTimeout <= executor.DefaultMaxTimeout {
		t.Fatalf("ioTimeout %s would cut off a request that runs up to its longest deadline, %s", ioTimeout, executor.DefaultMaxTimeout)
	}
	for _, tt := range []struct {
		dsn         string
		read, write time.Duration
	}{
		{"u:p@tcp(db:3306)/app", ioTimeout, ioTimeout},
		{"u:p@tcp(db:3306)/app?readTimeout=5s", 5 * time.Second, ioTimeout},
		{"u:p@tcp(db:3306)/app?writeTimeout=7s", ioTimeout, 7 * time.Second},
		{"u:p@tcp(db:3306)/app?readTimeout=2m&writeTimeout=3m", 2 * time.Minute, 3 * time.Minute},
	} {
		cfg, err := txrunner.ParseDSN(tt.dsn)
		if err != nil {
			t.Fatal(err)
		}
		read, write := cfg.ReadTimeout, cfg.WriteTimeout
		got := withIOTimeouts(cfg)
		if got.ReadTimeout != tt.read || got.WriteTimeout != tt.write {
			t.Errorf("%s: readTimeout %s, writeTimeout %s; want %s, %s", tt.dsn, got.ReadTimeout, got.WriteTimeout, tt.read, tt.write)
		}
		if cfg.ReadTimeout != read || cfg.WriteTimeout != write {
			t.Errorf("%s: withIOTimeouts changed the DSN's own settings", tt.dsn)
		}
	}
}
