package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// lv builds a level; latencies in µs.
func lv(workload, loop, mode string, clients int, rps float64, ok int64, p50, p99 int64) Level {
	return Level{Workload: workload, Loop: loop, Mode: mode, Clients: clients, Seconds: 4, OK: ok, RPS: rps,
		Latency: Latency{P50: p50, P90: p50, P99: p99, P999: p99, Max: p99, Mean: float64(p50)}}
}

func withErrors(l Level, errs map[string]int64) Level { l.Errors = errs; return l }

func withRSS(l Level, mib float64) Level {
	l.Service = &ProcUsage{CPUSeconds: 1, CPUPerReqUS: 50, MaxRSSMiB: mib}
	return l
}

// targetKeys name the targets of evaluate by a prefix of their name.
var targetKeys = map[string]string{
	"transfer ratio": "transfer at 32 clients: service/direct",
	"get ratio":      "get at 32 clients: service/direct",
	"coalesced":      "transfer at 32 clients: coalesced/direct",
	"transfer p50":   "transfer at 1 client: added p50",
	"transfer p99":   "transfer at 1 client: added p99",
	"get p50":        "get at 1 client: added p50",
	"get p99":        "get at 1 client: added p99",
	"transfer 512":   "transfer at 512 clients: service errors",
	"transfer rss":   "transfer at 512 clients: service RSS",
	"get 512":        "get at 512 clients: service errors",
	"get rss":        "get at 512 clients: service RSS",
	"burst":          "", // matched by "outstanding at once"
}

func findTarget(t *testing.T, ts []Target, key string) Target {
	t.Helper()
	var found []Target
	for _, tg := range ts {
		if p := targetKeys[key]; (p != "" && strings.HasPrefix(tg.Name, p)) || (p == "" && strings.Contains(tg.Name, "outstanding at once")) {
			found = append(found, tg)
		}
	}
	if len(found) != 1 {
		t.Fatalf("target %s: found %d", key, len(found))
	}
	return found[0]
}

func metString(m *bool) string {
	switch {
	case m == nil:
		return "not measured"
	case *m:
		return "yes"
	}
	return "no"
}

// goodLevels meet every target, several of them exactly at the limit.
func goodLevels() []Level {
	return []Level{
		lv("transfer", loopClosed, modeDirect, 1, 1600, 6000, 500, 900),
		lv("transfer", loopClosed, modeService, 1, 1400, 5000, 650, 1900), // +150 µs, +1 ms: at the limits
		lv("get", loopClosed, modeDirect, 1, 3000, 9000, 300, 700),
		lv("get", loopClosed, modeService, 1, 2500, 8000, 290, 600), // faster: negative added latency
		lv("transfer", loopClosed, modeDirect, 32, 1000, 4000, 900, 3000),
		lv("transfer", loopClosed, modeService, 32, 950, 3800, 1000, 3500),   // 0.95
		lv("transfer", loopClosed, modeCoalesced, 32, 1200, 4800, 800, 2500), // 1.20 × direct: at the limit
		lv("get", loopClosed, modeDirect, 32, 1000, 4000, 900, 3000),
		lv("get", loopClosed, modeService, 32, 750, 3000, 1000, 3500), // 0.75: at the limit
		lv("transfer", loopClosed, modeDirect, 512, 1000, 4000, 9000, 30000),
		withRSS(withErrors(lv("transfer", loopClosed, modeService, 512, 900, 3600, 9000, 30000), map[string]int64{"overloaded": 12}), 64),
		lv("get", loopClosed, modeDirect, 512, 1000, 4000, 9000, 30000),
		withRSS(lv("get", loopClosed, modeService, 512, 900, 3600, 9000, 30000), 21.5),
	}
}

func goodBurst() *Burst {
	return &Burst{Workload: "transfer", Requests: 10000, OK: 1050, Errors: map[string]int64{"overloaded": 8950}, Seconds: 0.3,
		RSSBeforeMiB: 21, RSSPeakMiB: 23, RSSAfterMiB: 22}
}

func TestEvaluate(t *testing.T) {
	all := func(v string) map[string]string {
		m := map[string]string{}
		for k := range targetKeys {
			m[k] = v
		}
		return m
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	// edit returns goodLevels with f applied to the level of that
	// workload, clients and mode.
	edit := func(workload string, clients int, mode string, f func(*Level)) []Level {
		ls := goodLevels()
		for i := range ls {
			if ls[i].Workload == workload && ls[i].Clients == clients && ls[i].Mode == mode {
				f(&ls[i])
			}
		}
		return ls
	}
	drop := func(workload string, clients int, mode string) []Level {
		var out []Level
		for _, l := range goodLevels() {
			if !(l.Workload == workload && l.Clients == clients && l.Mode == mode) {
				out = append(out, l)
			}
		}
		return out
	}
	burst := func(f func(*Burst)) *Burst { b := goodBurst(); f(b); return b }

	for _, c := range []struct {
		name   string
		levels []Level
		burst  *Burst
		want   map[string]string
	}{
		{"nothing measured", nil, nil, all("not measured")},
		{"every target met", goodLevels(), goodBurst(), all("yes")},
		{"no burst", goodLevels(), nil, with(all("yes"), "burst", "not measured")},
		{"ratio just below", edit("transfer", 32, modeService, func(l *Level) { l.RPS = 899 }), goodBurst(),
			with(all("yes"), "transfer ratio", "no")},
		{"get ratio below", edit("get", 32, modeService, func(l *Level) { l.RPS = 749.9 }), goodBurst(),
			with(all("yes"), "get ratio", "no")},
		{"no direct at 32", drop("transfer", 32, modeDirect), goodBurst(),
			with(all("yes"), "transfer ratio", "not measured", "coalesced", "not measured")},
		{"direct at 32 did nothing", edit("transfer", 32, modeDirect, func(l *Level) { l.RPS, l.OK = 0, 0 }), goodBurst(),
			with(all("yes"), "transfer ratio", "not measured", "coalesced", "not measured")},
		{"coalesced just below", edit("transfer", 32, modeCoalesced, func(l *Level) { l.RPS = 1199.9 }), goodBurst(),
			with(all("yes"), "coalesced", "no")},
		{"coalesced does not count as service", edit("transfer", 32, modeCoalesced, func(l *Level) { l.RPS = 5000 }), goodBurst(),
			all("yes")},
		{"no coalesced at 32", drop("transfer", 32, modeCoalesced), goodBurst(), with(all("yes"), "coalesced", "not measured")},
		{"no service at 32: coalesced still judged", drop("transfer", 32, modeService), goodBurst(),
			with(all("yes"), "transfer ratio", "not measured")},
		{"added p50 1 µs over", edit("transfer", 1, modeService, func(l *Level) { l.Latency.P50 = 651 }), goodBurst(),
			with(all("yes"), "transfer p50", "no")},
		{"added p99 1 µs over", edit("get", 1, modeService, func(l *Level) { l.Latency.P99 = 1701 }), goodBurst(),
			with(all("yes"), "get p99", "no")},
		{"service at 1 client all failed", edit("transfer", 1, modeService, func(l *Level) { l.OK, l.Latency = 0, Latency{} }), goodBurst(),
			with(all("yes"), "transfer p50", "not measured", "transfer p99", "not measured")},
		{"no service at 1 client", drop("get", 1, modeService), goodBurst(),
			with(all("yes"), "get p50", "not measured", "get p99", "not measured")},
		{"timeouts at 512", edit("transfer", 512, modeService, func(l *Level) { l.Errors["requester_timeout"] = 3 }), goodBurst(),
			with(all("yes"), "transfer 512", "no")},
		{"errors of direct do not count", edit("get", 512, modeDirect, func(l *Level) { l.Errors = map[string]int64{"deadlock": 1} }), goodBurst(),
			all("yes")},
		{"RSS over", edit("get", 512, modeService, func(l *Level) { l.Service.MaxRSSMiB = 64.1 }), goodBurst(),
			with(all("yes"), "get rss", "no")},
		{"RSS not read", edit("get", 512, modeService, func(l *Level) { l.Service = nil }), goodBurst(),
			with(all("yes"), "get rss", "not measured")},
		{"no service at 512", drop("transfer", 512, modeService), goodBurst(),
			with(all("yes"), "transfer 512", "not measured", "transfer rss", "not measured")},
		{"burst missing a reply", goodLevels(), burst(func(b *Burst) { b.Missing = 1 }), with(all("yes"), "burst", "no")},
		{"burst other error", goodLevels(), burst(func(b *Burst) { b.Errors["requester_timeout"] = 1 }), with(all("yes"), "burst", "no")},
		{"burst RSS over", goodLevels(), burst(func(b *Burst) { b.RSSPeakMiB = 65 }), with(all("yes"), "burst", "no")},
		{"burst RSS not read", goodLevels(), burst(func(b *Burst) { b.RSSPeakMiB = 0 }), with(all("yes"), "burst", "no")},
		{"burst all ok", goodLevels(), burst(func(b *Burst) { b.OK, b.Errors = 10000, nil }), all("yes")},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := withoutHand(evaluate(&Results{Levels: c.levels, Burst: c.burst}))
			if len(ts) != len(targetKeys) {
				t.Fatalf("%d targets, want %d", len(ts), len(targetKeys))
			}
			for key, want := range c.want {
				tg := findTarget(t, ts, key)
				if got := metString(tg.Met); got != want {
					t.Errorf("%s: met %s, want %s (got %q)", tg.Name, got, want, tg.Got)
				}
				if (tg.Met == nil) != (tg.Got == "not measured") {
					t.Errorf("%s: met %v but got %q", tg.Name, metString(tg.Met), tg.Got)
				}
			}
		})
	}
}

// withoutHand drops the targets against the hand-written service, which
// TestHandTargets checks.
func withoutHand(ts []Target) []Target {
	var out []Target
	for _, t := range ts {
		if !strings.Contains(t.Name, "hand-written") {
			out = append(out, t)
		}
	}
	return out
}

func TestHandTargets(t *testing.T) {
	// good meets every target against the hand-written service, several
	// exactly at the limit.
	good := func() []Level {
		var ls []Level
		for _, w := range []string{"transfer", "get"} {
			for _, n := range []int{1, 8, 32, 128, 512} {
				h := withRSS(lv(w, loopClosed, modeHandwritten, n, 1000, 4000, 500, 9000), 20)
				s := withRSS(lv(w, loopClosed, modeService, n, 1000, 4000, 530, 9000), 20) // ratio 1.00, +30 µs, same p99
				h.Service.CPUPerReqUS, s.Service.CPUPerReqUS = 200, 200
				ls = append(ls, lv(w, loopClosed, modeDirect, n, 2000, 8000, 300, 900), h, s)
			}
		}
		return ls
	}
	edit := func(w string, n int, mode string, f func(*Level)) []Level {
		ls := good()
		for i := range ls {
			if ls[i].Workload == w && ls[i].Clients == n && ls[i].Mode == mode {
				f(&ls[i])
			}
		}
		return ls
	}
	for _, c := range []struct {
		name   string
		levels []Level
		want   map[string]string // target name → met
	}{
		{"every target met", good(), nil},
		{"nothing measured", nil, map[string]string{"*": "not measured"}},
		{"ratio just below", edit("get", 8, modeService, func(l *Level) { l.RPS = 999.9 }),
			map[string]string{"get at 8 clients: dbapi/hand-written requests/s": "no"}},
		{"p50 1 µs over", edit("transfer", 1, modeService, func(l *Level) { l.Latency.P50 = 531 }),
			map[string]string{"transfer at 1 client: p50 dbapi adds over hand-written": "no"}},
		{"more CPU", edit("get", 32, modeService, func(l *Level) { l.Service.CPUPerReqUS = 200.5 }),
			map[string]string{"get at 32 clients: dbapi CPU per request over hand-written": "no"}},
		{"CPU not read", edit("get", 32, modeHandwritten, func(l *Level) { l.Service = nil }),
			map[string]string{"get at 32 clients: dbapi CPU per request over hand-written": "not measured"}},
		{"worse p99", edit("transfer", 512, modeService, func(l *Level) { l.Latency.P99 = 9001 }),
			map[string]string{"transfer at 512 clients: p99 of dbapi against hand-written": "no"}},
		{"no hand-written at 128", edit("get", 128, modeHandwritten, func(l *Level) { l.Mode = "other" }),
			map[string]string{"get at 128 clients: dbapi/hand-written requests/s": "not measured", "get at 128 clients: p99 of dbapi against hand-written": "not measured"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := handTargets(pairs(c.levels))
			if len(ts) != 16 {
				t.Fatalf("%d targets, want 16", len(ts))
			}
			for _, tg := range ts {
				want, ok := c.want[tg.Name]
				if !ok {
					want, ok = c.want["*"]
				}
				if !ok {
					want = "yes"
				}
				if got := metString(tg.Met); got != want {
					t.Errorf("%s: met %s, want %s (got %q)", tg.Name, got, want, tg.Got)
				}
			}
		})
	}
}

func TestEvaluateGot(t *testing.T) {
	r := &Results{Levels: edit512(goodLevels()), Burst: goodBurst()}
	ts := evaluate(r)
	for key, want := range map[string]string{
		"transfer ratio": "0.95 (950 / 1000)",
		"get ratio":      "0.75 (750 / 1000)",
		"coalesced":      "1.20 (1200 / 1000)",
		"transfer p50":   "150 µs (650 µs - 500 µs)",
		"transfer p99":   "1.00 ms (1.90 ms - 900 µs)",
		"get p50":        "-10 µs (290 µs - 300 µs)",
		"transfer 512":   "requester_timeout=3",
		"transfer rss":   "64.0 MiB",
		"get 512":        "-",
		"burst":          "ok 1050, errors overloaded=8950, missing 0, RSS 21.0 → peak 23.0 MiB",
	} {
		if got := findTarget(t, ts, key).Got; got != want {
			t.Errorf("%s: got %q, want %q", key, got, want)
		}
	}
	if b := findTarget(t, ts, "burst"); !strings.HasPrefix(b.Name, "10000 requests outstanding at once") {
		t.Errorf("burst target named %q", b.Name)
	}
}

func edit512(ls []Level) []Level {
	for i := range ls {
		if ls[i].Workload == "transfer" && ls[i].Clients == 512 && ls[i].Mode == modeService {
			ls[i].Errors = map[string]int64{"overloaded": 12, "requester_timeout": 3}
		}
	}
	return ls
}

func TestPairRatioAndAdded(t *testing.T) {
	d := lv("get", loopClosed, modeDirect, 8, 2000, 100, 400, 1000)
	s := lv("get", loopClosed, modeService, 8, 1500, 80, 520, 2500)
	zero := d
	zero.RPS, zero.OK = 0, 0
	for _, c := range []struct {
		name            string
		direct, service *Level
		ratio           float64
		ratioOK         bool
		add50, add99    int64
		addOK           bool
	}{
		{"both", &d, &s, 0.75, true, 120, 1500, true},
		{"service faster", &s, &d, 2000.0 / 1500, true, -120, -1500, true},
		{"no service", &d, nil, 0, false, 0, 0, false},
		{"no direct", nil, &s, 0, false, 0, 0, false},
		{"direct did nothing", &zero, &s, 0, false, 0, 0, false},
		{"service did nothing", &s, &zero, 0, true, 0, 0, false},
	} {
		p := &pair{workload: "get", loop: loopClosed, clients: 8, direct: c.direct, service: c.service}
		r, ok := p.ratio()
		if ok != c.ratioOK || r != c.ratio {
			t.Errorf("%s: ratio %v, %v; want %v, %v", c.name, r, ok, c.ratio, c.ratioOK)
		}
		a50, ok50 := p.added(p50)
		a99, ok99 := p.added(p99)
		if ok50 != c.addOK || ok99 != c.addOK || a50 != c.add50 || a99 != c.add99 {
			t.Errorf("%s: added %v,%v / %v,%v; want %v / %v, %v", c.name, a50, ok50, a99, ok99, c.add50, c.add99, c.addOK)
		}
	}
}

func TestPairs(t *testing.T) {
	open := func(mode string, rate float64) Level {
		l := lv("get", loopOpen, mode, 1024, rate, 10, 1, 2)
		l.Rate = rate
		return l
	}
	levels := []Level{
		lv("get", loopClosed, modeDirect, 1, 1, 1, 1, 1),
		lv("get", loopClosed, modeService, 1, 1, 1, 1, 1),
		lv("get", loopClosed, modeService, 8, 1, 1, 1, 1), // service only
		lv("transfer", loopClosed, modeDirect, 1, 1, 1, 1, 1),
		lv("transfer", loopClosed, modeCoalesced, 1, 1, 1, 1, 1),
		lv("transfer", loopClosed, modeHandwritten, 1, 1, 1, 1, 1),
		lv("transfer", loopClosed, modeCoalesced, 8, 1, 1, 1, 1), // coalesced only
		open(modeDirect, 500), open(modeService, 500), open(modeDirect, 900.5), open(modeService, 900.5),
	}
	ps := pairs(levels)
	var got []string
	has := func(l *Level, c string) string {
		if l != nil {
			return c
		}
		return "-"
	}
	for _, p := range ps {
		got = append(got, strings.Join([]string{p.workload, p.loop, p.level(), has(p.direct, "D") + has(p.hand, "H") + has(p.service, "S") + has(p.coalesced, "C")}, " "))
	}
	want := []string{"get closed 1 D-S-", "get closed 8 --S-", "transfer closed 1 DH-C", "transfer closed 8 ---C", "get open 500 req/s D-S-", "get open 900 req/s D-S-"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pairs:\n got %q\nwant %q", got, want)
	}
	if p := findPair(ps, "get", loopClosed, 8); p == nil || p.service == nil || p.direct != nil {
		t.Errorf("findPair get/closed/8 = %+v", p)
	}
	if p := findPair(ps, "get", loopClosed, 32); p != nil {
		t.Errorf("findPair of a level not run = %+v", p)
	}
	// The ratios of the coalesced mode.
	p := findPair(ps, "transfer", loopClosed, 1)
	if v, ok := p.coalescedRatio(); !ok || v != 1 {
		t.Errorf("coalesced/direct = %v, %v; want 1, true", v, ok)
	}
	if v, ok := p.coalescedGain(); ok {
		t.Errorf("coalesced/service without service = %v, want none", v)
	}
}

func TestFmtUS(t *testing.T) {
	for us, want := range map[int64]string{
		0: "0 µs", 999: "999 µs", -999: "-999 µs", 1000: "1.00 ms", -1500: "-1.50 ms",
		999_999: "1000.00 ms", 1_000_000: "1.00 s", 2_500_000: "2.50 s", -3_000_000: "-3.00 s",
	} {
		if got := fmtUS(us); got != want {
			t.Errorf("fmtUS(%d) = %q, want %q", us, got, want)
		}
	}
}

func TestErrString(t *testing.T) {
	for _, c := range []struct {
		m    map[string]int64
		want string
	}{
		{nil, "-"},
		{map[string]int64{}, "-"},
		{map[string]int64{"overloaded": 3}, "overloaded=3"},
		{map[string]int64{"timeout": 1, "deadlock": 2, "overloaded": 3}, "deadlock=2 overloaded=3 timeout=1"},
	} {
		if got := errString(c.m); got != c.want {
			t.Errorf("errString(%v) = %q, want %q", c.m, got, c.want)
		}
	}
}

func TestWriteTables(t *testing.T) {
	// base is goodLevels without the coalesced mode, a batch level of
	// direct only and a hand-written level at 32 clients.
	base := func() []Level {
		var ls []Level
		for _, l := range goodLevels() {
			if l.Mode != modeCoalesced {
				ls = append(ls, l)
			}
		}
		hand := withRSS(lv("transfer", loopClosed, modeHandwritten, 32, 1000, 4000, 800, 5000), 20)
		hand.Service.CPUPerReqUS = 120
		return append(ls, lv("batch", loopClosed, modeDirect, 8, 300, 1200, 3000, 9000), hand)
	}
	coalesced := func() []Level {
		co := withRSS(withErrors(lv("transfer", loopClosed, modeCoalesced, 32, 1500, 6000, 700, 2500), map[string]int64{"overloaded": 4}), 22)
		co.Service.CPUPerReqUS = 90
		co.Commits = new(int64)
		*co.Commits = 1500
		one := lv("transfer", loopClosed, modeCoalesced, 1, 1200, 4800, 600, 1000)
		return append(base(), co, one)
	}
	for _, c := range []struct {
		name   string
		levels []Level
		want   []string
		rows   int // transfer rows: comparison and detail
	}{
		{"without coalesced: three modes", base(), []string{
			"| workload | loop | clients / rate | direct req/s | hand-written req/s | dbapi req/s | dbapi/hand-written | dbapi/direct | " +
				"p50 direct / hand-written / dbapi | p99 direct / hand-written / dbapi | dbapi added p50 over hand-written | dbapi errors | " +
				"CPU/req hand-written / dbapi | dbapi RSS |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n",
			// dbapi/hand-written in bold, dbapi/direct, p50 and p99 of each
			// mode, p50 dbapi adds over hand-written
			"| transfer | closed | 32 | 1000 | 1000 | 950 | **0.95** | 0.95 | 900 µs / 800 µs / 1.00 ms | 3.00 ms / 5.00 ms / 3.50 ms | 200 µs | - | 120 µs / - | - |",
			// no hand-written level: its cells are "-"
			"| transfer | closed | 1 | 1600 | - | 1400 | - | 0.88 | 500 µs / - / 650 µs | 900 µs / - / 1.90 ms | - | - | - / - | - |",
			"| get | closed | 1 | 3000 | - | 2500 | - | 0.83 | 300 µs / - / 290 µs | 700 µs / - / 600 µs | - |",
			"| transfer | closed | 512 | 1000 | - | 900 | - | 0.90 | 9.00 ms / - / 9.00 ms | 30.00 ms / - / 30.00 ms | - | overloaded=12 | - / 50 µs | 64.0 MiB |",
			// a level without service: no ratio, no added latency
			"| batch | closed | 8 | 300 | - | - | - | - | 3.00 ms / - / - | 9.00 ms / - / - | - | - | - / - | - |",
			"| transfer | closed | 32 | handwritten | 4000 | 1000 |",
			"| batch | closed | 8 | direct | 1200 | 300 |",
			// commits not read: "-"
			"| 0.00 | - | - | 0.00 | 0.0 |",
		}, 3 + 7},
		{"with coalesced: four modes", coalesced(), []string{
			"| workload | loop | clients / rate | direct req/s | hand-written req/s | dbapi req/s | coalesced req/s | dbapi/hand-written | dbapi/direct | " +
				"coalesced/direct | coalesced/dbapi | p50 direct / hand-written / dbapi / coalesced | p99 direct / hand-written / dbapi / coalesced | " +
				"dbapi added p50 over hand-written | dbapi errors | coalesced errors | CPU/req hand-written / dbapi / coalesced | dbapi RSS |\n" +
				"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|\n",
			// coalesced/direct in bold like dbapi/hand-written, then
			// coalesced/dbapi; a fourth latency, coalesced errors and CPU
			"| transfer | closed | 32 | 1000 | 1000 | 950 | 1500 | **0.95** | 0.95 | **1.50** | 1.58 | 900 µs / 800 µs / 1.00 ms / 700 µs | " +
				"3.00 ms / 5.00 ms / 3.50 ms / 2.50 ms | 200 µs | - | overloaded=4 | 120 µs / - / 90 µs | - |",
			"| transfer | closed | 1 | 1600 | - | 1400 | 1200 | - | 0.88 | **0.75** | 0.86 | 500 µs / - / 650 µs / 600 µs | 900 µs / - / 1.90 ms / 1.00 ms | - | - | - | - / - / - | - |",
			// a workload without the coalesced mode: its cells are "-"
			"| get | closed | 1 | 3000 | - | 2500 | - | - | 0.83 | - | - | 300 µs / - / 290 µs / - | 700 µs / - / 600 µs / - | - | - | - | - / - / - | - |",
			"| batch | closed | 8 | 300 | - | - | - | - | - | - | - | 3.00 ms / - / - / - | 9.00 ms / - / - / - | - | - | - | - / - / - | - |",
			// the detail row, with commits per request
			"| transfer | closed | 32 | coalesced | 6000 | 1500 | 700 µs | 700 µs | 2.50 ms | 2.50 ms | 2.50 ms | overloaded=4 | 1.00 | 22.0 MiB | 0.00 | - | 0.25 | 0.00 | 0.0 |",
		}, 3 + 7 + 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			writeTables(&b, &Results{Levels: c.levels})
			out := b.String()
			for _, want := range c.want {
				if !strings.Contains(out, want) {
					t.Errorf("tables lack %q:\n%s", want, out)
				}
			}
			// One comparison row per level, one detail row per level and mode.
			if n := strings.Count(out, "\n| transfer | closed |"); n != c.rows {
				t.Errorf("%d transfer rows, want %d", n, c.rows)
			}
		})
	}
}

func TestWriteTargets(t *testing.T) {
	var b bytes.Buffer
	writeTargets(&b, &Results{Targets: []Target{
		{Name: "a", Want: ">= 1", Got: "2", Met: boolp(true)},
		{Name: "b", Want: ">= 1", Got: "0", Met: boolp(false)},
		{Name: "c", Want: ">= 1", Got: "not measured"},
	}})
	want := "| target | want | got | met |\n|---|---|---|---|\n| a | >= 1 | 2 | yes |\n| b | >= 1 | 0 | **no** |\n| c | >= 1 | not measured | not measured |\n"
	if b.String() != want {
		t.Errorf("targets:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestSpliceGenerated(t *testing.T) {
	block := beginMark + "\nNEW\n" + endMark + "\n"
	oldBlock := beginMark + "\nold numbers\nmore\n" + endMark
	for _, c := range []struct {
		name   string
		old    string
		exists bool
		want   string // "" for an error
	}{
		{"no file", "", false, "# Benchmark results\n\n" + block},
		{"empty file", "", true, block},
		{"replaced, text around kept", "# Perf\n\nhand-written intro\n\n" + oldBlock + "\n\n## What changed\n\nnotes\n", true,
			"# Perf\n\nhand-written intro\n\n" + block + "\n## What changed\n\nnotes\n"},
		{"block at the end without newline", "intro\n" + oldBlock, true, "intro\n" + block},
		{"block at the start", oldBlock + "\ntail\n", true, block + "tail\n"},
		{"empty block", "a\n" + beginMark + endMark + "b\n", true, "a\n" + block + "b\n"},
		{"no markers: appended, text kept", "# My notes\n\nkeep me", true, "# My notes\n\nkeep me\n\n" + block},
		{"no markers, ends with newline", "keep me\n", true, "keep me\n\n" + block},
		{"begin only", "a\n" + beginMark + "\nb\n", true, ""},
		{"end only", "a\n" + endMark + "\nb\n", true, ""},
		{"end before begin", endMark + "\nx\n" + beginMark + "\n", true, ""},
		{"two blocks", oldBlock + "\n" + oldBlock + "\n", true, ""},
	} {
		got, err := spliceGenerated(c.old, c.exists, "NEW\n")
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%s: no error, got\n%s", c.name, got)
		case c.want != "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && got != c.want:
			t.Errorf("%s: got\n%q\nwant\n%q", c.name, got, c.want)
		case c.want != "":
			// Splicing again changes nothing but the block.
			again, err := spliceGenerated(got, true, "NEW\n")
			if err != nil || again != got {
				t.Errorf("%s: second splice: %v\n%q", c.name, err, again)
			}
		}
	}
}

// fullResults is a run's results as run builds them, before JSON.
func fullResults() *Results {
	levels := goodLevels()
	levels[0].Errors = map[string]int64{"deadlock": 2}
	levels[0].Database = &ProcUsage{CPUSeconds: 1.25, CPUPerReqUS: 208.3333}
	levels[0].Bench = ProcUsage{CPUSeconds: 0.5, CPUPerReqUS: 83.33333333333333}
	levels[0].OtherCPUSeconds, levels[0].Load1 = 0.12, 1.5
	for i := range levels {
		if levels[i].Mode == modeCoalesced {
			levels[i].Commits = new(int64)
			*levels[i].Commits = 960 // 0.20 per request
		}
	}
	open := lv("get", loopOpen, modeService, 1024, 1249.5, 4998, 300, 800)
	open.Rate = 1250
	levels = append(levels, open)
	r := &Results{
		Date:    "2026-11-25 09:25 UTC",
		Profile: "binlog",
		Machine: Machine{CPUs: 2, CPUModel: "AMD EPYC", MemoryGiB: 24, OS: "linux/amd64", Kernel: "6.1", GoVersion: "go1.26.8", Database: "10.11.19-MariaDB", FlushAtTrx: "1", BinLog: "1", SyncBinlog: "1"},
		Command: "dbapi-bench -clients 1,32,512 -rates 50% -mysqld binlog",
		Settings: map[string]any{
			"duration_s": 4.0, "warmup_s": 0.5, "accounts": 1_000_000, "rounds": 4, "pool": 16, "conns": 4,
			"open_clients": 1024, "overload_wait_ms": int64(10), "service_env": "GOMAXPROCS=1", "coalesced_env": "DBAPI_COALESCE_WAIT=2ms",
			"nats": "embedded in the benchmark process",
		},
		Workloads:   map[string]string{"transfer": workloadDefs["transfer"].desc, "get": workloadDefs["get"].desc, "batch": workloadDefs["batch"].desc},
		Unavailable: map[string]string{"batch": "the service does not answer dbapibench.batch (no_responders)"},
		Levels:      levels,
		Burst:       goodBurst(),
		IdleRSSMiB:  12.25,
		ErrorLog:    []string{`{"level":"ERROR","msg":"boom"}`, strings.Repeat("x", 400)},
	}
	r.Targets = evaluate(r)
	return r
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReportRedrawRoundTrip writes a run's report, then redraws it from
// results.json alone (-redraw): results.json and RESULTS.md come out the
// same, and the text around the generated block is kept.
func TestReportRedrawRoundTrip(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "RESULTS.md")
	const head, tail = "# Performance\n\nWritten by hand.\n\n", "\n## Profile\n\nAlso by hand.\n"
	if err := os.WriteFile(md, []byte(head+beginMark+"\nstale\n"+endMark+"\n"+tail), 0o644); err != nil {
		t.Fatal(err)
	}
	r := fullResults()
	if err := (&bench{o: &Options{Out: dir}, results: r}).report(); err != nil {
		t.Fatal(err)
	}
	json1, md1 := readFile(t, filepath.Join(dir, "results.json")), string(readFile(t, md))
	if !strings.HasPrefix(md1, head+beginMark+"\n") || !strings.HasSuffix(md1, endMark+"\n"+tail) || strings.Contains(md1, "stale") {
		t.Fatalf("RESULTS.md: text around the block not kept or block not replaced:\n%s", md1)
	}
	for _, want := range []string{
		"Measured 2026-11-25 09:25 UTC by `dbapi-bench -clients 1,32,512 -rates 50% -mysqld binlog`.\n\n" +
			"Database profile: **binlog**: a mariadbd of the benchmark's own where commits cost most: binary log on and synced at each commit (--log-bin --sync-binlog=1)",
		"(innodb_flush_log_at_trx_commit=1, log_bin=1, sync_binlog=1)",
		"Group commit: dbapi (the service mode) runs with `DBAPI_COALESCE_MAX=1`",
		"with group commit on (`DBAPI_COALESCE_WAIT=2ms`)",
		"| transfer | closed | 32 | 1000 | - | 950 | 1200 | - | 0.95 | **1.20** | 1.26 |",
		"| transfer | closed | 32 | coalesced | 4800 | 1200 |",
		"| coalesced | 4800 | 1200 | 800 µs | 800 µs | 2.50 ms | 2.50 ms | 2.50 ms | - | - | - | 0.00 | - | 0.20 | 0.00 | 0.0 |",
		"Settings: 4 s per level and mode, in 4 rounds that alternate the modes, after 0.5 s of warm-up",
		"1000000 accounts, pool 16 connections",
		"- `batch`: 10 accounts.transfer steps in one transaction — **not available**: the service does not answer",
		"Service RSS when idle after start: 12.2 MiB.",
		"Burst: 10000 `transfer` requests published at once: ok 1050, errors overloaded=8950, missing 0",
		"| get | open | 1250 req/s | - | - | 1250 |",
		"Targets:\n\n| target | want | got | met |",
		"Errors the service logged (first distinct lines):\n\n```\n{\"level\":\"ERROR\",\"msg\":\"boom\"}\n" + strings.Repeat("x", 300) + "...\n```\n",
	} {
		if !strings.Contains(md1, want) {
			t.Errorf("RESULTS.md lacks %q", want)
		}
	}
	if strings.Contains(md1, "![") {
		t.Errorf("RESULTS.md links a chart, but -chart was empty")
	}

	// results.json holds what was measured.
	var back Results
	if err := json.Unmarshal(json1, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Levels, r.Levels) || !reflect.DeepEqual(back.Burst, r.Burst) || !reflect.DeepEqual(back.Machine, r.Machine) ||
		!reflect.DeepEqual(back.Targets, r.Targets) || !reflect.DeepEqual(back.Unavailable, r.Unavailable) || !reflect.DeepEqual(back.ErrorLog, r.ErrorLog) {
		t.Errorf("results.json does not round-trip:\n%s", json1)
	}

	// -redraw from results.json alone gives the same files.
	os.WriteFile(md, []byte(head+beginMark+"\nstale again\n"+endMark+"\n"+tail), 0o644)
	o, err := parseFlags([]string{"-redraw", "-out", dir, "-chart", ""})
	if err != nil {
		t.Fatal(err)
	}
	if err := redraw(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if json2 := readFile(t, filepath.Join(dir, "results.json")); !bytes.Equal(json2, json1) {
		t.Errorf("results.json after -redraw:\n%s\nwant:\n%s", json2, json1)
	}
	if md2 := string(readFile(t, md)); md2 != md1 {
		t.Errorf("RESULTS.md after -redraw:\n%s\nwant:\n%s", md2, md1)
	}
}

func TestRedrawCharts(t *testing.T) {
	dir := t.TempDir()
	js, err := json.Marshal(fullResults())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, chart := range []string{"chart.svg", "chart.png"} {
		if err := redraw(context.Background(), Options{Out: dir, Chart: chart}); err != nil {
			t.Fatal(err)
		}
		checkChart(t, filepath.Join(dir, chart))
		if md := readFile(t, filepath.Join(dir, "RESULTS.md")); !bytes.Contains(md, []byte("]("+chart+")")) {
			t.Errorf("RESULTS.md does not link %s", chart)
		}
	}
}

// checkChart fails unless path is a PNG or SVG image, as its name says.
func checkChart(t *testing.T, path string) {
	t.Helper()
	b := readFile(t, path)
	switch filepath.Ext(path) {
	case ".png":
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("%s is not a PNG (%d bytes)", path, len(b))
		}
	case ".svg":
		if !bytes.Contains(b[:min(len(b), 512)], []byte("<svg")) || !bytes.HasSuffix(bytes.TrimSpace(b), []byte("</svg>")) {
			t.Errorf("%s is not an SVG (%d bytes)", path, len(b))
		}
	default:
		t.Fatalf("chart %s: unknown format", path)
	}
}

func TestRedrawErrors(t *testing.T) {
	dir := t.TempDir()
	if err := redraw(context.Background(), Options{Out: dir}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no results.json: %v", err)
	}
	path := filepath.Join(dir, "results.json")
	os.WriteFile(path, []byte(`{"levels": [`), 0o644)
	if err := redraw(context.Background(), Options{Out: dir}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("broken results.json: %v", err)
	}
	// A RESULTS.md whose markers are broken is left alone.
	os.WriteFile(path, []byte(`{"levels": []}`), 0o644)
	md := filepath.Join(dir, "RESULTS.md")
	broken := "notes\n" + beginMark + "\nno end\n"
	os.WriteFile(md, []byte(broken), 0o644)
	if err := redraw(context.Background(), Options{Out: dir}); err == nil || !strings.Contains(err.Error(), "RESULTS.md") {
		t.Errorf("broken markers: %v", err)
	}
	if got := string(readFile(t, md)); got != broken {
		t.Errorf("RESULTS.md with broken markers was rewritten:\n%s", got)
	}
}

func TestResolveRate(t *testing.T) {
	b := &bench{results: &Results{Levels: []Level{
		lv("get", loopClosed, modeDirect, 1, 5000, 1, 1, 1),
		lv("get", loopClosed, modeService, 1, 1000, 1, 1, 1),
		lv("get", loopClosed, modeService, 8, 2001, 1, 1, 1),
		lv("get", loopOpen, modeService, 1024, 9000, 1, 1, 1), // open levels are not a base
		lv("transfer", loopClosed, modeDirect, 8, 800, 1, 1, 1),
	}}}
	for _, c := range []struct {
		workload, rate string
		want           float64
	}{
		{"get", "500", 500},
		{"get", "12.5", 12.5},
		{"get", "50%", 1000}, // of the best service throughput, in whole requests/s
		{"get", "90%", 1800},
		{"get", "100%", 2001},
		{"transfer", "50%", 400}, // no service levels: of direct
		{"batch", "50%", 0},      // nothing to take a percentage of
		{"batch", "70", 70},
	} {
		if got := b.resolveRate(c.workload, c.rate); got != c.want {
			t.Errorf("resolveRate(%s, %s) = %v, want %v", c.workload, c.rate, got, c.want)
		}
	}
}
