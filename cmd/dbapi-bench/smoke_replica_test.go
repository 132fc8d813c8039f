package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/dbtest"
)

// TestSmokeReplica runs the tool end to end in the replica profile, with
// tiny settings: a primary and a replica of its own, get and transfer in
// the direct, service and replica modes. It checks where the statements
// ran (the servers' own counters), never the speed, and that the servers
// and their folder are gone at the end.
func TestSmokeReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service on two mariadbd; skipped with -short")
	}
	requireMariaDB(t)
	cfg := dbtest.Config(t) // the database name and parameters only

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := buildDBAPI(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the servers' folder and the services'

	out := t.TempDir()
	const clients = 4
	o, err := parseFlags([]string{
		"-mysqld", "replica", "-workloads", "get,transfer", "-modes", "direct,service,replica",
		"-clients", "1,4", "-duration", "600ms", "-warmup", "100ms", "-rounds", "2",
		"-accounts", "100", "-pool", "4", "-conns", "2",
		"-dbapi", bin, "-mysql", cfg.FormatDSN(), "-out", out, "-chart", "chart.png",
		"-service-log", filepath.Join(out, "dbapi.log"), "-quiet",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, o); err != nil {
		t.Fatalf("run: %v\nreplica-mode service log:\n%s", err, tailOf(filepath.Join(out, "dbapi.log.replica")))
	}
	if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
		t.Errorf("left behind in %s: %v (%v)", tmp, entries, err)
	}
	if pid := mariadbdIn(tmp); pid != "" {
		t.Errorf("mariadbd %s still runs on %s", pid, tmp)
	}

	var r Results
	if err := json.Unmarshal(readFile(t, filepath.Join(out, "results.json")), &r); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if r.Profile != profileReplica || r.Machine.BinLog != "1" || len(r.Unavailable) != 0 {
		t.Errorf("profile %q, log_bin %q, unavailable %v", r.Profile, r.Machine.BinLog, r.Unavailable)
	}
	if len(r.ErrorLog) > 0 {
		t.Errorf("the services logged errors:\n%s", strings.Join(r.ErrorLog, "\n"))
	}
	type key struct {
		workload, mode string
		clients        int
	}
	seen := map[key]*Level{}
	for i := range r.Levels {
		l := &r.Levels[i]
		seen[key{l.Workload, l.Mode, l.Clients}] = l
		checkLevel(t, l, o)
		if l.Database == nil || l.Replica == nil || l.Selects == nil || l.ReplicaReads == nil {
			t.Errorf("%s %s %d: primary %v, replica %v, selects %v, replica reads %v not measured",
				l.Workload, l.Mode, l.Clients, l.Database, l.Replica, l.Selects, l.ReplicaReads)
		}
	}
	if len(r.Levels) != 2*3*2 {
		t.Errorf("%d levels, want 12", len(r.Levels))
	}
	// Where the statements ran, by the servers' counters. They are read
	// a moment after the window opens and closes (a few requests off),
	// and the replica-mode service checks the replica once a second:
	// hence the slack.
	slack := func(l *Level) int64 { return 10 + l.OK/10 }
	for _, n := range []int{1, clients} {
		svc, rep := seen[key{"get", modeService, n}], seen[key{"get", modeReplica, n}]
		if svc == nil || rep == nil || svc.OK == 0 || rep.OK == 0 || svc.Selects == nil || rep.Selects == nil || svc.ReplicaReads == nil || rep.ReplicaReads == nil {
			t.Errorf("get at %d clients: service %+v, replica %+v", n, svc, rep)
			continue
		}
		// Each get is one SELECT: on the primary without the replica,
		// on the replica with it.
		if *svc.Selects < svc.OK-slack(svc) || *svc.ReplicaReads > slack(svc) {
			t.Errorf("get service at %d clients: %d ok, %d SELECTs on the primary, %d on the replica", n, svc.OK, *svc.Selects, *svc.ReplicaReads)
		}
		if *rep.ReplicaReads < rep.OK-slack(rep) || *rep.Selects > slack(rep) {
			t.Errorf("get replica at %d clients: %d ok, %d SELECTs on the primary, %d on the replica", n, rep.OK, *rep.Selects, *rep.ReplicaReads)
		}
		// The server that ran the reads used the more CPU (hundreds of
		// requests of tens of µs each, against a health check).
		if svc.Database != nil && svc.Replica != nil && svc.Database.CPUSeconds <= svc.Replica.CPUSeconds {
			t.Errorf("get service at %d clients: CPU of the primary %v s, of the replica %v s", n, svc.Database.CPUSeconds, svc.Replica.CPUSeconds)
		}
		if rep.Database != nil && rep.Replica != nil && rep.Replica.CPUSeconds <= rep.Database.CPUSeconds {
			t.Errorf("get replica at %d clients: CPU of the primary %v s, of the replica %v s", n, rep.Database.CPUSeconds, rep.Replica.CPUSeconds)
		}
	}
	// A transfer with the replica reads its position after COMMIT: one
	// SELECT more per request on the primary.
	if svc, rep := seen[key{"transfer", modeService, 1}], seen[key{"transfer", modeReplica, 1}]; svc == nil || rep == nil || svc.OK < 20 || rep.OK < 20 {
		t.Errorf("transfer at 1 client: too few requests to compare: %+v, %+v", svc, rep)
	} else if a, b := float64(*svc.Selects)/float64(svc.OK), float64(*rep.Selects)/float64(rep.OK); b-a < 0.7 || b-a > 1.3 {
		t.Errorf("transfer at 1 client: %.2f SELECTs per request on the primary with the replica, %.2f without: want one more", b, a)
	}
	for _, name := range []string{"the primary's CPU per read", "SELECTs the replica ran per read"} {
		found := false
		for _, tg := range r.Targets {
			found = found || strings.Contains(tg.Name, name)
		}
		if !found {
			t.Errorf("no target %q", name)
		}
	}
	checkChart(t, filepath.Join(out, "chart.png"))
	md := string(readFile(t, filepath.Join(out, "RESULTS.md")))
	for _, want := range []string{
		"Database profile: **replica**: a MariaDB primary and one replica",
		"Read replica: dbapi + replica is a third dbapi process",
		"| dbapi + replica req/s |", "| get | closed | 4 | replica |", "| transfer | closed | 1 | replica |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q", want)
		}
	}
}
