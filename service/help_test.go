package service

import (
	"bytes"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// Every variable has a name and a meaning in its tags; help lists each
// one with its default, even when the environment holds bad values.
func TestHelpListsEveryVariable(t *testing.T) {
	t.Setenv("DBAPI_POOL_SIZE", "many")
	t.Setenv("DBAPI_TIMEOUT", "5")
	for _, arg := range []string{"help", "--help", "-h"} {
		var out bytes.Buffer
		if err := command([]string{arg}, App{}, &out); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		ct := reflect.TypeFor[Config]()
		for i := range ct.NumField() {
			f := ct.Field(i)
			if !f.IsExported() {
				continue
			}
			key, def, desc := envPrefix+"_"+f.Tag.Get("envconfig"), f.Tag.Get("default"), f.Tag.Get("desc")
			if f.Tag.Get("envconfig") == "" || desc == "" {
				t.Errorf("Config.%s needs envconfig and desc tags", f.Name)
				continue
			}
			if def == "" {
				def = "-"
			}
			line := regexp.MustCompile(`(?m)^  ` + key + ` +` + regexp.QuoteMeta(def) + ` +` + regexp.QuoteMeta(desc) + `$`)
			if !line.MatchString(out.String()) {
				t.Errorf("%s: no line for %s %s %q", arg, key, def, desc)
			}
		}
		for _, c := range commands {
			if !strings.Contains(out.String(), "  "+c.name+" ") {
				t.Errorf("%s: command %s not listed", arg, c.name)
			}
		}
		if t.Failed() {
			t.Logf("%s:\n%s", arg, out.String())
			return
		}
	}
}

func TestVersionCommand(t *testing.T) {
	t.Setenv("DBAPI_POOL_SIZE", "many")
	for _, arg := range []string{"version", "--version", "-version"} {
		var out bytes.Buffer
		if err := command([]string{arg}, App{Name: "bank"}, &out); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if want := "bank " + Version() + " ("; !strings.HasPrefix(out.String(), want) {
			t.Errorf("%s printed %q, want it to start %q", arg, out.String(), want)
		}
	}
	if !semver.MatchString(Version()) {
		t.Errorf("Version() = %q is not SemVer", Version())
	}
}

// The README's configuration table has exactly the variables of Config,
// with the same defaults.
func TestREADMEConfigurationTable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `(DBAPI_[A-Z_]+)` \\| ([^|]*) \\|")
	inREADME := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		if _, dup := inREADME[m[1]]; dup {
			t.Errorf("README lists %s twice", m[1])
		}
		inREADME[m[1]] = strings.TrimSpace(m[2])
	}
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		if !f.IsExported() {
			continue
		}
		key, def := envPrefix+"_"+f.Tag.Get("envconfig"), f.Tag.Get("default")
		got, ok := inREADME[key]
		delete(inREADME, key)
		switch {
		case !ok:
			t.Errorf("README's configuration table has no %s", key)
		case def != "" && got != "`"+def+"`":
			t.Errorf("README: %s default %s; the config says `%s`", key, got, def)
		case def == "" && !strings.HasPrefix(got, "*(empty") && !strings.HasPrefix(got, "="):
			t.Errorf("README: %s default %s; the config has none (write *(empty)* or what it falls back to)", key, got)
		}
	}
	for key := range inREADME {
		t.Errorf("README lists %s, which the config does not read", key)
	}
}

func TestUnknownVariablesAreNamed(t *testing.T) {
	got := unknownVars([]string{
		"DBAPI_POOLSIZE=8", "DBAPI_POOL_SIZE=8", "DBAPI_Timeout=1s", "DBAPI_COLOUR=blue",
		"DBAPI_TEST_NATS_URL=nats://x", "DBAPI_FAULTS=full", "PATH=/bin", "DBAPI=1",
	})
	want := []string{
		"DBAPI_COLOUR is not a dbapi variable and is ignored",
		"DBAPI_POOLSIZE is not a dbapi variable and is ignored; did you mean DBAPI_POOL_SIZE?",
		"DBAPI_Timeout is not a dbapi variable and is ignored; did you mean DBAPI_TIMEOUT?",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unknownVars:\n got %q\nwant %q", got, want)
	}
}

// The warning reaches the log of a running command.
func TestUnknownVariableWarningIsLogged(t *testing.T) {
	t.Setenv("DBAPI_POOLSIZE", "8")
	var logs bytes.Buffer
	warnUnknownVars(slog.New(slog.NewJSONHandler(&logs, nil)))
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"DBAPI_POOLSIZE is not a dbapi variable and is ignored; did you mean DBAPI_POOL_SIZE?"`) {
		t.Errorf("log: %s", logs.String())
	}
}
