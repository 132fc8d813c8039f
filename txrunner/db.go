package txrunner

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// DefaultPoolSize is the pool's size when PoolConfig leaves it at zero.
const DefaultPoolSize = 16

// PoolConfig sizes the connection pool.
type PoolConfig struct {
	// MaxOpen is the largest number of open connections. Idle connections
	// are kept up to the same number, so a busy pool never churns.
	MaxOpen int
	// MaxLifetime, when not zero, caps a connection's age. Open lowers it
	// below the server's wait_timeout in any case.
	MaxLifetime time.Duration
}

// WithIOTimeouts returns cfg with d as its readTimeout and writeTimeout
// where the DSN sets none (cfg itself is not changed). d must be longer
// than any statement may run: a context's deadline ends statements, but
// database/sql never cuts a COMMIT or ROLLBACK off, and the driver reads
// their answer without a deadline of its own, so one the server never
// answers (a stalled link, a hung cluster node) waits until TCP gives up,
// many minutes later. The read timeout ends that wait: the connection is
// closed, and a COMMIT's outcome is unknown.
func WithIOTimeouts(cfg *mysql.Config, d time.Duration) *mysql.Config {
	c := cfg.Clone()
	if c.ReadTimeout == 0 {
		c.ReadTimeout = d
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d
	}
	return c
}

// ParseDSN parses a go-sql-driver/mysql DSN and sets what the service
// relies on, unless the DSN already says otherwise: parseTime=true,
// interpolateParams=true (one round trip per statement), loc=UTC, the
// session time_zone '+00:00', and utf8mb4. Errors never repeat the DSN,
// which may hold a password.
func ParseDSN(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid MySQL DSN: %w", err)
	}
	params := dsnParams(dsn)
	if !params["parseTime"] {
		cfg.ParseTime = true
	}
	// Client-side interpolation is unsafe with the multibyte charsets whose
	// characters may end in 0x5c ('\\'), so it is on by default only when
	// the DSN names none of them.
	if !params["interpolateParams"] && !unsafeCharset(dsnParam(dsn, "charset")) && !unsafeCharset(cfg.Collation) {
		cfg.InterpolateParams = true
	}
	if !params["loc"] {
		cfg.Loc = time.UTC
	}
	if !params["time_zone"] {
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["time_zone"] = "'+00:00'"
	}
	if !params["charset"] && !params["collation"] {
		cfg.Collation = "utf8mb4_unicode_ci"
	}
	return cfg, nil
}

// dsnParams returns the names of the parameters written in dsn.
func dsnParams(dsn string) map[string]bool {
	out := map[string]bool{}
	for _, kv := range dsnQuery(dsn) {
		name, _, _ := strings.Cut(kv, "=")
		out[name] = true
	}
	return out
}

// dsnParam returns the unescaped value of the parameter name in dsn, or "".
func dsnParam(dsn, name string) string {
	for _, kv := range dsnQuery(dsn) {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			v, _ = url.QueryUnescape(v)
			return v
		}
	}
	return ""
}

// dsnQuery returns the "name=value" parameters written in dsn.
func dsnQuery(dsn string) []string {
	i := strings.LastIndex(dsn, "?")
	if i < 0 || strings.LastIndex(dsn, "/") > i {
		return nil
	}
	return strings.Split(dsn[i+1:], "&")
}

// unsafeCharset reports whether s names (or, as a collation, belongs to) a
// charset the driver must not interpolate parameters for: big5, cp932,
// gb2312, gbk, sjis or gb18030 (the driver itself only checks collations).
func unsafeCharset(s string) bool {
	for _, cs := range strings.Split(strings.ToLower(s), ",") {
		cs = strings.TrimSpace(cs)
		for _, bad := range []string{"big5", "cp932", "gb2312", "gbk", "sjis", "gb18030"} {
			if cs == bad || strings.HasPrefix(cs, bad+"_") {
				return true
			}
		}
	}
	return false
}

// Redact returns cfg as a DSN with the password hidden, fit for logs.
func Redact(cfg *mysql.Config) string {
	c := cfg.Clone()
	if c.Passwd != "" {
		c.Passwd = "xxxxx"
	}
	return c.FormatDSN()
}

// Open opens a pool on cfg, checks that the server answers, and sizes the
// pool: MaxIdle = MaxOpen, and a connection lifetime below the server's
// wait_timeout so the pool never hands out a connection the server closed.
func Open(ctx context.Context, cfg *mysql.Config, pool PoolConfig) (*sqlx.DB, error) {
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql connector: %w", err)
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "mysql")
	if pool.MaxOpen <= 0 {
		pool.MaxOpen = DefaultPoolSize
	}
	db.SetMaxOpenConns(pool.MaxOpen)
	db.SetMaxIdleConns(pool.MaxOpen)

	var waitTimeout int64
	if err := db.GetContext(ctx, &waitTimeout, "SELECT @@SESSION.wait_timeout"); err != nil {
		db.Close()
		if msg, refused := LoginRefused(err); refused {
			return nil, &LoginError{Addr: cfg.Addr, Message: msg, Err: err}
		}
		return nil, fmt.Errorf("connect to MySQL at %s: %w", cfg.Addr, Classify(err))
	}
	db.SetConnMaxLifetime(connLifetime(pool.MaxLifetime, time.Duration(waitTimeout)*time.Second))
	return db, nil
}

// connLifetime returns a lifetime under the server's wait_timeout.
func connLifetime(want, waitTimeout time.Duration) time.Duration {
	limit := waitTimeout / 2
	if limit <= 0 {
		limit = time.Minute
	}
	if want <= 0 || want > limit {
		return min(limit, 30*time.Minute)
	}
	return want
}
