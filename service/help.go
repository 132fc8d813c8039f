package service

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"text/template"

	"github.com/kelseyhightower/envconfig"
)

// commands are the subcommands, in the order help lists them.
var commands = []struct{ name, what string }{
	{"serve", "run the service (the default)"},
	{"migrate", "create the database if missing, apply the migrations, exit"},
	{"check", "check the declared operations against the database, exit"},
	{"describe", "print the AsyncAPI 3.0 document of the service (needs neither database nor NATS), exit"},
	{"healthcheck", "exit 0 if the service at DBAPI_HTTP_ADDR is ready, else 1 (a probe for images without a shell)"},
	{"version", "print the version"},
	{"help", "print this text"},
}

// varsTemplate lists the variables from Config's tags (envconfig's own
// gathering of them, so the names are the ones it reads).
var varsTemplate = template.Must(template.New("vars").Parse(
	"{{range .}}  {{.Key}}\t{{with .Tags.Get \"default\"}}{{.}}{{else}}-{{end}}\t{{.Tags.Get \"desc\"}}\n{{end}}"))

// usage writes the help text. It reads no variable's value, so it works
// whatever the environment holds.
func usage(w io.Writer, name string) error {
	fmt.Fprintf(w, "usage: %s [command]\n\n%s serves database operations over NATS: each request runs as one MySQL transaction.\n\ncommands:\n", name, name)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.what)
	}
	tw.Flush()
	fmt.Fprint(w, "\nconfiguration (environment variables; - means empty):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if err := envconfig.Usaget(envPrefix, &Config{}, tw, varsTemplate); err != nil {
		return err
	}
	tw.Flush()
	fmt.Fprint(w, "\nTracing is off unless OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set\n"+
		"(the standard OpenTelemetry variables). See README.md, \"Configuration\" and \"Operations\".\n")
	return nil
}

// printVersion writes the program's name, version and Go version.
func printVersion(w io.Writer, name string) {
	fmt.Fprintf(w, "%s %s (%s %s/%s)\n", name, Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// configVars returns the name of every configuration variable, from
// Config's envconfig tags.
func configVars() []string {
	t := reflect.TypeFor[Config]()
	var names []string
	for i := range t.NumField() {
		if k := t.Field(i).Tag.Get("envconfig"); k != "" {
			names = append(names, envPrefix+"_"+k)
		}
	}
	return names
}

// unknownVars returns a warning for each DBAPI_* variable in environ that
// configures nothing (a typo such as DBAPI_POOLSIZE would otherwise be
// silently ignored), with the variable it probably meant. DBAPI_TEST_*
// and DBAPI_FAULTS* belong to the tests and the fault suite.
func unknownVars(environ []string) []string {
	known := map[string]bool{}
	squashed := map[string]string{}
	for _, k := range configVars() {
		known[k] = true
		squashed[squash(k)] = k
	}
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, envPrefix+"_") || strings.HasPrefix(k, envPrefix+"_TEST_") || strings.HasPrefix(k, envPrefix+"_FAULTS") || known[k] {
			continue
		}
		w := k + " is not a dbapi variable and is ignored"
		if m, ok := squashed[squash(k)]; ok {
			w += "; did you mean " + m + "?"
		}
		out = append(out, w)
	}
	sort.Strings(out)
	return out
}

// warnUnknownVars logs a warning for each unknown DBAPI_* variable.
func warnUnknownVars(log *slog.Logger) {
	for _, w := range unknownVars(os.Environ()) {
		log.Warn(w)
	}
}

// squash folds case and drops underscores: DBAPI_POOLSIZE and
// DBAPI_POOL_SIZE squash alike.
func squash(k string) string { return strings.ToUpper(strings.ReplaceAll(k, "_", "")) }
