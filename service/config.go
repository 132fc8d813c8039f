package service

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/dbapi-dev/dbapi/consumer"
	"github.com/dbapi-dev/dbapi/schema"
	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go/jetstream"
)

// Config is read from DBAPI_* environment variables. The struct tags are
// the one definition of each variable: its name (envconfig), default and
// meaning (desc). `dbapi help` prints them, and a test holds the README's
// configuration table to them.
type Config struct {
	MySQLDSN       string        `envconfig:"MYSQL_DSN" default:"root@tcp(127.0.0.1:3306)/dbapi" desc:"go-sql-driver/mysql DSN of the database (created if missing); the password is never logged"`
	ReplicaDSN     string        `envconfig:"MYSQL_REPLICA_DSN" desc:"DSNs of read replicas, separated by spaces: read-only requests run there, with read-your-writes (see README, Read replicas); empty: none; passwords are never logged"`
	ReplicaWait    time.Duration `envconfig:"REPLICA_WAIT" default:"50ms" desc:"how long a request with Dbapi-After waits for a replica to apply that position before it runs on the primary; 0: no wait"`
	ReplicaMaxLag  time.Duration `envconfig:"REPLICA_MAX_LAG" default:"1s" desc:"a replica further behind than this (or down, or not replicating) gets no reads until it catches up; checked every second"`
	NATSURL        string        `envconfig:"NATS_URL" desc:"NATS server URL(s); empty: start an embedded NATS server"`
	NATSCreds      string        `envconfig:"NATS_CREDS" desc:"path of a NATS .creds file for servers that require one"`
	NATSListen     string        `envconfig:"NATS_LISTEN" default:"127.0.0.1:4222" desc:"where the embedded NATS server listens (a free port, logged loudly, if taken)"`
	Prefix         string        `envconfig:"PREFIX" default:"dbapi" desc:"subject prefix: operation x.y is served on <prefix>.x.y"`
	QueueGroup     string        `envconfig:"QUEUE_GROUP" default:"dbapi" desc:"NATS queue group shared by all instances"`
	PoolSize       int           `envconfig:"POOL_SIZE" default:"16" desc:"MySQL connections (max open = max idle)"`
	Workers        int           `envconfig:"WORKERS" desc:"requests one instance runs at once; 0: the pool size, plus DBAPI_COALESCE_MAX × DBAPI_COALESCE_GROUPS if an operation coalesces"`
	QueueLen       int           `envconfig:"QUEUE_LEN" default:"1024" desc:"requests that may wait for a worker; beyond: 503 overloaded"`
	QueueBytes     int64         `envconfig:"QUEUE_BYTES" default:"67108864" desc:"request bytes that may wait for a worker; beyond: 503 overloaded"`
	Timeout        time.Duration `envconfig:"TIMEOUT" default:"5s" desc:"deadline of a request without a Dbapi-Timeout header"`
	CoalesceMax    int           `envconfig:"COALESCE_MAX" default:"8" desc:"group commit: most requests of a coalescing operation in one transaction; 1: off"`
	CoalesceGroups int           `envconfig:"COALESCE_GROUPS" default:"4" desc:"group commit: most groups of one operation running at once (fewer while they deadlock)"`
	CoalesceWait   time.Duration `envconfig:"COALESCE_WAIT" default:"0s" desc:"group commit: how much longer a group of 2 or more that could start waits for more; 0: none"`
	MaxAttempts    int           `envconfig:"MAX_ATTEMPTS" default:"10" desc:"attempts per transaction on deadlock or lock-wait timeout"`
	Grace          time.Duration `envconfig:"GRACE" default:"30s" desc:"on SIGINT/SIGTERM: how long in-flight requests may take to finish"`
	MaxPayload     int           `envconfig:"MAX_PAYLOAD" default:"1048576" desc:"largest request body in bytes (413 beyond)"`
	MaxBatch       int           `envconfig:"MAX_BATCH" default:"100" desc:"most steps in one batch (413 beyond)"`
	MaxRows        int           `envconfig:"MAX_ROWS" default:"1000" desc:"most rows in one result (413 result_too_large beyond)"`
	AllowRawSQL    bool          `envconfig:"ALLOW_RAW_SQL" default:"false" desc:"serve sql.exec and sql.query (trusted networks only)"`
	IdemTTL        time.Duration `envconfig:"IDEMPOTENCY_TTL" default:"24h" desc:"how long an Idempotency-Key is honoured"`
	LogLevel       string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error; logs are JSON on stderr"`
	HTTPAddr       string        `envconfig:"HTTP_ADDR" desc:"serve /healthz, /readyz and /metrics there, e.g. :8080; empty: off"`
	MetricsAddr    string        `envconfig:"METRICS_ADDR" desc:"older, still served: /metrics (and the probes) on an address of its own; empty: off"`
	PauseAfter     time.Duration `envconfig:"PAUSE_AFTER" default:"2s" desc:"stop taking requests once the database has been unhealthy (unreachable, a Galera node not Synced, read-only) this long, until it is healthy again; 0: never"`
	Migrate        bool          `envconfig:"MIGRATE" default:"true" desc:"create the database if missing and apply migrations at start; false: a warning names the first pending migration of each version table"`

	// ConnectTimeout is how long the service keeps trying at start while
	// MySQL cannot be reached; 0 means one try.
	ConnectTimeout time.Duration `envconfig:"CONNECT_TIMEOUT" default:"1m" desc:"how long to keep trying at start while MySQL cannot be reached; 0: one try"`

	// OperationsDir, when set, is a folder of .sql operations (package
	// catalog), loaded instead of the program's embedded ones.
	OperationsDir string `envconfig:"OPERATIONS_DIR" desc:"folder of declared .sql operations, used instead of the program's embedded ones"`
	// MigrationsDir, when set, is a folder of goose SQL migrations applied
	// instead of the program's embedded ones.
	MigrationsDir string `envconfig:"MIGRATIONS_DIR" desc:"folder of goose SQL migrations, used instead of the program's embedded ones"`

	// Durable requests on JetStream (package durable), beside
	// request-reply; the other DURABLE_* settings and STREAM apply only
	// when DURABLE is on.
	Durable           bool          `envconfig:"DURABLE" default:"false" desc:"serve durable requests on JetStream beside request-reply"`
	Stream            string        `envconfig:"STREAM" desc:"the durable requests' stream, on <prefix>.durable.>; empty: the prefix in capitals, '.' as '_' (DBAPI for dbapi)"`
	DurableConsumer   string        `envconfig:"DURABLE_CONSUMER" desc:"the durable pull consumer all instances share; empty: the prefix, '.' as '_' (dbapi for dbapi)"`
	DurableWorkers    int           `envconfig:"DURABLE_WORKERS" desc:"durable messages one instance runs at once; 0: as many as DBAPI_WORKERS"`
	DurableStorage    string        `envconfig:"DURABLE_STORAGE" default:"file" desc:"the stream's storage: file or memory"`
	DurableReplicas   int           `envconfig:"DURABLE_REPLICAS" default:"1" desc:"the stream's replicas (3 in a cluster)"`
	DurableMaxAge     time.Duration `envconfig:"DURABLE_MAX_AGE" default:"168h" desc:"how long an unrun durable request is kept; 0: for ever"`
	DurableDuplicates time.Duration `envconfig:"DURABLE_DUPLICATES" default:"2m" desc:"the stream's Nats-Msg-Id de-duplication window (beyond it, the stored outcome de-duplicates)"`
	DurableAckWait    time.Duration `envconfig:"DURABLE_ACK_WAIT" default:"30s" desc:"redelivery after this long without an ack (in-progress acks keep running ones)"`
	DurableMaxDeliver int           `envconfig:"DURABLE_MAX_DELIVER" default:"20" desc:"deliveries of a retryable failure before it is stored as failed"`
	DurableBackoff    time.Duration `envconfig:"DURABLE_BACKOFF" default:"1s" desc:"delay before redelivering a retryable failure, doubling each time"`
	DurableMaxBackoff time.Duration `envconfig:"DURABLE_MAX_BACKOFF" default:"1m" desc:"the longest such delay"`
	DurableOutcomeTTL time.Duration `envconfig:"DURABLE_OUTCOME_TTL" default:"720h" desc:"how long durable outcomes are kept; longer than DBAPI_DURABLE_MAX_AGE, or 0: for ever"`

	// MigrationsTable records which of the application's migrations were
	// applied (dbapi's own use dbapi_schema_version).
	MigrationsTable string `envconfig:"MIGRATIONS_TABLE" default:"dbapi_app_version" desc:"table recording which of your migrations were applied"`
}

// envPrefix is the prefix of every configuration variable.
const envPrefix = "DBAPI"

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// LoadConfig reads the environment. A bad value is an error that names the
// variable and says what is expected.
func LoadConfig() (Config, error) {
	var c Config
	if err := envconfig.Process(envPrefix, &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return c, fmt.Errorf("%s: want %s, got %q", pe.KeyName, typeName(pe.TypeName), pe.Value)
		}
		return c, err
	}
	return c, c.Validate()
}

func typeName(t string) string {
	switch t {
	case "int":
		return "an integer"
	case "bool":
		return "true or false"
	case "Duration", "time.Duration":
		return `a duration such as "5s"`
	}
	return t
}

// Validate checks values that parse but make no sense.
func (c *Config) Validate() error {
	var errs []error
	positive := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("DBAPI_%s: want a positive integer, got %d", name, v))
		}
	}
	nonNegative := func(name string, v int) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("DBAPI_%s: want 0 (the default) or a positive integer, got %d", name, v))
		}
	}
	positive("POOL_SIZE", c.PoolSize)
	positive("MAX_ATTEMPTS", c.MaxAttempts)
	positive("MAX_PAYLOAD", c.MaxPayload)
	positive("MAX_BATCH", c.MaxBatch)
	positive("COALESCE_MAX", c.CoalesceMax)
	positive("COALESCE_GROUPS", c.CoalesceGroups)
	if c.CoalesceWait < 0 {
		errs = append(errs, fmt.Errorf("DBAPI_COALESCE_WAIT: want a duration of 0 or more, got %s", c.CoalesceWait))
	}
	positive("MAX_ROWS", c.MaxRows)
	if c.IdemTTL <= 0 {
		errs = append(errs, fmt.Errorf("DBAPI_IDEMPOTENCY_TTL: want a positive duration such as \"24h\", got %s", c.IdemTTL))
	}
	nonNegative("WORKERS", c.Workers)
	positive("QUEUE_LEN", c.QueueLen)
	if c.QueueBytes <= 0 {
		errs = append(errs, fmt.Errorf("DBAPI_QUEUE_BYTES: want a positive integer, got %d", c.QueueBytes))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("DBAPI_TIMEOUT: want a positive duration such as \"5s\", got %s", c.Timeout))
	}
	if c.ConnectTimeout < 0 {
		errs = append(errs, fmt.Errorf("DBAPI_CONNECT_TIMEOUT: want a duration of 0 or more, got %s", c.ConnectTimeout))
	}
	if c.MigrationsTable == "" || c.MigrationsTable == schema.OwnVersionTable || !identRE.MatchString(c.MigrationsTable) {
		errs = append(errs, fmt.Errorf("DBAPI_MIGRATIONS_TABLE: want a table name of letters, digits and '_' other than %s, got %q", schema.OwnVersionTable, c.MigrationsTable))
	}
	if c.ReplicaWait < 0 {
		errs = append(errs, fmt.Errorf("DBAPI_REPLICA_WAIT: want a duration of 0 or more, got %s", c.ReplicaWait))
	}
	if c.ReplicaMaxLag <= 0 {
		errs = append(errs, fmt.Errorf("DBAPI_REPLICA_MAX_LAG: want a positive duration such as \"1s\", got %s", c.ReplicaMaxLag))
	}
	if c.PauseAfter < 0 {
		errs = append(errs, fmt.Errorf("DBAPI_PAUSE_AFTER: want a duration of 0 or more, got %s", c.PauseAfter))
	}
	if c.Grace < 0 {
		errs = append(errs, fmt.Errorf("DBAPI_GRACE: want a duration of 0 or more, got %s", c.Grace))
	}
	if _, err := c.Level(); err != nil {
		errs = append(errs, err)
	}
	if err := consumer.ValidPrefix(c.Prefix); err != nil {
		errs = append(errs, fmt.Errorf("DBAPI_PREFIX: %w", err))
	}
	if c.Durable {
		errs = append(errs, c.validateDurable()...)
	}
	if c.QueueGroup == "" || strings.ContainsAny(c.QueueGroup, "*> ") {
		errs = append(errs, fmt.Errorf("DBAPI_QUEUE_GROUP: want a name without spaces or wildcards, got %q", c.QueueGroup))
	}
	return errors.Join(errs...)
}

var streamNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

func (c *Config) validateDurable() []error {
	var errs []error
	if c.Stream != "" && !streamNameRE.MatchString(c.Stream) {
		errs = append(errs, fmt.Errorf("DBAPI_STREAM: want a stream name of letters, digits, '_' and '-', got %q", c.Stream))
	}
	if c.DurableConsumer != "" && !streamNameRE.MatchString(c.DurableConsumer) {
		errs = append(errs, fmt.Errorf("DBAPI_DURABLE_CONSUMER: want a consumer name of letters, digits, '_' and '-', got %q", c.DurableConsumer))
	}
	if _, err := c.storage(); err != nil {
		errs = append(errs, err)
	}
	if c.DurableWorkers < 0 {
		errs = append(errs, fmt.Errorf("DBAPI_DURABLE_WORKERS: want 0 (as many as DBAPI_WORKERS) or a positive integer, got %d", c.DurableWorkers))
	}
	if c.DurableReplicas < 1 || c.DurableReplicas > 5 {
		errs = append(errs, fmt.Errorf("DBAPI_DURABLE_REPLICAS: want 1 to 5, got %d", c.DurableReplicas))
	}
	if c.DurableMaxAge < 0 {
		errs = append(errs, fmt.Errorf("DBAPI_DURABLE_MAX_AGE: want 0 (no limit) or a positive duration, got %s", c.DurableMaxAge))
	}
	for name, d := range map[string]time.Duration{"DURABLE_DUPLICATES": c.DurableDuplicates, "DURABLE_ACK_WAIT": c.DurableAckWait,
		"DURABLE_BACKOFF": c.DurableBackoff, "DURABLE_MAX_BACKOFF": c.DurableMaxBackoff} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("DBAPI_%s: want a positive duration, got %s", name, d))
		}
	}
	if c.DurableMaxDeliver <= 0 {
		errs = append(errs, fmt.Errorf("DBAPI_DURABLE_MAX_DELIVER: want a positive integer, got %d", c.DurableMaxDeliver))
	}
	if ttl := c.DurableOutcomeTTL; ttl < 0 || (ttl > 0 && (c.DurableMaxAge == 0 || ttl <= c.DurableMaxAge)) {
		errs = append(errs, fmt.Errorf("DBAPI_DURABLE_OUTCOME_TTL: want 0 (keep outcomes for ever) or longer than DBAPI_DURABLE_MAX_AGE (%s), got %s", c.DurableMaxAge, ttl))
	}
	return errs
}

// storage returns the stream's storage type named by DurableStorage.
func (c *Config) storage() (jetstream.StorageType, error) {
	switch c.DurableStorage {
	case "file":
		return jetstream.FileStorage, nil
	case "memory":
		return jetstream.MemoryStorage, nil
	}
	return 0, fmt.Errorf("DBAPI_DURABLE_STORAGE: want file or memory, got %q", c.DurableStorage)
}

// Level returns the slog level named by LogLevel.
func (c *Config) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("DBAPI_LOG_LEVEL: want debug, info, warn or error, got %q", c.LogLevel)
	}
	return l, nil
}
