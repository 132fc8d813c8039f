package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/opshttp"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/go-sql-driver/mysql"
)

// App is what a program serves beside dbapi's own tables. The zero App
// serves only what the configuration names: DBAPI_OPERATIONS_DIR and
// DBAPI_MIGRATIONS_DIR. A Go program that embeds dbapi adds its Go
// operations and embeds its migrations and declared operations; the
// folders named in the configuration still take precedence over the
// embedded ones.
type App struct {
	// Name is the program's name in help text and errors; "dbapi" when
	// empty.
	Name string
	// Operations are operations written in Go.
	Operations []dbapi.Operation
	// Declared holds declared operations (.sql files, see package
	// catalog), used when DBAPI_OPERATIONS_DIR is not set.
	Declared fs.FS
	// Migrations holds goose SQL migrations, used when
	// DBAPI_MIGRATIONS_DIR is not set. Their versions are recorded in
	// DBAPI_MIGRATIONS_TABLE.
	Migrations fs.FS
	// TryIt, when set, returns command lines that show the service at
	// work, given the NATS URL and the subject prefix in use. serve prints
	// them at start when it runs the embedded NATS server (which takes
	// another port when the usual one is busy), after the lines every
	// service gets (nats micro ls and info).
	TryIt func(url, prefix string) []string
}

func (a App) name() string {
	if a.Name == "" {
		return "dbapi"
	}
	return a.Name
}

// Command runs the command line of a dbapi program and returns its exit
// status: serve (the default), migrate, check, healthcheck, version or
// help. Configuration comes
// from DBAPI_* environment variables.
func Command(args []string, app App) int {
	if err := command(args, app, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v%s\n", app.name(), err, hint(err))
		return 1
	}
	return 0
}

func command(args []string, app App, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "help", "-h", "-help", "--help":
		return usage(stdout, app.name())
	case "version", "-version", "--version":
		printVersion(stdout, app.name())
		return nil
	case "serve", "migrate", "check", "describe", "healthcheck":
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate, check, describe, healthcheck, version or help)", cmd)
	}
	if len(args) > 1 {
		return fmt.Errorf("%s takes no arguments (configuration is DBAPI_* variables; see %s help)", cmd, app.name())
	}
	cfg, err := LoadConfig()
	if err != nil {
		return err
	}
	if cmd == "healthcheck" {
		return healthcheck(cfg, stdout)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m := NewMain(cfg, app)
	warnUnknownVars(m.Logger)
	// The driver's own messages (such as a dropped idle connection) go to
	// the service log instead of bare stderr lines.
	mysql.SetLogger(driverLogger{m.Logger})
	switch cmd {
	case "describe": // the AsyncAPI document; needs neither database nor NATS
		return m.Describe(stdout)
	case "migrate":
		defer m.Close()
		return m.Migrate(ctx)
	case "check":
		defer m.Close()
		problems, err := m.Check(ctx)
		for _, p := range problems {
			fmt.Fprintln(stdout, p)
		}
		if err != nil {
			return err
		}
		if len(problems) > 0 {
			return fmt.Errorf("%d problem(s) in the declared operations", len(problems))
		}
		fmt.Fprintln(stdout, "every declared operation checks out against the database")
		return nil
	}
	m.LimitMemory = true
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	if cfg.NATSURL == "" {
		tryIt(stdout, m.NATSURL, cfg.Prefix, app)
	}
	<-ctx.Done()
	m.Logger.Info("stopping", "grace", cfg.Grace.String())
	err = m.Close()
	if err != nil {
		m.Logger.Error("stopped", "err", err)
		return err
	}
	m.Logger.Info("stopped")
	return nil
}

// tryIt prints the command lines that reach the service on the embedded
// NATS server, whose URL clients cannot guess when the usual port was
// taken.
func tryIt(w io.Writer, url, prefix string, app App) {
	// (The micro service is named dbapi whatever the prefix: see package consumer.)
	lines := []string{
		"nats --server " + url + " micro ls",
		"nats --server " + url + " micro info dbapi",
	}
	if app.TryIt != nil {
		lines = append(lines, app.TryIt(url, prefix)...)
	}
	fmt.Fprintf(w, "Serving on the embedded NATS server %s. Try it:\n", url)
	for _, l := range lines {
		fmt.Fprintf(w, "    %s\n", l)
	}
}

// hint returns advice on what to change for some errors, or "".
func hint(err error) string {
	var login *txrunner.LoginError
	if errors.As(err, &login) {
		return "\n(check the user and password in DBAPI_MYSQL_DSN, and that this user may connect from the host the server names)"
	}
	return ""
}

// healthcheck asks the running service on DBAPI_HTTP_ADDR whether it is
// ready: the probe of an image that has no shell or curl.
func healthcheck(cfg Config, stdout io.Writer) error {
	if cfg.HTTPAddr == "" {
		return errors.New("healthcheck: DBAPI_HTTP_ADDR is not set, so the service serves no /readyz")
	}
	url, err := opshttp.LocalURL(cfg.HTTPAddr, "/readyz")
	if err != nil {
		return fmt.Errorf("DBAPI_HTTP_ADDR: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := opshttp.Probe(ctx, url); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ready")
	return nil
}

// driverLogger adapts slog to go-sql-driver/mysql's Logger.
type driverLogger struct{ log *slog.Logger }

func (l driverLogger) Print(v ...any) { l.log.Warn("mysql driver", "err", fmt.Sprint(v...)) }

var errNoOperations = errors.New("no operations to serve: set DBAPI_OPERATIONS_DIR to a folder of .sql operations (see README.md, \"Use it on your own database\")")
