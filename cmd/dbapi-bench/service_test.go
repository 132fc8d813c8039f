package main

import (
	"context"
	"reflect"
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

// TestServiceEnv checks the environment of the two dbapi processes: the
// service mode always runs with DBAPI_COALESCE_MAX=1, the coalesced mode
// with group commit at its defaults unless -coalesced-env sets it, and
// neither inherits a group-commit setting from this process.
func TestServiceEnv(t *testing.T) {
	base := []string{"PATH=/bin", "DBAPI_COALESCE_MAX=5", "DBAPI_COALESCE_WAIT=9ms", "HOME=/root", "DBAPI_MYSQL_REPLICA_DSN=root@tcp(10.0.0.9:3306)/x"}
	// envMap is env as the process sees it: the last of a name wins.
	envMap := func(env []string) map[string]string {
		m := map[string]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return m
	}
	for _, c := range []struct {
		name       string
		base       []string
		serviceEnv []string
		coEnv      []string
		mode       string
		want       map[string]string // "" for absent or empty
	}{
		{"service", base, nil, nil, modeService, map[string]string{
			"DBAPI_COALESCE_MAX": "1", "DBAPI_COALESCE_WAIT": "", "DBAPI_PREFIX": "p", "DBAPI_QUEUE_GROUP": "p",
			"DBAPI_LOG_LEVEL": "warn", "PATH": "/bin", "DBAPI_POOL_SIZE": "16", "DBAPI_MYSQL_REPLICA_DSN": ""}},
		{"coalesced at the defaults", base, nil, nil, modeCoalesced, map[string]string{
			"DBAPI_COALESCE_MAX": "", "DBAPI_COALESCE_WAIT": "", "DBAPI_PREFIX": "p", "DBAPI_LOG_LEVEL": "warn", "DBAPI_MYSQL_REPLICA_DSN": ""}},
		{"coalesced with -coalesced-env", base, []string{"GOMAXPROCS=1"}, []string{"DBAPI_COALESCE_WAIT=2ms", "GOMAXPROCS=2"}, modeCoalesced, map[string]string{
			"DBAPI_COALESCE_MAX": "", "DBAPI_COALESCE_WAIT": "2ms", "GOMAXPROCS": "2"}},
		{"-coalesced-env does not reach the service", base, []string{"GOMAXPROCS=1"}, []string{"DBAPI_COALESCE_MAX=16"}, modeService, map[string]string{
			"DBAPI_COALESCE_MAX": "1", "GOMAXPROCS": "1"}},
		{"log level kept", []string{"DBAPI_LOG_LEVEL=debug"}, nil, nil, modeService, map[string]string{"DBAPI_LOG_LEVEL": "debug"}},
		{"-service-env wins over this process", []string{"DBAPI_POOL_SIZE=3", "GOMAXPROCS=8"}, []string{"GOMAXPROCS=1"}, nil, modeCoalesced,
			map[string]string{"DBAPI_POOL_SIZE": "16", "GOMAXPROCS": "1"}},
		// The replica mode: like the service mode, with the replica;
		// neither -coalesced-env nor this process's replicas reach it.
		{"replica", base, []string{"GOMAXPROCS=1"}, []string{"DBAPI_COALESCE_MAX=16"}, modeReplica, map[string]string{
			"DBAPI_COALESCE_MAX": "1", "DBAPI_COALESCE_WAIT": "", "GOMAXPROCS": "1", "DBAPI_PREFIX": "p",
			"DBAPI_MYSQL_REPLICA_DSN": "root@tcp(127.0.0.1:3307)/b"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := &Options{ServiceEnv: c.serviceEnv, CoalescedEnv: c.coEnv, MySQLDSN: "root@tcp(127.0.0.1:3306)/b", Pool: 16,
				ReplicaDSN: "root@tcp(127.0.0.1:3307)/b"}
			env := envMap(serviceEnv(o, c.base, c.mode, "p", "nats://127.0.0.1:4222"))
			for k, want := range c.want {
				// DBAPI_MYSQL_REPLICA_DSN is always set, empty for none.
				if got, ok := env[k]; got != want || ok != (want != "" || k == replicaDSNEnv) {
					t.Errorf("%s = %q (set: %v), want %q", k, got, ok, want)
				}
			}
			if env["DBAPI_MYSQL_DSN"] != o.MySQLDSN || env["DBAPI_NATS_URL"] != "nats://127.0.0.1:4222" {
				t.Errorf("DSN %q, NATS %q", env["DBAPI_MYSQL_DSN"], env["DBAPI_NATS_URL"])
			}
		})
	}
}

func TestModesOf(t *testing.T) {
	all := &Options{Modes: []string{modeDirect, modeHandwritten, modeService, modeCoalesced}}
	for _, c := range []struct {
		o        *Options
		workload string
		want     []string
	}{
		{all, "transfer", []string{modeDirect, modeHandwritten, modeService, modeCoalesced}},
		{all, "get", []string{modeDirect, modeHandwritten, modeService}},
		{all, "batch", []string{modeDirect, modeService}},
		{&Options{Modes: []string{modeCoalesced, modeDirect}}, "transfer", []string{modeCoalesced, modeDirect}},
		{&Options{Modes: []string{modeCoalesced}}, "get", nil},
		// The replica mode runs every workload.
		{&Options{Modes: []string{modeService, modeReplica}}, "get", []string{modeService, modeReplica}},
		{&Options{Modes: []string{modeReplica, modeCoalesced}}, "transfer", []string{modeReplica, modeCoalesced}},
		{&Options{Modes: []string{modeReplica}}, "batch", []string{modeReplica}},
	} {
		if got := modesOf(c.o, workloadDefs[c.workload]); !reflect.DeepEqual(got, c.want) {
			t.Errorf("modes %v, %s: %v, want %v", c.o.Modes, c.workload, got, c.want)
		}
	}
	for _, c := range []struct {
		modes, workloads []string
		want             bool
	}{
		{all.Modes, []string{"get", "transfer"}, true},
		{all.Modes, []string{"get", "batch"}, false},
		{[]string{modeDirect, modeService}, []string{"transfer"}, false},
	} {
		b := &bench{o: &Options{Modes: c.modes, Workloads: c.workloads}}
		if got := b.coalescedRuns(); got != c.want {
			t.Errorf("modes %v, workloads %v: coalesced runs %v, want %v", c.modes, c.workloads, got, c.want)
		}
	}
}
