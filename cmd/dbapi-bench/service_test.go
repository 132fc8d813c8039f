package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/txrunner"
)

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true, "::ffff:127.0.0.1": true,
		"": false, "0.0.0.0": false, "10.0.0.1": false, "192.0.2.1": false, "::": false,
		"example.com": false, "localhost.example.com": false, "127.0.0.1.nip.io": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, c := range []struct {
		dsn, nats string
		want      string // "" for accepted, else in the error
	}{
		{"root@tcp(127.0.0.1:3306)/b", "", ""},
		{"root@tcp(localhost:3306)/b", "", ""},
		{"root@tcp([::1]:3306)/b", "", ""},
		{"root@tcp(127.0.0.1)/b", "", ""}, // the driver adds the port
		{"root@/b", "", ""},               // the driver's default: 127.0.0.1:3306
		{"root@unix(/run/mysqld/mysqld.sock)/b", "", ""},
		{"root@tcp(127.0.0.1:3306)/b", "nats://127.0.0.1:4222", ""},
		{"root@tcp(127.0.0.1:3306)/b", "nats://localhost:4222", ""},
		{"root@tcp(127.0.0.1:3306)/b", "nats://u:p@[::1]:4222", ""},
		{"root@tcp(127.0.0.1:3306)/b", "127.0.0.1:4222", ""}, // no scheme, as the NATS client allows
		{"root@tcp(127.0.0.1:3306)/b", "nats://127.0.0.1:4222, nats://localhost:4223", ""},

		{"root@tcp(10.0.0.5:3306)/b", "", `-mysql: address "10.0.0.5:3306" is not on this machine`},
		{"root@tcp(db.example.com:3306)/b", "", `-mysql: address "db.example.com:3306" is not on this machine`},
		{"root@tcp(0.0.0.0:3306)/b", "", "is not on this machine"},
		{"root@tcp6([::1]:3306)/b", "", `-mysql: network "tcp6": want tcp to 127.0.0.1 or a unix socket`},
		{"root@tcp(127.0.0.1:3306)/b", "nats://192.0.2.1:4222", `-nats: "nats://192.0.2.1:4222" is not on this machine`},
		{"root@tcp(127.0.0.1:3306)/b", "nats://u:p@nats.example.com:4222", "-nats:"},
		{"root@tcp(127.0.0.1:3306)/b", "192.0.2.1:4222", "-nats:"},
		{"root@tcp(127.0.0.1:3306)/b", "nats://127.0.0.1:4222,nats://192.0.2.1:4222", "-nats:"},
		{"root@tcp(127.0.0.1:3306)/b", "nats://:4222", "-nats:"},
		{"root@tcp(127.0.0.1:3306)/b", "nats://%zz", "-nats:"},
		{"root@tcp(127.0.0.1:3306)/b", " , ", `-nats: " , " names no server`},
	} {
		cfg, err := txrunner.ParseDSN(c.dsn)
		if err != nil {
			t.Fatalf("%s: %v", c.dsn, err)
		}
		err = checkLoopback(cfg, c.nats)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s, nats %q: refused: %v", c.dsn, c.nats, err)
		case c.want != "" && err == nil:
			t.Errorf("%s, nats %q: accepted, want an error with %q", c.dsn, c.nats, c.want)
		case c.want != "" && !strings.Contains(err.Error(), c.want):
			t.Errorf("%s, nats %q: error %q, want one with %q", c.dsn, c.nats, err, c.want)
		}
	}
}

// TestRunRefusesRemote checks that run itself refuses a non-loopback
// -mysql or -nats before it connects to anything.
func TestRunRefusesRemote(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-mysql", "root@tcp(192.0.2.1:3306)/dbapi_bench"}, "-mysql: address"},
		{[]string{"-nats", "nats://192.0.2.1:4222"}, "-nats:"},
		{[]string{"-mysql", "not a dsn"}, "-mysql:"},
	} {
		o, err := parseFlags(append([]string{"-out", t.TempDir(), "-quiet"}, c.args...))
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = run(ctx, o)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: run returned %v, want an error with %q", c.args, err, c.want)
		}
	}
}
