package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Target is one of the goals of the benchmark, judged on this run.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  *bool  `json:"met"` // nil: not measured in this run
}

// pair is the direct, hand-written, service (dbapi), coalesced (dbapi
// with group commit) and replica (dbapi with a read replica) results of
// one level.
type pair struct {
	workload, loop                            string
	clients                                   int
	rate                                      float64
	direct, hand, service, coalesced, replica *Level
}

func pairs(levels []Level) []*pair {
	var out []*pair
	index := map[string]*pair{}
	for i := range levels {
		l := &levels[i]
		key := fmt.Sprintf("%s/%s/%d/%g", l.Workload, l.Loop, l.Clients, l.Rate)
		p := index[key]
		if p == nil {
			p = &pair{workload: l.Workload, loop: l.Loop, clients: l.Clients, rate: l.Rate}
			index[key] = p
			out = append(out, p)
		}
		switch l.Mode {
		case modeDirect:
			p.direct = l
		case modeHandwritten:
			p.hand = l
		case modeService:
			p.service = l
		case modeCoalesced:
			p.coalesced = l
		case modeReplica:
			p.replica = l
		}
	}
	return out
}

func (p *pair) level() string {
	if p.loop == loopOpen {
		return fmt.Sprintf("%.0f req/s", p.rate)
	}
	return fmt.Sprintf("%d", p.clients)
}

func (p *pair) ratio() (float64, bool) {
	if p.direct == nil || p.service == nil || p.direct.RPS == 0 {
		return 0, false
	}
	return p.service.RPS / p.direct.RPS, true
}

// rpsRatio returns a's requests/s over b's, and false unless both ran and
// b did something.
func rpsRatio(a, b *Level) (float64, bool) {
	if a == nil || b == nil || b.RPS == 0 {
		return 0, false
	}
	return a.RPS / b.RPS, true
}

// coalescedRatio returns coalesced dbapi's requests/s over direct's (one
// transaction per request).
func (p *pair) coalescedRatio() (float64, bool) { return rpsRatio(p.coalesced, p.direct) }

// coalescedGain returns coalesced dbapi's requests/s over dbapi's with
// one transaction per request.
func (p *pair) coalescedGain() (float64, bool) { return rpsRatio(p.coalesced, p.service) }

// replicaRatio returns the requests/s of dbapi with a read replica over
// those of dbapi without.
func (p *pair) replicaRatio() (float64, bool) { return rpsRatio(p.replica, p.service) }

// replicaAdded returns the latency the replica mode adds over the service
// mode (negative: it takes away), of the value f picks.
func (p *pair) replicaAdded(f func(Latency) int64) (int64, bool) {
	if p.replica == nil || p.service == nil || p.replica.OK == 0 || p.service.OK == 0 {
		return 0, false
	}
	return f(p.replica.Latency) - f(p.service.Latency), true
}

// dbCPUPerReq returns the CPU time per request of the database server u
// measured (the primary's or the replica's), and false where it was not
// measured.
func dbCPUPerReq(l *Level, u *ProcUsage) (float64, bool) {
	if l == nil || u == nil || l.OK == 0 {
		return 0, false
	}
	return u.CPUPerReqUS, true
}

// replicaReadsPerReq returns the SELECT statements the replica ran per
// request, and false where they were not counted.
func replicaReadsPerReq(l *Level) (float64, bool) {
	if l == nil {
		return 0, false
	}
	return perReq(l.ReplicaReads, l.OK)
}

// selectsPerReq returns the SELECT statements the primary ran per
// request, and false where they were not counted.
func selectsPerReq(l *Level) (float64, bool) {
	if l == nil {
		return 0, false
	}
	return perReq(l.Selects, l.OK)
}

func perReq(n *int64, ok int64) (float64, bool) {
	if n == nil || ok == 0 {
		return 0, false
	}
	return float64(*n) / float64(ok), true
}

// handRatio returns dbapi's requests/s over the hand-written service's.
func (p *pair) handRatio() (float64, bool) {
	if p.hand == nil || p.service == nil || p.hand.RPS == 0 {
		return 0, false
	}
	return p.service.RPS / p.hand.RPS, true
}

// handAdded returns the latency dbapi adds over the hand-written service,
// of the value f picks, and false unless both have successful requests.
func (p *pair) handAdded(f func(Latency) int64) (int64, bool) {
	if p.hand == nil || p.service == nil || p.hand.OK == 0 || p.service.OK == 0 {
		return 0, false
	}
	return f(p.service.Latency) - f(p.hand.Latency), true
}

// cpuPerReq returns a service process's CPU time per request, and false
// where it was not measured.
func cpuPerReq(l *Level) (float64, bool) {
	if l == nil || l.Service == nil || l.OK == 0 || l.Service.CPUSeconds == 0 {
		return 0, false
	}
	return l.Service.CPUPerReqUS, true
}

// added returns the latency the service adds over direct, service minus
// direct, of the value f picks (p50, p99, ...), and false unless both
// modes have successful requests.
func (p *pair) added(f func(Latency) int64) (int64, bool) {
	if p.direct == nil || p.service == nil || p.direct.OK == 0 || p.service.OK == 0 {
		return 0, false
	}
	return f(p.service.Latency) - f(p.direct.Latency), true
}

func p50(l Latency) int64 { return l.P50 }
func p99(l Latency) int64 { return l.P99 }

func findPair(ps []*pair, workload, loop string, clients int) *pair {
	for _, p := range ps {
		if p.workload == workload && p.loop == loop && p.clients == clients {
			return p
		}
	}
	return nil
}

func boolp(b bool) *bool { return &b }

// evaluate judges the targets on what this run measured.
func evaluate(r *Results) []Target {
	ps := pairs(r.Levels)
	var ts []Target
	ratio := func(workload string, clients int, want float64) {
		t := Target{Name: fmt.Sprintf("%s at %d clients: service/direct requests/s", workload, clients), Want: fmt.Sprintf(">= %.2f", want), Got: "not measured"}
		if p := findPair(ps, workload, loopClosed, clients); p != nil {
			if v, ok := p.ratio(); ok {
				t.Got, t.Met = fmt.Sprintf("%.2f (%.0f / %.0f)", v, p.service.RPS, p.direct.RPS), boolp(v >= want)
			}
		}
		ts = append(ts, t)
	}
	ratio("transfer", 32, 0.90)
	ratio("get", 32, 0.75)
	// Group commit: coalesced dbapi against one transaction per request.
	t := Target{Name: "transfer at 32 clients: coalesced/direct requests/s (group commit against one transaction per request)", Want: ">= 1.20", Got: "not measured"}
	if p := findPair(ps, "transfer", loopClosed, 32); p != nil {
		if v, ok := p.coalescedRatio(); ok {
			t.Got, t.Met = fmt.Sprintf("%.2f (%.0f / %.0f)", v, p.coalesced.RPS, p.direct.RPS), boolp(v >= 1.2)
		}
	}
	ts = append(ts, t)
	for _, w := range []string{"transfer", "get"} {
		p := findPair(ps, w, loopClosed, 1)
		add := func(name string, want int64, f func(Latency) int64) {
			t := Target{Name: fmt.Sprintf("%s at 1 client: added %s latency (service - direct)", w, name), Want: "<= " + fmtUS(want), Got: "not measured"}
			if p != nil {
				if d, ok := p.added(f); ok {
					t.Got, t.Met = fmt.Sprintf("%s (%s - %s)", fmtUS(d), fmtUS(f(p.service.Latency)), fmtUS(f(p.direct.Latency))), boolp(d <= want)
				}
			}
			ts = append(ts, t)
		}
		add("p50", 150, p50)
		add("p99", 1000, p99)
	}
	for _, w := range []string{"transfer", "get"} {
		p := findPair(ps, w, loopClosed, 512)
		t1 := Target{Name: w + " at 512 clients: service errors other than overloaded", Want: "none", Got: "not measured"}
		t2 := Target{Name: w + " at 512 clients: service RSS", Want: "<= 64 MiB", Got: "not measured"}
		if p != nil && p.service != nil {
			other := map[string]int64{}
			for k, v := range p.service.Errors {
				if k != "overloaded" {
					other[k] = v
				}
			}
			t1.Got, t1.Met = errString(other), boolp(len(other) == 0)
			if p.service.Service != nil && p.service.Service.MaxRSSMiB > 0 {
				t2.Got, t2.Met = fmt.Sprintf("%.1f MiB", p.service.Service.MaxRSSMiB), boolp(p.service.Service.MaxRSSMiB <= 64)
			}
		}
		ts = append(ts, t1, t2)
	}
	ts = append(ts, handTargets(ps)...)
	if hasMode(r.Levels, modeReplica) {
		ts = append(ts, replicaTargets(ps)...)
	}
	t = Target{Name: "burst of requests outstanding at once: every request answered, the rest with 503 overloaded, RSS bounded", Want: "no missing replies, only overloaded errors, peak RSS <= 64 MiB", Got: "not measured"}
	if b := r.Burst; b != nil {
		t.Name = fmt.Sprintf("%d requests outstanding at once: every request answered, the rest with 503 overloaded, RSS bounded", b.Requests)
		onlyOverload := true
		for k := range b.Errors {
			onlyOverload = onlyOverload && k == "overloaded"
		}
		t.Got = fmt.Sprintf("ok %d, errors %s, missing %d, RSS %.1f → peak %.1f MiB", b.OK, errString(b.Errors), b.Missing, b.RSSBeforeMiB, b.RSSPeakMiB)
		t.Met = boolp(b.Missing == 0 && onlyOverload && b.RSSPeakMiB > 0 && b.RSSPeakMiB <= 64)
	}
	ts = append(ts, t)
	return ts
}

// handTargets judges dbapi against the hand-written service (issue 11):
// at least its throughput at 1 to 128 clients, at most 30 µs more p50 at
// 1 client, no more CPU per request, and no worse p99 at 128 and 512
// clients.
func handTargets(ps []*pair) []Target {
	var ts []Target
	for _, w := range []string{"transfer", "get"} {
		for _, n := range []int{1, 8, 32, 128} {
			t := Target{Name: fmt.Sprintf("%s at %s: dbapi/hand-written requests/s", w, clientsString(n)), Want: ">= 1.00", Got: "not measured"}
			if p := findPair(ps, w, loopClosed, n); p != nil {
				if v, ok := p.handRatio(); ok {
					t.Got, t.Met = fmt.Sprintf("%.2f (%.0f / %.0f)", v, p.service.RPS, p.hand.RPS), boolp(v >= 1)
				}
			}
			ts = append(ts, t)
		}
		t := Target{Name: w + " at 1 client: p50 dbapi adds over hand-written", Want: "<= 30 µs", Got: "not measured"}
		if p := findPair(ps, w, loopClosed, 1); p != nil {
			if d, ok := p.handAdded(p50); ok {
				t.Got, t.Met = fmt.Sprintf("%s (%s - %s)", fmtUS(d), fmtUS(p.service.Latency.P50), fmtUS(p.hand.Latency.P50)), boolp(d <= 30)
			}
		}
		ts = append(ts, t)
		t = Target{Name: w + " at 32 clients: dbapi CPU per request over hand-written", Want: "<= 1.00", Got: "not measured"}
		if p := findPair(ps, w, loopClosed, 32); p != nil {
			a, ok1 := cpuPerReq(p.service)
			h, ok2 := cpuPerReq(p.hand)
			if ok1 && ok2 && h > 0 {
				t.Got, t.Met = fmt.Sprintf("%.2f (%.0f µs / %.0f µs)", a/h, a, h), boolp(a <= h)
			}
		}
		ts = append(ts, t)
		for _, n := range []int{128, 512} {
			t := Target{Name: fmt.Sprintf("%s at %d clients: p99 of dbapi against hand-written", w, n), Want: "dbapi <= hand-written", Got: "not measured"}
			if p := findPair(ps, w, loopClosed, n); p != nil {
				if d, ok := p.handAdded(p99); ok {
					t.Got, t.Met = fmt.Sprintf("%s against %s", fmtUS(p.service.Latency.P99), fmtUS(p.hand.Latency.P99)), boolp(d <= 0)
				}
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// replicaTargets judges the replica mode (issue 19, measured only in the
// replica profile): with a read replica, reads leave the primary (its CPU
// per read falls to about zero: at most a tenth of what it is without)
// and run on the replica (at least 0.95 SELECTs there per read).
func replicaTargets(ps []*pair) []Target {
	const clients = 32
	p := findPair(ps, "get", loopClosed, clients)
	t1 := Target{Name: fmt.Sprintf("get at %d clients: the primary's CPU per read with a replica over without", clients), Want: "<= 0.10 (about zero)", Got: "not measured"}
	t2 := Target{Name: fmt.Sprintf("get at %d clients with a replica: SELECTs the replica ran per read", clients), Want: ">= 0.95", Got: "not measured"}
	if p != nil {
		with, ok1 := dbCPUPerReq(p.replica, dbUsage(p.replica))
		without, ok2 := dbCPUPerReq(p.service, dbUsage(p.service))
		if ok1 && ok2 && without > 0 {
			t1.Got, t1.Met = fmt.Sprintf("%.2f (%.1f µs / %.1f µs)", with/without, with, without), boolp(with <= without/10)
		}
		if v, ok := replicaReadsPerReq(p.replica); ok {
			t2.Got, t2.Met = fmt.Sprintf("%.3f", v), boolp(v >= 0.95)
		}
	}
	return []Target{t1, t2}
}

// dbUsage returns the primary's usage in a level, nil when not measured.
func dbUsage(l *Level) *ProcUsage {
	if l == nil {
		return nil
	}
	return l.Database
}

// replicaUsage returns the replica's usage in a level, nil when not
// measured.
func replicaUsage(l *Level) *ProcUsage {
	if l == nil {
		return nil
	}
	return l.Replica
}

func clientsString(n int) string {
	if n == 1 {
		return "1 client"
	}
	return fmt.Sprintf("%d clients", n)
}

func fmtUS(us int64) string {
	switch a := max(us, -us); {
	case a < 1000:
		return fmt.Sprintf("%d µs", us)
	case a < 1_000_000:
		return fmt.Sprintf("%.2f ms", float64(us)/1e3)
	}
	return fmt.Sprintf("%.2f s", float64(us)/1e6)
}

func errString(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// hasMode reports whether any level ran in mode.
func hasMode(levels []Level, mode string) bool {
	for _, l := range levels {
		if l.Mode == mode {
			return true
		}
	}
	return false
}

// writeTables writes the comparison and detail tables as markdown, which
// also reads well on a terminal. "dbapi" is the service mode (one
// transaction per request), "coalesced" dbapi with group commit; the
// comparison table has the coalesced columns only when a level ran in
// that mode.
func writeTables(w io.Writer, r *Results) {
	ps := pairs(r.Levels)
	co := hasMode(r.Levels, modeCoalesced)
	row := func(cells ...string) { fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |") }
	// opt returns the coalesced mode's cells, or none when no level ran
	// in that mode.
	opt := func(cells ...string) []string {
		if co {
			return cells
		}
		return nil
	}
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	lats := "direct / hand-written / dbapi"
	if co {
		lats += " / coalesced"
	}
	row(cat([]string{"workload", "loop", "clients / rate", "direct req/s", "hand-written req/s", "dbapi req/s"}, opt("coalesced req/s"),
		[]string{"dbapi/hand-written", "dbapi/direct"}, opt("coalesced/direct", "coalesced/dbapi"),
		[]string{"p50 " + lats, "p99 " + lats, "dbapi added p50 over hand-written", "dbapi errors"}, opt("coalesced errors"),
		[]string{"CPU/req hand-written / dbapi" + map[bool]string{true: " / coalesced"}[co], "dbapi RSS"})...)
	fmt.Fprintln(w, "|"+strings.Join(cat([]string{"---", "---", "---:", "---:", "---:", "---:"}, opt("---:"), []string{"---:", "---:"}, opt("---:", "---:"),
		[]string{"---:", "---:", "---:", "---"}, opt("---"), []string{"---:", "---:"}), "|")+"|")
	for _, p := range ps {
		cell := func(l *Level, f func(*Level) string) string {
			if l == nil {
				return "-"
			}
			return f(l)
		}
		modes := []*Level{p.direct, p.hand, p.service}
		if co {
			modes = append(modes, p.coalesced)
		}
		rps := func(l *Level) string { return fmt.Sprintf("%.0f", l.RPS) }
		lat := func(f func(Latency) int64) string {
			parts := make([]string, len(modes))
			for i, l := range modes {
				parts[i] = cell(l, func(l *Level) string { return fmtUS(f(l.Latency)) })
			}
			return strings.Join(parts, " / ")
		}
		ratio := func(v float64, ok bool, bold bool) string {
			switch {
			case !ok:
				return "-"
			case bold:
				return fmt.Sprintf("**%.2f**", v)
			}
			return fmt.Sprintf("%.2f", v)
		}
		hadded := "-"
		if d, ok := p.handAdded(p50); ok {
			hadded = fmtUS(d)
		}
		cpu := func(l *Level) string {
			if v, ok := cpuPerReq(l); ok {
				return fmt.Sprintf("%.0f µs", v)
			}
			return "-"
		}
		cpus := cpu(p.hand) + " / " + cpu(p.service)
		if co {
			cpus += " / " + cpu(p.coalesced)
		}
		rss := "-"
		if p.service != nil && p.service.Service != nil && p.service.Service.MaxRSSMiB > 0 {
			rss = fmt.Sprintf("%.1f MiB", p.service.Service.MaxRSSMiB)
		}
		errs := func(l *Level) string { return errString(l.Errors) }
		r1, ok1 := p.handRatio()
		r2, ok2 := p.ratio()
		r3, ok3 := p.coalescedRatio()
		r4, ok4 := p.coalescedGain()
		row(cat([]string{p.workload, p.loop, p.level(), cell(p.direct, rps), cell(p.hand, rps), cell(p.service, rps)}, opt(cell(p.coalesced, rps)),
			[]string{ratio(r1, ok1, true), ratio(r2, ok2, false)}, opt(ratio(r3, ok3, true), ratio(r4, ok4, false)),
			[]string{lat(p50), lat(p99), hadded, cell(p.service, errs)}, opt(cell(p.coalesced, errs)),
			[]string{cpus, rss})...)
	}
	if hasMode(r.Levels, modeReplica) {
		writeReplicaTable(w, ps)
	}
	repCols := hasReplica(r.Levels)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every level and mode (service is dbapi with one transaction per request, coalesced dbapi with group commit"+
		map[bool]string{true: ", replica dbapi with a read replica"}[hasMode(r.Levels, modeReplica)]+"; "+
		"latencies of successful requests; CPU seconds used in the measured window "+
		"by the process serving the requests, none for direct; "+
		"commits/req is the COMMIT statements the database server ran in the window (Com_commit) per successful request, "+
		"counting other sessions' on a shared server; "+
		"other CPU s is what processes other than the benchmark, the services and the database used meanwhile, "+
		"and load the 1-minute load average: both measure the noise"+
		map[bool]string{true: "; database is the primary, replica CPU s the replica's mariadbd and replica SELECTs/req its Com_select per successful request"}[repCols]+"):")
	fmt.Fprintln(w)
	head, align := "", ""
	if repCols {
		head, align = " replica CPU s | replica SELECTs/req |", "---:|---:|"
	}
	fmt.Fprintln(w, "| workload | loop | clients / rate | mode | ok | req/s | p50 | p90 | p99 | p99.9 | max | errors | server CPU s | server max RSS | bench CPU s | database CPU s | commits/req |"+head+" other CPU s | load |")
	fmt.Fprintln(w, "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"+align+"---:|---:|")
	for _, p := range ps {
		for _, l := range []*Level{p.direct, p.hand, p.service, p.coalesced, p.replica} {
			if l == nil {
				continue
			}
			svcCPU, svcRSS, dbCPU, commits := "-", "-", "-", "-"
			if l.Service != nil {
				svcCPU, svcRSS = fmt.Sprintf("%.2f", l.Service.CPUSeconds), fmt.Sprintf("%.1f MiB", l.Service.MaxRSSMiB)
			}
			if l.Database != nil {
				dbCPU = fmt.Sprintf("%.2f", l.Database.CPUSeconds)
			}
			if l.Commits != nil && l.OK > 0 {
				commits = fmt.Sprintf("%.2f", float64(*l.Commits)/float64(l.OK))
			}
			rep := ""
			if repCols {
				repCPU, reads := "-", "-"
				if l.Replica != nil {
					repCPU = fmt.Sprintf("%.2f", l.Replica.CPUSeconds)
				}
				if v, ok := replicaReadsPerReq(l); ok {
					reads = fmt.Sprintf("%.2f", v)
				}
				rep = " " + repCPU + " | " + reads + " |"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %s |%s %.2f | %.1f |\n",
				l.Workload, l.Loop, p.level(), l.Mode, l.OK, l.RPS, fmtUS(l.Latency.P50), fmtUS(l.Latency.P90),
				fmtUS(l.Latency.P99), fmtUS(l.Latency.P999), fmtUS(l.Latency.Max), errString(l.Errors),
				svcCPU, svcRSS, l.Bench.CPUSeconds, dbCPU, commits, rep, l.OtherCPUSeconds, l.Load1)
		}
	}
}

// hasReplica reports whether any level measured a replica.
func hasReplica(levels []Level) bool {
	for _, l := range levels {
		if l.Replica != nil || l.ReplicaReads != nil {
			return true
		}
	}
	return false
}

// writeReplicaTable writes, for each level that ran both, dbapi without
// and with a read replica side by side: throughput, latency, and the CPU
// per request of the primary and of the replica (for get, per read).
func writeReplicaTable(w io.Writer, ps []*pair) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "dbapi without and with a read replica (replica: the same dbapi with DBAPI_MYSQL_REPLICA_DSN naming the profile's replica; "+
		"reads without Dbapi-After run there, writes read their position after COMMIT); "+
		"CPU per request of the primary's and of the replica's mariadbd in the measured window; "+
		"SELECTs/req is the server's Com_select per request (the primary's counts a write's read of its position, and the replica's its health check once a second):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | loop | clients / rate | dbapi req/s | dbapi + replica req/s | replica/dbapi | p50 dbapi / + replica | p99 dbapi / + replica | "+
		"added p50 | primary CPU/req dbapi / + replica | replica CPU/req dbapi / + replica | primary SELECTs/req dbapi / + replica | replica SELECTs/req dbapi / + replica | errors dbapi / + replica |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, p := range ps {
		if p.replica == nil || p.service == nil {
			continue
		}
		both := func(f func(*Level) string) string { return f(p.service) + " / " + f(p.replica) }
		lat := func(f func(Latency) int64) func(*Level) string {
			return func(l *Level) string {
				if l.OK == 0 {
					return "-"
				}
				return fmtUS(f(l.Latency))
			}
		}
		cpu := func(u func(*Level) *ProcUsage) func(*Level) string {
			return func(l *Level) string {
				if v, ok := dbCPUPerReq(l, u(l)); ok {
					return fmt.Sprintf("%.1f µs", v)
				}
				return "-"
			}
		}
		count := func(f func(*Level) (float64, bool)) func(*Level) string {
			return func(l *Level) string {
				if v, ok := f(l); ok {
					return fmt.Sprintf("%.2f", v)
				}
				return "-"
			}
		}
		ratio, added := "-", "-"
		if v, ok := p.replicaRatio(); ok {
			ratio = fmt.Sprintf("**%.2f**", v)
		}
		if d, ok := p.replicaAdded(p50); ok {
			added = fmtUS(d)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			p.workload, p.loop, p.level(), p.service.RPS, p.replica.RPS, ratio, both(lat(p50)), both(lat(p99)), added,
			both(cpu(dbUsage)), both(cpu(replicaUsage)), both(count(selectsPerReq)), both(count(replicaReadsPerReq)),
			both(func(l *Level) string { return errString(l.Errors) }))
	}
}

func writeTargets(w io.Writer, r *Results) {
	fmt.Fprintln(w, "| target | want | got | met |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, t := range r.Targets {
		met := "not measured"
		if t.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*t.Met]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.Name, t.Want, t.Got, met)
	}
}

const (
	beginMark = "<!-- dbapi-bench:begin (generated by cmd/dbapi-bench; edit outside these marks) -->"
	endMark   = "<!-- dbapi-bench:end -->"
)

// generated is the part of RESULTS.md that each run rewrites.
func generated(r *Results, chart string) string {
	var b bytes.Buffer
	m := r.Machine
	fmt.Fprintf(&b, "Measured %s by `%s`.\n\n", r.Date, r.Command)
	if r.Profile != "" {
		fmt.Fprintf(&b, "Database profile: **%s**: %s.\n\n", r.Profile, profileDesc(r.Profile))
	}
	syncBinlog := ""
	if m.SyncBinlog != "" {
		syncBinlog = ", sync_binlog=" + m.SyncBinlog
	}
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %d GiB, %s, kernel %s; %s; %s (innodb_flush_log_at_trx_commit=%s, log_bin=%s%s). "+
		"The benchmark process, the NATS server (%s), the hand-written and dbapi processes and the database%s share these CPUs.\n\n",
		m.CPUs, m.CPUModel, m.MemoryGiB, m.OS, m.Kernel, m.GoVersion, m.Database, m.FlushAtTrx, m.BinLog, syncBinlog, r.Settings["nats"],
		map[bool]string{true: " (the primary and the replica)"}[hasReplica(r.Levels)])
	fmt.Fprintf(&b, "Settings: %v s per level and mode, in %v rounds that alternate the modes, after %v s of warm-up (a quarter of it in later rounds), %v accounts, pool %v connections (service workers = pool), %v NATS connections for the requesters, open loop with up to %v outstanding; a closed-loop client answered 503 waits about %v ms before it retries, twice as long after each further 503 in a row (up to 32 times).\n\n",
		r.Settings["duration_s"], r.Settings["rounds"], r.Settings["warmup_s"], r.Settings["accounts"], r.Settings["pool"], r.Settings["conns"], r.Settings["open_clients"], r.Settings["overload_wait_ms"])
	if hasMode(r.Levels, modeCoalesced) {
		env, _ := r.Settings["coalesced_env"].(string)
		if env == "" {
			env = "DBAPI_COALESCE_MAX and DBAPI_COALESCE_WAIT at their defaults"
		} else {
			env = "`" + env + "`"
		}
		fmt.Fprintf(&b, "Group commit: dbapi (the service mode) runs with `DBAPI_COALESCE_MAX=1`, one transaction per request like direct and the hand-written service; "+
			"coalesced is a second dbapi process of the same binary with group commit on (%s), where requests of an operation that opts in and wait at the same time share one transaction, one SAVEPOINT each. "+
			"It runs only the workloads whose operation coalesces.\n\n", env)
	}
	if hasMode(r.Levels, modeReplica) {
		fmt.Fprintf(&b, "Read replica: dbapi + replica is a third dbapi process of the same binary, one transaction per request like dbapi, "+
			"with `DBAPI_MYSQL_REPLICA_DSN` naming the profile's replica (`DBAPI_REPLICA_WAIT` and `DBAPI_REPLICA_MAX_LAG` at their defaults unless -service-env sets them): "+
			"read-only requests without `Dbapi-After` (here every `get`) run on the replica, writes on the primary, each followed by `SELECT @@last_gtid` on its connection for the reply's position. "+
			"The other modes run on the primary, with nothing configured about the replica, which still applies every write.\n\n")
	}
	names := make([]string, 0, len(r.Workloads))
	for k := range r.Workloads {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "- `%s`: %s", k, r.Workloads[k])
		if why, ok := r.Unavailable[k]; ok {
			fmt.Fprintf(&b, " — **not available**: %s", why)
		}
		fmt.Fprintln(&b)
	}
	fmt.Fprintln(&b)
	if chart != "" {
		fmt.Fprintf(&b, "![throughput and p99 latency against concurrency](%s)\n\n", chart)
	}
	writeTables(&b, r)
	fmt.Fprintln(&b)
	if r.IdleRSSMiB > 0 {
		fmt.Fprintf(&b, "Service RSS when idle after start: %.1f MiB.\n\n", r.IdleRSSMiB)
	}
	if bu := r.Burst; bu != nil {
		fmt.Fprintf(&b, "Burst: %d `%s` requests published at once: ok %d, errors %s, missing %d, all answered in %.2f s; service RSS %.1f MiB before, %.1f MiB at peak, %.1f MiB a second after.\n\n",
			bu.Requests, bu.Workload, bu.OK, errString(bu.Errors), bu.Missing, bu.Seconds, bu.RSSBeforeMiB, bu.RSSPeakMiB, bu.RSSAfterMiB)
	}
	fmt.Fprintln(&b, "Targets:")
	fmt.Fprintln(&b)
	writeTargets(&b, r)
	if len(r.ErrorLog) > 0 {
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, "Errors the service logged (first distinct lines):")
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, "```")
		for _, l := range r.ErrorLog {
			if len(l) > 300 {
				l = l[:300] + "..."
			}
			fmt.Fprintln(&b, l)
		}
		fmt.Fprintln(&b, "```")
	}
	return b.String()
}

// spliceGenerated returns the markdown file old (exists: whether there is
// one) with the part between the markers replaced by gen, and the rest
// kept as it is. A file without the markers gets them, around gen, at its
// end; a file with only one of them, or the end before the begin, is an
// error rather than a guess at what to overwrite.
func spliceGenerated(old string, exists bool, gen string) (string, error) {
	block := beginMark + "\n" + gen + endMark + "\n"
	if !exists {
		return "# Benchmark results\n\n" + block, nil
	}
	i, j := strings.Index(old, beginMark), strings.Index(old, endMark)
	switch {
	case i < 0 && j < 0:
		if old != "" && !strings.HasSuffix(old, "\n") {
			old += "\n"
		}
		if old != "" {
			old += "\n"
		}
		return old + block, nil
	case i < 0 || j < 0 || j < i || strings.Count(old, beginMark) > 1 || strings.Count(old, endMark) > 1:
		return "", fmt.Errorf("want one %q line and one %q line after it, around the generated part", beginMark, endMark)
	}
	return old[:i] + block + strings.TrimPrefix(old[j+len(endMark):], "\n"), nil
}

// report prints the tables and writes results.json, the chart and
// RESULTS.md into -out.
func (b *bench) report() error {
	o, r := b.o, b.results
	fmt.Println()
	if r.Profile != "" {
		fmt.Printf("Database profile: %s: %s.\n\n", r.Profile, profileDesc(r.Profile))
	}
	writeTables(os.Stdout, r)
	fmt.Println()
	writeTargets(os.Stdout, r)
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.Out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	chart := o.Chart
	if chart != "" {
		if err := drawChart(r, filepath.Join(o.Out, chart)); err != nil {
			fmt.Fprintln(os.Stderr, "chart:", err)
			chart = ""
		}
	}
	mdPath := filepath.Join(o.Out, "RESULTS.md")
	old, err := os.ReadFile(mdPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	md, err := spliceGenerated(string(old), err == nil, generated(r, chart))
	if err != nil {
		return fmt.Errorf("%s: %w", mdPath, err)
	}
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s, %s", filepath.Join(o.Out, "results.json"), mdPath)
	if chart != "" {
		fmt.Fprintf(os.Stderr, ", %s", filepath.Join(o.Out, chart))
	}
	fmt.Fprintln(os.Stderr)
	return nil
}

// redraw rewrites the chart and RESULTS.md from the results.json in -out.
func redraw(_ context.Context, o Options) error {
	js, err := os.ReadFile(filepath.Join(o.Out, "results.json"))
	if err != nil {
		return err
	}
	// Numbers in the settings stay json.Number, so that RESULTS.md shows
	// them as the run did (1000000, not 1e+06).
	var r Results
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(o.Out, "results.json"), err)
	}
	r.Targets = evaluate(&r)
	return (&bench{o: &o, results: &r}).report()
}
