package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/schema"
)

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.MySQLDSN != "root@tcp(127.0.0.1:3306)/dbapi" || c.Prefix != "dbapi" || c.QueueGroup != "dbapi" ||
		c.PoolSize != 16 || c.Workers != 0 || c.Timeout != 5*time.Second || !c.Migrate ||
		c.ConnectTimeout != time.Minute || c.OperationsDir != "" || c.MigrationsDir != "" {
		t.Errorf("defaults: %+v", c)
	}
	// The application's version table defaults to the one schema names.
	if c.MigrationsTable != schema.AppVersionTable {
		t.Errorf("DBAPI_MIGRATIONS_TABLE defaults to %q; schema.AppVersionTable is %q", c.MigrationsTable, schema.AppVersionTable)
	}
}

func TestLoadConfigRejectsBadValues(t *testing.T) {
	tests := []configError{
		{"DBAPI_WORKERS", "many", "DBAPI_WORKERS: want an integer"},
		{"DBAPI_POOL_SIZE", "0", "DBAPI_POOL_SIZE: want a positive integer"},
		{"DBAPI_TIMEOUT", "5", `DBAPI_TIMEOUT: want a duration`},
		{"DBAPI_TIMEOUT", "-1s", "DBAPI_TIMEOUT: want a positive duration"},
		{"DBAPI_MIGRATE", "maybe", "DBAPI_MIGRATE: want true or false"},
		{"DBAPI_LOG_LEVEL", "loud", "DBAPI_LOG_LEVEL: want debug, info, warn or error"},
		{"DBAPI_PREFIX", "a.*", "DBAPI_PREFIX"},
		{"DBAPI_PREFIX", "a..b", "DBAPI_PREFIX"},
		{"DBAPI_QUEUE_LEN", "-3", "DBAPI_QUEUE_LEN"},
		{"DBAPI_CONNECT_TIMEOUT", "-1s", "DBAPI_CONNECT_TIMEOUT: want a duration of 0 or more"},
		{"DBAPI_MIGRATIONS_TABLE", "dbapi_schema_version", "DBAPI_MIGRATIONS_TABLE"},
		{"DBAPI_MIGRATIONS_TABLE", "a-b", "DBAPI_MIGRATIONS_TABLE"},
		{"DBAPI_MIGRATIONS_TABLE", "", "DBAPI_MIGRATIONS_TABLE"},
	}
	wantConfigErrors(t, tests)
}

// configError is a variable's value and what LoadConfig must say of it.
type configError struct{ name, value, want string }

// wantConfigErrors checks that each value makes LoadConfig fail with an
// error containing want.
func wantConfigErrors(t *testing.T, tests []configError) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Setenv(tt.name, tt.value)
			_, err := LoadConfig()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfigDurable(t *testing.T) {
	t.Setenv("DBAPI_DURABLE", "true")
	c, err := LoadConfig()
	if err != nil {
		t.Fatalf("durable defaults: %v", err)
	}
	// Stream and consumer names are derived from the prefix (package
	// durable) unless set.
	if c.Stream != "" || c.DurableConsumer != "" || c.DurableWorkers != 0 || c.DurableMaxDeliver != 20 ||
		c.DurableAckWait != 30*time.Second || c.DurableDuplicates != 2*time.Minute || c.DurableStorage != "file" {
		t.Errorf("durable defaults: %+v", c)
	}
	tests := []configError{
		{"DBAPI_STREAM", "a.b", "DBAPI_STREAM"},
		{"DBAPI_DURABLE_CONSUMER", "a b", "DBAPI_DURABLE_CONSUMER"},
		{"DBAPI_DURABLE_STORAGE", "disk", "DBAPI_DURABLE_STORAGE: want file or memory"},
		{"DBAPI_DURABLE_REPLICAS", "0", "DBAPI_DURABLE_REPLICAS"},
		{"DBAPI_DURABLE_ACK_WAIT", "0s", "DBAPI_DURABLE_ACK_WAIT"},
		{"DBAPI_DURABLE_MAX_DELIVER", "0", "DBAPI_DURABLE_MAX_DELIVER"},
		{"DBAPI_DURABLE_OUTCOME_TTL", "1h", "DBAPI_DURABLE_OUTCOME_TTL"}, // shorter than the max age
		{"DBAPI_DURABLE_MAX_AGE", "0s", "DBAPI_DURABLE_OUTCOME_TTL"},     // messages kept for ever, outcomes not
	}
	wantConfigErrors(t, tests)
}

// A database that cannot be reached stops the service at start with an
// error that names the problem and not the password.
func TestStartErrorsHideThePassword(t *testing.T) {
	for _, dsn := range []string{
		"dbapi:s3cret-pw@tcp(127.0.0.1:1)/dbapi",
		"dbapi:s3cret-pw@tcp(127.0.0.1:1)/dbapi?parseTime=maybe",
		"dbapi:s3cret-pw@nonsense",
	} {
		c := Config{MySQLDSN: dsn, PoolSize: 1, Migrate: true, LogLevel: "error"}
		m := NewMain(c, bankApp())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := m.Run(ctx)
		cancel()
		m.Close()
		if err == nil {
			t.Fatalf("%s: Run succeeded", dsn)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error shows the password: %v", err)
		}
		t.Logf("%s -> %v", dsn, err)
	}
}
