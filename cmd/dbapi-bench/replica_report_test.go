package main

import (
	"bytes"
	"strings"
	"testing"
)

// withDB sets the primary's and the replica's CPU per request of a level
// (µs) and the SELECTs the replica ran; a negative reads leaves them
// uncounted.
func withDB(l Level, primaryUS, replicaUS float64, selects, reads int64) Level {
	l.Database = &ProcUsage{CPUSeconds: primaryUS * float64(l.OK) / 1e6, CPUPerReqUS: primaryUS}
	l.Replica = &ProcUsage{CPUSeconds: replicaUS * float64(l.OK) / 1e6, CPUPerReqUS: replicaUS}
	if selects >= 0 {
		l.Selects = &selects
	}
	if reads >= 0 {
		l.ReplicaReads = &reads
	}
	return l
}

// replicaLevels are get and transfer at 32 clients without and with the
// replica: reads leave the primary, writes pay a little.
func replicaLevels() []Level {
	return []Level{
		withDB(lv("get", loopClosed, modeService, 32, 3000, 12000, 1000, 4000), 100, 2, 12000, 4),
		withDB(lv("get", loopClosed, modeReplica, 32, 3300, 13200, 900, 5000), 5, 95, 4, 13150),
		withDB(lv("transfer", loopClosed, modeService, 32, 1000, 4000, 9000, 30000), 600, 300, 8000, 4),
		withDB(withErrors(lv("transfer", loopClosed, modeReplica, 32, 950, 3800, 9500, 31000), map[string]int64{"overloaded": 2}), 620, 290, 11400, -1),
	}
}

func TestReplicaPair(t *testing.T) {
	ps := pairs(replicaLevels())
	p := findPair(ps, "get", loopClosed, 32)
	if p == nil || p.service == nil || p.replica == nil || p.replica.Mode != modeReplica {
		t.Fatalf("pair %+v", p)
	}
	if v, ok := p.replicaRatio(); !ok || v != 1.1 {
		t.Errorf("replica/service = %v, %v; want 1.1", v, ok)
	}
	if d, ok := p.replicaAdded(p50); !ok || d != -100 {
		t.Errorf("added p50 = %v, %v; want -100", d, ok)
	}
	if v, ok := replicaReadsPerReq(p.replica); !ok || v != 13150.0/13200 {
		t.Errorf("replica reads per request = %v, %v", v, ok)
	}
	// Not measured: no level, no count, no successful request.
	if _, ok := (&pair{service: p.service}).replicaRatio(); ok {
		t.Error("ratio without the replica mode")
	}
	if _, ok := replicaReadsPerReq(p.service.withoutReads()); ok {
		t.Error("reads per request without a count")
	}
	zero := *p.replica
	zero.OK = 0
	if _, ok := (&pair{service: p.service, replica: &zero}).replicaAdded(p50); ok {
		t.Error("added latency without a successful request")
	}
	if _, ok := dbCPUPerReq(&zero, zero.Database); ok {
		t.Error("CPU per request without a successful request")
	}
}

func (l *Level) withoutReads() *Level { c := *l; c.ReplicaReads = nil; return &c }

func TestReplicaTargets(t *testing.T) {
	const cpuName = "get at 32 clients: the primary's CPU per read with a replica over without"
	const readsName = "get at 32 clients with a replica: SELECTs the replica ran per read"
	find := func(ts []Target, name string) *Target {
		for i := range ts {
			if ts[i].Name == name {
				return &ts[i]
			}
		}
		return nil
	}
	set := func(levels []Level, mode string, f func(*Level)) []Level {
		for i := range levels {
			if levels[i].Workload == "get" && levels[i].Mode == mode {
				f(&levels[i])
			}
		}
		return levels
	}
	for _, c := range []struct {
		name           string
		levels         []Level
		cpuMet, reads  string // yes, no, not measured
		cpuGot, readsG string
	}{
		{"met", replicaLevels(), "yes", "yes", "0.05 (5.0 µs / 100.0 µs)", "0.996"},
		{"at the limits", set(set(replicaLevels(), modeReplica, func(l *Level) {
			l.Database.CPUPerReqUS = 10
			*l.ReplicaReads = 12540 // 0.95 of 13200
		}), modeService, func(*Level) {}), "yes", "yes", "0.10 (10.0 µs / 100.0 µs)", "0.950"},
		{"just over the limits", set(replicaLevels(), modeReplica, func(l *Level) {
			l.Database.CPUPerReqUS = 11
			*l.ReplicaReads = 12500 // 0.947 of 13200
		}), "no", "no", "0.11 (11.0 µs / 100.0 µs)", "0.947"},
		{"reads stayed on the primary", set(replicaLevels(), modeReplica, func(l *Level) {
			l.Database.CPUPerReqUS = 90
			*l.ReplicaReads = 10
		}), "no", "no", "0.90 (90.0 µs / 100.0 µs)", "0.001"},
		{"no count on the replica", set(replicaLevels(), modeReplica, func(l *Level) { l.ReplicaReads = nil }), "yes", "not measured", "0.05 (5.0 µs / 100.0 µs)", "not measured"},
		{"no service mode", replicaLevels()[1:], "not measured", "yes", "not measured", "0.996"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := evaluate(&Results{Levels: c.levels})
			tc, tr := find(ts, cpuName), find(ts, readsName)
			if tc == nil || tr == nil {
				t.Fatalf("targets lack the replica's: %+v", ts)
			}
			if metString(tc.Met) != c.cpuMet || tc.Got != c.cpuGot {
				t.Errorf("CPU: met %s, got %q; want %s, %q", metString(tc.Met), tc.Got, c.cpuMet, c.cpuGot)
			}
			if metString(tr.Met) != c.reads || tr.Got != c.readsG {
				t.Errorf("reads: met %s, got %q; want %s, %q", metString(tr.Met), tr.Got, c.reads, c.readsG)
			}
		})
	}
	// Without the replica mode there are no replica targets.
	for _, tg := range evaluate(&Results{Levels: goodLevels()}) {
		if strings.Contains(tg.Name, "replica") {
			t.Errorf("target %q without the replica mode", tg.Name)
		}
	}
}

func TestWriteReplicaTables(t *testing.T) {
	var b bytes.Buffer
	writeTables(&b, &Results{Levels: replicaLevels()})
	out := b.String()
	for _, want := range []string{
		"| workload | loop | clients / rate | dbapi req/s | dbapi + replica req/s | replica/dbapi | p50 dbapi / + replica | p99 dbapi / + replica | added p50 | " +
			"primary CPU/req dbapi / + replica | replica CPU/req dbapi / + replica | primary SELECTs/req dbapi / + replica | replica SELECTs/req dbapi / + replica | errors dbapi / + replica |\n",
		"| get | closed | 32 | 3000 | 3300 | **1.10** | 1.00 ms / 900 µs | 4.00 ms / 5.00 ms | -100 µs | 100.0 µs / 5.0 µs | 2.0 µs / 95.0 µs | 1.00 / 0.00 | 0.00 / 1.00 | - / - |",
		// a count not read: "-"
		"| transfer | closed | 32 | 1000 | 950 | **0.95** | 9.00 ms / 9.50 ms | 30.00 ms / 31.00 ms | 500 µs | 600.0 µs / 620.0 µs | 300.0 µs / 290.0 µs | 2.00 / 3.00 | 0.00 / - | - / overloaded=2 |",
		// the detail table, with the replica's columns
		"| commits/req | replica CPU s | replica SELECTs/req | other CPU s | load |",
		"| get | closed | 32 | replica | 13200 | 3300 | 900 µs |",
		"| 0.07 | - | 1.25 | 1.00 | 0.00 | 0.0 |", // primary 0.07 s, no commits read, replica 1.25 s
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tables lack %q:\n%s", want, out)
		}
	}
	// Without a replica: neither the table nor the columns.
	b.Reset()
	writeTables(&b, &Results{Levels: goodLevels()})
	if out := b.String(); strings.Contains(out, "replica") {
		t.Errorf("tables without a replica mention one:\n%s", out)
	}
}

func TestGeneratedReplica(t *testing.T) {
	r := &Results{Profile: profileReplica, Levels: replicaLevels(), Settings: map[string]any{}, Workloads: map[string]string{}}
	md := generated(r, "")
	for _, want := range []string{
		"Database profile: **replica**: a MariaDB primary and one replica of the benchmark's own",
		"Read replica: dbapi + replica is a third dbapi process",
		"and the database (the primary and the replica) share these CPUs",
		"| get | closed | 32 | 3000 | 3300 | **1.10** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q:\n%s", want, md)
		}
	}
}
