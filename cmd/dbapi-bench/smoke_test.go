package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/dbtest"
)

// TestSmoke runs the tool end to end with tiny settings against a
// database of its own and a dbapi binary built for the test, and checks
// the structure of what it writes, never its speed.
// TestMain lets the test binary stand in for dbapi-bench when the
// handwritten mode starts "this binary" as the hand-written service.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-serve-handwritten" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service; skipped with -short")
	}
	cfg := dbtest.Config(t)
	dbtest.Create(t, cfg) // skips when there is no database server

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := buildDBAPI(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	const head, tail = "# Performance\n\nHand-written introduction.\n\n", "\n## Notes\n\nHand-written notes.\n"
	mdPath := filepath.Join(out, "RESULTS.md")
	if err := os.WriteFile(mdPath, []byte(head+beginMark+"\nold\n"+endMark+"\n"+tail), 0o644); err != nil {
		t.Fatal(err)
	}
	const burst = 200
	workloads, clients := []string{"get", "transfer"}, []int{1, 4}
	o, err := parseFlags([]string{
		"-workloads", "get,transfer", "-clients", "1,4", "-rates", "50%", "-open-clients", "32",
		"-duration", "300ms", "-warmup", "100ms", "-rounds", "1", "-burst", fmt.Sprint(burst),
		"-accounts", "100", "-pool", "4", "-conns", "2",
		"-dbapi", bin, "-mysql", cfg.FormatDSN(), "-out", out, "-chart", "chart.png",
		"-service-log", filepath.Join(out, "dbapi.log"), "-quiet",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, o); err != nil {
		t.Fatalf("run: %v\nservice log:\n%s", err, tailOf(filepath.Join(out, "dbapi.log")))
	}

	var r Results
	js := readFile(t, filepath.Join(out, "results.json"))
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if !strings.HasPrefix(r.Command, "dbapi-bench -workloads get,transfer -clients 1,4") {
		t.Errorf("command %q", r.Command)
	}
	if len(r.Unavailable) != 0 || len(r.Workloads) != len(workloads) {
		t.Errorf("workloads %v, unavailable %v", r.Workloads, r.Unavailable)
	}

	// Every level in every mode, once each.
	type key struct {
		workload, loop, mode string
		clients              int
	}
	seen := map[key]*Level{}
	okBy := map[string]int64{} // workload/mode → successful requests
	for i := range r.Levels {
		l := &r.Levels[i]
		k := key{l.Workload, l.Loop, l.Mode, l.Clients}
		if seen[k] != nil {
			t.Errorf("level %+v twice", k)
		}
		seen[k] = l
		okBy[l.Workload+"/"+l.Mode] += l.OK
		checkLevel(t, l, o)
	}
	// The modes of each workload: the coalesced one for transfer only.
	modes := map[string][]string{
		"get":      {modeDirect, modeHandwritten, modeService},
		"transfer": {modeDirect, modeHandwritten, modeService, modeCoalesced},
	}
	wantLevels := 0
	for _, w := range workloads {
		bestService := 0.0
		for _, n := range clients {
			for _, m := range modes[w] {
				if seen[key{w, loopClosed, m, n}] == nil {
					t.Errorf("%s %s at %d clients: no level", w, m, n)
				}
			}
			if l := seen[key{w, loopClosed, modeService, n}]; l != nil {
				bestService = max(bestService, l.RPS)
			}
		}
		// 50% of the best service throughput, when there was one.
		d, s := seen[key{w, loopOpen, modeDirect, o.OpenClients}], seen[key{w, loopOpen, modeService, o.OpenClients}]
		switch {
		case int(bestService/2) == 0:
			if d != nil || s != nil {
				t.Errorf("%s: open-loop level without a closed-loop service throughput", w)
			}
		case d == nil || s == nil:
			t.Errorf("%s: open-loop level at 50%%: direct %v, service %v", w, d != nil, s != nil)
		case d.Rate != float64(int(bestService/2)) || s.Rate != d.Rate:
			t.Errorf("%s: open-loop rates %v and %v, want 50%% of %v", w, d.Rate, s.Rate, bestService)
		}
		for _, m := range modes[w] {
			if l := seen[key{w, loopOpen, m, o.OpenClients}]; d != nil && (l == nil || l.Rate != d.Rate) {
				t.Errorf("%s %s: no open-loop level at %v req/s", w, m, d.Rate)
			}
			if okBy[w+"/"+m] == 0 {
				t.Errorf("%s %s: no successful request at any level", w, m)
			}
		}
		wantLevels += len(clients) * len(modes[w])
		if d != nil {
			wantLevels += len(modes[w])
		}
	}
	if len(r.Levels) != wantLevels {
		t.Errorf("%d levels, want %d", len(r.Levels), wantLevels)
	}
	if r.Profile != profileDefault {
		t.Errorf("profile %q, want %q", r.Profile, profileDefault)
	}

	// The burst: every request answered, only with 503 overloaded if not ok.
	if b := r.Burst; b == nil {
		t.Error("no burst in results.json")
	} else {
		var errs int64
		for code, n := range b.Errors {
			errs += n
			if code != "overloaded" {
				t.Errorf("burst: %d %s errors", n, code)
			}
		}
		if b.Requests != burst || b.Missing != 0 || b.OK+errs+b.Missing != burst {
			t.Errorf("burst: %d requests, ok %d, errors %v, missing %d", b.Requests, b.OK, b.Errors, b.Missing)
		}
		if b.RSSPeakMiB <= 0 {
			t.Errorf("burst: service peak RSS %v", b.RSSPeakMiB)
		}
	}
	if len(r.ErrorLog) > 0 {
		t.Errorf("the service logged errors:\n%s", strings.Join(r.ErrorLog, "\n"))
	}
	if r.IdleRSSMiB <= 0 {
		t.Errorf("service idle RSS %v", r.IdleRSSMiB)
	}

	// Targets: all of them, those of levels not run not measured.
	if len(withoutHand(r.Targets)) != len(targetKeys) || len(r.Targets) != len(targetKeys)+16 {
		t.Errorf("%d targets, want %d", len(r.Targets), len(targetKeys)+16)
	}
	for _, tg := range r.Targets {
		if strings.Contains(tg.Name, "hand-written") && strings.Contains(tg.Name, " 1 client") && tg.Met == nil {
			t.Errorf("%s: not measured", tg.Name)
		}
	}
	for _, k := range []string{"transfer ratio", "get ratio", "transfer 512", "get rss"} {
		if tg := findTarget(t, r.Targets, k); tg.Met != nil {
			t.Errorf("%s: measured (%s), but the run had no such level", tg.Name, tg.Got)
		}
	}
	if tg := findTarget(t, r.Targets, "burst"); tg.Met == nil {
		t.Errorf("%s: not measured", tg.Name)
	}

	checkChart(t, filepath.Join(out, "chart.png"))

	md := string(readFile(t, mdPath))
	if !strings.HasPrefix(md, head+beginMark+"\n") || !strings.HasSuffix(md, "\n"+endMark+"\n"+tail) {
		t.Errorf("RESULTS.md: the text around the generated block was not kept:\n%s", md)
	}
	if strings.Count(md, beginMark) != 1 || strings.Count(md, endMark) != 1 || strings.Contains(md, "\nold\n") {
		t.Errorf("RESULTS.md: the generated block was not replaced once:\n%s", md)
	}
	for _, want := range []string{
		"Measured " + r.Date + " by `dbapi-bench -workloads get,transfer",
		"![throughput and p99 latency against concurrency](chart.png)",
		"Database profile: **default**: the server that -mysql names",
		"Group commit: dbapi (the service mode) runs with `DBAPI_COALESCE_MAX=1`",
		"| get | closed | 1 |", "| transfer | closed | 4 |", "| transfer | closed | 4 | coalesced |",
		fmt.Sprintf("Burst: %d `transfer` requests published at once", burst),
		"Targets:",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q", want)
		}
	}
}

// checkLevel checks what must hold of any level, whatever the speed.
func checkLevel(t *testing.T, l *Level, o Options) {
	t.Helper()
	name := fmt.Sprintf("%s %s %s %d clients %v req/s", l.Workload, l.Loop, l.Mode, l.Clients, l.Rate)
	for code, n := range l.Errors {
		if code != "overloaded" {
			t.Errorf("%s: %d %s errors", name, n, code)
		}
	}
	// The measured windows of the rounds, whatever was done in them: an
	// open loop's by the clock; a closed loop's from when the counters
	// had been read (a few milliseconds later) to the end.
	want := (o.Duration / time.Duration(o.Rounds) * time.Duration(o.Rounds)).Seconds()
	if l.Loop == loopOpen && l.Seconds != want || l.Loop == loopClosed && (l.Seconds > want || l.Seconds < want/2) {
		t.Errorf("%s: measured %v s, want %v", name, l.Seconds, want)
	}
	if math.Abs(l.RPS-float64(l.OK)/l.Seconds) > 1e-6 {
		t.Errorf("%s: %v req/s for %d ok in %v s", name, l.RPS, l.OK, l.Seconds)
	}
	lat := l.Latency
	if l.OK > 0 && !(1 <= lat.P50 && lat.P50 <= lat.P90 && lat.P90 <= lat.P99 && lat.P99 <= lat.P999 && lat.P999 <= lat.Max && lat.Mean > 0) {
		t.Errorf("%s: latencies out of order: %+v", name, lat)
	}
	if l.OK == 0 && lat != (Latency{}) {
		t.Errorf("%s: latencies %+v without a successful request", name, lat)
	}
	if (l.Service != nil) != (l.Mode != modeDirect) {
		t.Errorf("%s: service usage %+v", name, l.Service)
	}
	if l.Service != nil && l.Service.MaxRSSMiB <= 0 {
		t.Errorf("%s: service RSS not read", name)
	}
	if l.Loop == loopOpen && (l.Clients != o.OpenClients || l.Rate <= 0) || l.Loop == loopClosed && l.Rate != 0 {
		t.Errorf("%s: clients %d, rate %v", name, l.Clients, l.Rate)
	}
	// The server's COMMITs: each transfer of direct, hand-written,
	// service and replica (one transaction per request) commits once. A
	// closed loop counts the requests answered once the counter was read
	// (the window opens then): those committed before the read are at
	// most one per client. An open loop counts the requests due in the
	// window, which a server that falls behind runs after it: no bound
	// holds there. Other sessions' commits only add. The coalesced mode
	// commits less when it groups, so nothing holds of its count but that
	// it was read.
	switch {
	case l.Commits == nil:
		t.Errorf("%s: commits not read", name)
	case l.Workload == "transfer" && l.Loop == loopClosed && l.Mode != modeCoalesced && *l.Commits < l.OK-int64(l.Clients):
		t.Errorf("%s: %d commits for %d requests", name, *l.Commits, l.OK)
	}
}

func tailOf(path string) string {
	b, _ := os.ReadFile(path)
	return string(b[max(0, len(b)-4000):])
}
