package main

import (
	"errors"
	"flag"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	defaults, err := parseFlags(nil)
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if got, want := defaults.Clients, []int{1, 8, 32, 128, 512}; !reflect.DeepEqual(got, want) {
		t.Errorf("default -clients = %v, want %v", got, want)
	}
	if got, want := defaults.Workloads, []string{"transfer", "get", "batch"}; !reflect.DeepEqual(got, want) {
		t.Errorf("default -workloads = %v, want %v", got, want)
	}
	if got, want := defaults.Modes, []string{"direct", "handwritten", "service", "coalesced"}; !reflect.DeepEqual(got, want) {
		t.Errorf("default -modes = %v, want %v", got, want)
	}
	if defaults.Rates != nil || defaults.Burst != 0 || defaults.Chart != "chart.png" || defaults.Out != "bench/out" ||
		defaults.MySQLD != "" || defaults.CoalescedEnv != nil {
		t.Errorf("defaults: rates %v, burst %d, chart %q, out %q, mysqld %q, coalesced env %q",
			defaults.Rates, defaults.Burst, defaults.Chart, defaults.Out, defaults.MySQLD, defaults.CoalescedEnv)
	}

	ok := []struct {
		args  []string
		check func(o Options) bool
	}{
		{[]string{"-rates", "50%,90%"}, func(o Options) bool { return reflect.DeepEqual(o.Rates, []string{"50%", "90%"}) }},
		{[]string{"-rates", " 500 , 12.5% ,"}, func(o Options) bool { return reflect.DeepEqual(o.Rates, []string{"500", "12.5%"}) }},
		{[]string{"-clients", "1,8"}, func(o Options) bool { return reflect.DeepEqual(o.Clients, []int{1, 8}) }},
		{[]string{"-clients", "4, 1"}, func(o Options) bool { return reflect.DeepEqual(o.Clients, []int{4, 1}) }},
		{[]string{"-clients", "", "-rates", "200"}, func(o Options) bool { return o.Clients == nil && len(o.Rates) == 1 }},
		{[]string{"-clients", "", "-burst", "100"}, func(o Options) bool { return o.Clients == nil && o.Burst == 100 }},
		{[]string{"-workloads", "get", "-modes", "service"}, func(o Options) bool {
			return reflect.DeepEqual(o.Workloads, []string{"get"}) && reflect.DeepEqual(o.Modes, []string{"service"}) && !o.has(modeDirect) && o.has(modeService)
		}},
		{[]string{"-duration", "300ms", "-rounds", "3", "-warmup", "0"}, func(o Options) bool {
			return o.Duration == 300*time.Millisecond && o.Rounds == 3 && o.Warmup == 0
		}},
		{[]string{"-service-env", "GOMAXPROCS=1, DBAPI_QUEUE_LEN=1024"}, func(o Options) bool {
			return reflect.DeepEqual(o.ServiceEnv, []string{"GOMAXPROCS=1", "DBAPI_QUEUE_LEN=1024"})
		}},
		{[]string{"-coalesced-env", "DBAPI_COALESCE_MAX=16, DBAPI_COALESCE_WAIT=2ms"}, func(o Options) bool {
			return reflect.DeepEqual(o.CoalescedEnv, []string{"DBAPI_COALESCE_MAX=16", "DBAPI_COALESCE_WAIT=2ms"}) && o.ServiceEnv == nil
		}},
		{[]string{"-modes", "coalesced", "-workloads", "transfer"}, func(o Options) bool {
			return o.has(modeCoalesced) && !o.has(modeService)
		}},
		{[]string{"-mysqld", "binlog"}, func(o Options) bool { return o.MySQLD == "binlog" && !o.has(modeReplica) }},
		// The replica profile adds the replica mode to the default modes,
		// not to modes given.
		{[]string{"-mysqld", "replica"}, func(o Options) bool {
			return o.MySQLD == "replica" && reflect.DeepEqual(o.Modes, []string{"direct", "handwritten", "service", "coalesced", "replica"})
		}},
		{[]string{"-mysqld", "replica", "-modes", "service"}, func(o Options) bool { return reflect.DeepEqual(o.Modes, []string{"service"}) }},
		{[]string{"-mysqld", "replica", "-modes", "replica,direct"}, func(o Options) bool {
			return reflect.DeepEqual(o.Modes, []string{"replica", "direct"})
		}},
		{[]string{"-chart", "c.SVG"}, func(o Options) bool { return o.Chart == "c.SVG" }},
		{[]string{"-chart", ""}, func(o Options) bool { return o.Chart == "" }},
		{[]string{"-redraw", "-out", "x"}, func(o Options) bool { return o.Redraw && o.Out == "x" }},
		{[]string{"-quiet", "-clients", "2"}, func(o Options) bool {
			return reflect.DeepEqual(o.Args, []string{"-quiet", "-clients", "2"})
		}},
	}
	for _, c := range ok {
		o, err := parseFlags(c.args)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if !c.check(o) {
			t.Errorf("%q: unexpected options %+v", c.args, o)
		}
	}

	bad := []struct {
		args []string
		want string // in the error
	}{
		{[]string{"-clients", "0"}, `-clients: want positive integers up to 100000, got "0"`},
		{[]string{"-clients", "-3"}, `got "-3"`},
		{[]string{"-clients", "1,x"}, `-clients: want positive integers up to 100000, got "x"`},
		{[]string{"-clients", "100001"}, `got "100001"`},
		{[]string{"-clients", "8,1,8"}, `-clients: "8" given twice`},
		{[]string{"-clients", "8,08"}, `-clients: "8" given twice`},
		{[]string{"-rates", "0"}, `-rates: want requests/s (up to 1000000) or a percentage such as 50%, got "0"`},
		{[]string{"-rates", "50%,abc"}, `got "abc"`},
		{[]string{"-rates", "%"}, `got "%"`},
		{[]string{"-rates", "50%%"}, `got "50%%"`},
		{[]string{"-rates", "-5%"}, `got "-5%"`},
		{[]string{"-rates", "2e6"}, `got "2e6"`},
		{[]string{"-rates", "NaN"}, `got "NaN"`},
		{[]string{"-rates", "nan%"}, `got "nan%"`},
		{[]string{"-rates", "Inf"}, `got "Inf"`},
		{[]string{"-rates", "50%,50%"}, `-rates: "50%" given twice`},
		{[]string{"-clients", "", "-rates", "50%"}, `-rates: 50% is a percentage of the best closed-loop throughput, but -clients gives no closed-loop level`},
		{[]string{"-workloads", "transfer,nope"}, `-workloads: unknown workload "nope"`},
		{[]string{"-workloads", "get,get"}, `-workloads: "get" given twice`},
		{[]string{"-modes", "direct,proxy"}, `-modes: unknown mode "proxy"`},
		{[]string{"-modes", "direct,direct"}, `-modes: "direct" given twice`},
		{[]string{"-workloads", ""}, "nothing to run: -workloads and -modes must not be empty"},
		{[]string{"-modes", " , "}, "nothing to run"},
		{[]string{"-clients", "", "-rates", ""}, "nothing to run: give -clients, -rates or -burst"},
		{[]string{"-duration", "0s"}, "-duration must be positive"},
		{[]string{"-warmup", "-1s"}, "-warmup not negative"},
		{[]string{"-duration", "300ms", "-rounds", "4"}, "at least 100ms of -duration per round"},
		{[]string{"-rounds", "0"}, "-rounds: want 1 to 100"},
		{[]string{"-accounts", "1"}, "-accounts: want 2 to 10000000"},
		{[]string{"-pool", "0"}, "-pool, -conns and -open-clients must be positive"},
		{[]string{"-burst", "-1"}, "-burst: want 0 to 1000000"},
		{[]string{"-timeout", "0s"}, "-timeout and -max-requests must be positive"},
		{[]string{"-chart", "chart.jpg"}, `-chart: want a .png or .svg file name, got "chart.jpg"`},
		{[]string{"-service-env", "GOMAXPROCS"}, `-service-env: want NAME=VALUE, got "GOMAXPROCS"`},
		{[]string{"-service-env", "=1"}, `got "=1"`},
		{[]string{"-service-env", "GOMAXPROCS=1,DBAPI_COALESCE_MAX=4"}, "-service-env: DBAPI_COALESCE_MAX is the benchmark's to set"},
		{[]string{"-service-env", "DBAPI_COALESCE_WAIT=1ms"}, "give the coalesced mode's in -coalesced-env"},
		{[]string{"-coalesced-env", "DBAPI_COALESCE_MAX"}, `-coalesced-env: want NAME=VALUE, got "DBAPI_COALESCE_MAX"`},
		{[]string{"-mysqld", "fast"}, `-mysqld: unknown profile "fast" (want binlog, replica, or empty for the server -mysql names)`},
		{[]string{"-modes", "service,replica"}, "-modes: replica needs -mysqld replica"},
		{[]string{"-mysqld", "binlog", "-modes", "replica"}, "-modes: replica needs -mysqld replica"},
		{[]string{"-mysqld", "replica", "-modes", "replica,replica"}, `-modes: "replica" given twice`},
		{[]string{"-service-env", "DBAPI_MYSQL_REPLICA_DSN=x"}, "-service-env: DBAPI_MYSQL_REPLICA_DSN is the benchmark's to set"},
		{[]string{"-modes", "direct,coalesced,coalesced"}, `-modes: "coalesced" given twice`},
		{[]string{"-clients", "1", "extra"}, `unexpected argument "extra"`},
	}
	for _, c := range bad {
		_, err := parseFlags(c.args)
		if err == nil {
			t.Errorf("%q: no error, want one with %q", c.args, c.want)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %q, want one with %q", c.args, err, c.want)
		}
	}
}

func TestParseFlagsUnknownFlag(t *testing.T) {
	// The flag package prints the usage to os.Stderr: keep it out of the
	// test output.
	stderr := os.Stderr
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	os.Stderr = devnull
	defer func() { os.Stderr = stderr }()
	_, err = parseFlags([]string{"-nosuchflag"})
	if err == nil || !strings.Contains(err.Error(), "nosuchflag") {
		t.Errorf("unknown flag: error %v", err)
	}
	if _, err := parseFlags([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: error %v, want flag.ErrHelp", err)
	}
}

func TestParseRate(t *testing.T) {
	for _, c := range []struct {
		in      string
		v       float64
		percent bool
		ok      bool
	}{
		{"500", 500, false, true},
		{"50%", 50, true, true},
		{"12.5%", 12.5, true, true},
		{"1e6", 1e6, false, true},
		{"1000001", 0, false, false},
		{"0%", 0, false, false},
		{"", 0, false, false},
		{"NaN", 0, false, false},
		{"+Inf%", 0, false, false},
	} {
		v, percent, err := parseRate(c.in)
		if (err == nil) != c.ok || v != c.v || percent != c.percent || math.IsNaN(v) {
			t.Errorf("parseRate(%q) = %v, %v, %v; want %v, %v, ok %v", c.in, v, percent, err, c.v, c.percent, c.ok)
		}
	}
}

func TestSplitList(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"a", []string{"a"}},
		{" a ,b,, c ", []string{"a", "b", "c"}},
	} {
		if got := splitList(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("splitList(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
