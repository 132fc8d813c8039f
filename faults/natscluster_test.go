//go:build linux

package faults

// The fault suite on a NATS cluster (the issue "Clusters"): three
// nats-server processes (internal/natscluster), two bank instances given
// every node's URL (DBAPI_NATS_URL=url1,url2,url3), durable requests on a
// stream with three replicas (DBAPI_DURABLE_REPLICAS=3). The load and the
// per-request checks are the suite's own (load_test.go, check_test.go,
// durable_test.go); durable clients republish a failed publish (an error,
// or no ack within 2 s) with the same Nats-Msg-Id until the stream acks
// it or their wait ends, as a client must while a stream has no leader.
//
// The faults: the node holding the instances' connections killed with -9
// (request-reply, then durable), the stream's leader killed with -9, the
// quorum lost (two of three nodes stopped for longer than the durable
// fetch loop's backoff, then started again), a rolling restart (one node
// at a time, each back and caught up before the next), and instances
// started right after the whole cluster restarted, while it has no
// JetStream meta leader yet.
//
// Besides the suite's promises (nothing acknowledged lost, nothing
// applied twice or despite an error, no 500 but commit_outcome_unknown),
// each durable fault must let durable requests resume within
// resumeWithin of its end (for the quorum, of the stream having a leader
// again), and instances must start while JetStream is not ready yet,
// waiting for it (DBAPI_CONNECT_TIMEOUT).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/natscluster"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// resumeWithin is the promise for durable requests: they run again within
// this long of a fault's end (the service retries fetching within about a
// second; the rest is leader elections on a busy 2-core machine).
const resumeWithin = 5 * time.Second

// quorumOutage is how long the quorum stays lost: in the full run longer
// than the durable fetch loop's longest backoff before the issue
// "Clusters" (30 s), in the short run long enough for it to have grown
// past resumeWithin. (That loop retried 1, 3, 7, 15, 31 s after its first
// failure, then every 30 s: with 10 s the quorum came back about 4 s
// before a retry, a late resume the promise would not catch; with 18 s
// about 13 s before one.)
func quorumOutage(md mode) time.Duration {
	if md.name == full.name {
		return 36 * time.Second
	}
	return 18 * time.Second
}

// clusterScenario is one fault on the NATS cluster.
type clusterScenario struct {
	name    string
	durable bool // durable requests (JetStream) instead of request-reply
	// coldStart: the whole cluster restarts, and the instances start right
	// after, with no JetStream meta leader yet; the fault is then over
	// when the cluster has restarted.
	coldStart bool
	fault     func(f *clusterFault) error
}

// clusterFault is what a fault works with.
type clusterFault struct {
	t     *testing.T
	ctx   context.Context
	h     *harness
	c     *natscluster.Cluster
	d     time.Duration // how long a fault lasts
	once  sync.Once
	onEnd func() // starts measuring the recovery
}

// ended marks the end of the fault (once): recovery is measured from
// here, while the fault function may go on (restoring a node).
func (f *clusterFault) ended() {
	f.once.Do(func() {
		f.h.ended()
		f.onEnd()
	})
}

// busiest returns the node holding the most client connections named
// name (the instances' "dbapi" or "dbapi-durable"), and says how many.
func (f *clusterFault) busiest(name string) (int, string, error) {
	counts, err := f.c.Conns(f.ctx, name)
	if err != nil {
		return -1, "", err
	}
	i := 0
	for j, n := range counts {
		if n > counts[i] {
			i = j
		}
	}
	return i, fmt.Sprintf("%s holds %d of the %d %q connections (by node: %v)", f.c.Name(i), counts[i], sum(counts), name, counts), nil
}

func sum(l []int) int {
	n := 0
	for _, v := range l {
		n += v
	}
	return n
}

// restore starts nodes and waits until each has caught up.
func (f *clusterFault) restore(nodes ...int) error {
	if err := f.c.Start(f.ctx, nodes...); err != nil {
		return err
	}
	for _, i := range nodes {
		if err := f.c.WaitHealthy(f.ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// waitLeaders waits, in a durable fault, until the stream and its
// consumer have leaders (each is elected apart, seconds after its leader
// went away) and says how long that took.
func (f *clusterFault) waitLeaders() error {
	if f.h.stream == "" {
		return nil
	}
	began := time.Now()
	s, err := f.c.WaitStreamLeader(f.ctx, f.h.stream)
	if err != nil {
		return err
	}
	streamAt := time.Since(began)
	cons, err := f.c.WaitConsumerLeader(f.ctx, f.h.stream, f.h.prefix)
	if err != nil {
		return err
	}
	f.t.Logf("stream leader %s after %s, consumer leader %s after %s", f.c.Name(s), streamAt.Round(time.Millisecond),
		f.c.Name(cons), time.Since(began).Round(time.Millisecond))
	return nil
}

// killAndRestore kills a node with -9, waits the fault's length, and
// starts it again. The fault ends at the kill (the other two nodes
// serve), or for durable requests once the stream and its consumer have
// leaders again.
func (f *clusterFault) killAndRestore(i int, why string) error {
	f.t.Logf("kill -9 %s: %s", f.c.Name(i), why)
	began := time.Now()
	if err := f.c.Kill(i); err != nil {
		return err
	}
	if err := f.waitLeaders(); err != nil {
		return err
	}
	f.ended()
	sleep(f.d - time.Since(began))
	return f.restore(i)
}

// killConnNode kills the node holding most of the instances' connections
// named name.
func killConnNode(name string) func(f *clusterFault) error {
	return func(f *clusterFault) error {
		i, why, err := f.busiest(name)
		if err != nil {
			return err
		}
		return f.killAndRestore(i, why)
	}
}

// rolling restarts each node in turn (SIGTERM, start, caught up).
func rolling(f *clusterFault) error {
	for i := range f.c.Size() {
		if err := f.c.Stop(i); err != nil {
			return err
		}
		if err := f.restore(i); err != nil {
			return err
		}
		if err := f.waitLeaders(); err != nil {
			return err
		}
	}
	return nil
}

// loseQuorum stops two of the three nodes (the stream's leader first;
// the node holding most of the instances' durable connections stays, so
// they keep their connection and only JetStream goes away), waits, and
// starts them again; the fault ends when the stream and its consumer
// have leaders again.
func loseQuorum(outage time.Duration) func(f *clusterFault) error {
	return func(f *clusterFault) error {
		keep, why, err := f.busiest("dbapi-durable")
		if err != nil {
			return err
		}
		leader, err := f.c.StreamLeader(f.ctx, f.h.stream)
		if err != nil {
			return err
		}
		var stop []int
		if leader != keep {
			stop = append(stop, leader)
		}
		for i := range f.c.Size() {
			if i != keep && !slices.Contains(stop, i) {
				stop = append(stop, i)
			}
		}
		f.t.Logf("stopping %s and %s for %s (stream leader %s; %s)", f.c.Name(stop[0]), f.c.Name(stop[1]), outage, f.c.Name(leader), why)
		for _, i := range stop {
			if err := f.c.Stop(i); err != nil {
				return err
			}
		}
		sleep(outage)
		restart := time.Now()
		if err := f.c.Start(f.ctx, stop...); err != nil {
			return err
		}
		f.t.Logf("nodes started in %s", time.Since(restart).Round(time.Millisecond))
		if err := f.waitLeaders(); err != nil {
			return err
		}
		f.ended()
		return f.restore(stop...)
	}
}

func clusterScenarios(md mode) []clusterScenario {
	q := quorumOutage(md)
	return []clusterScenario{
		{name: "NATS node of the instances' connections killed with -9", fault: killConnNode("dbapi")},
		{name: "NATS node of the instances' connections killed with -9 (durable)", durable: true, fault: killConnNode("dbapi-durable")},
		{name: "stream leader killed with -9 (durable)", durable: true, fault: func(f *clusterFault) error {
			i, err := f.c.StreamLeader(f.ctx, f.h.stream)
			if err != nil {
				return err
			}
			return f.killAndRestore(i, "the stream's leader")
		}},
		{name: fmt.Sprintf("quorum lost for %s, then restored (durable)", q), durable: true, fault: loseQuorum(q)},
		{name: "rolling restart", fault: rolling},
		{name: "rolling restart (durable)", durable: true, fault: rolling},
		{name: "instances started right after the cluster restarted (durable)", durable: true, coldStart: true,
			fault: func(*clusterFault) error { return nil }},
	}
}

// clusterResult is a result with what a cluster fault measures besides.
type clusterResult struct {
	*result
	stall     time.Duration // the longest time without a success (request-reply) or an outcome (durable)
	drained   time.Duration // durable: from the fault's end until the requests sent before it have their outcomes
	drainedOK bool
	durable   bool
}

// TestNATSClusterFaults runs each fault of a NATS cluster under load and
// checks every request.
func TestNATSClusterFaults(t *testing.T) {
	requireSuite(t)
	md := currentMode()
	bin, err := natscluster.Build(suite.tmp)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := filepath.Join(suite.tmp, "natscluster")
	c, err := natscluster.Start(ctx, natscluster.Config{Dir: dir, Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var results []*clusterResult
	for _, sc := range clusterScenarios(md) {
		t.Run(sc.name, func(t *testing.T) {
			res := runClusterScenario(t, md, c, sc)
			if res != nil {
				results = append(results, res)
			}
			if t.Failed() {
				for i := range c.Size() {
					t.Logf("%s log:\n%s", c.Name(i), c.Log(i))
				}
			}
		})
	}
	if err := writeClusterReport(md, results); err != nil {
		t.Errorf("report: %v", err)
	}
}

// whole starts every node that does not run and waits until the cluster
// has a meta leader and every node has caught up.
func whole(ctx context.Context, c *natscluster.Cluster) error {
	all := make([]int, c.Size())
	for i := range all {
		all[i] = i
	}
	if err := c.Start(ctx, all...); err != nil {
		return err
	}
	if _, err := c.WaitMetaLeader(ctx); err != nil {
		return err
	}
	for i := range all {
		if err := c.WaitHealthy(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// runClusterScenario runs one fault of the cluster under load and checks
// its requests.
func runClusterScenario(t *testing.T, md mode, c *natscluster.Cluster, sc clusterScenario) *clusterResult {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := whole(ctx, c); err != nil {
		t.Fatalf("the cluster is not whole before the fault: %v", err)
	}
	h := newHarness(t, md)
	h.env = append(h.env, "DBAPI_NATS_URL="+c.URLs()) // the last of a name wins
	stream := strings.ToUpper(h.prefix)
	if sc.durable {
		h.env = append(h.env,
			"DBAPI_DURABLE=true",
			"DBAPI_DURABLE_REPLICAS=3",
			"DBAPI_STREAM="+stream,
			"DBAPI_DURABLE_CONSUMER="+h.prefix,
			"DBAPI_DURABLE_ACK_WAIT=2s",
			"DBAPI_DURABLE_BACKOFF=100ms",
			"DBAPI_DURABLE_MAX_BACKOFF=1s",
		)
	}
	nc, err := nats.Connect(c.URLs(), nats.Name("faults-load"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close) // after the stream's deletion below (cleanups run last first)
	res := &clusterResult{result: &result{fault: sc.name, clients: md.clients, recoveryLimit: md.recovery}, durable: sc.durable}
	l := &load{nc: nc, subject: h.prefix + ".accounts.transfer", wait: md.timeout + 3*time.Second, pause: md.pause}
	if sc.durable {
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		h.js, h.stream = js, stream
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			js.DeleteStream(ctx, stream)
		})
		res.recoveryLimit = resumeWithin
		// Paced as in durable_test.go: about 250 publishes a second.
		l.js, l.subject, l.republish = js, h.prefix+".durable.accounts.transfer", true
		l.pause = time.Duration(md.clients) * 4 * time.Millisecond
	}
	f := &clusterFault{t: t, ctx: ctx, h: h, c: c, d: md.outage}
	measured := make(chan struct{})
	f.onEnd = func() {
		go func() {
			defer close(measured)
			res.measure(ctx, h, l, md)
		}()
	}

	began := time.Now()
	var faultErr error
	if sc.coldStart {
		if err := coldRestart(ctx, c); err != nil {
			t.Fatal(err)
		}
		t.Logf("the cluster restarted; meta leader now: %v", metaLeaderNow(ctx, c))
		// Recovery: from the restart to the first outcome; the instances
		// may wait for JetStream up to DBAPI_CONNECT_TIMEOUT.
		res.recoveryLimit = time.Minute
		meta := make(chan string, 1)
		go func() {
			i, err := c.WaitMetaLeader(ctx)
			if err != nil {
				meta <- err.Error()
				return
			}
			meta <- fmt.Sprintf("meta leader %s elected %s after the restart", c.Name(i), time.Since(h.faultEnd).Round(time.Millisecond))
		}()
		f.ended()
		if err := h.startParallel(2); err != nil {
			t.Fatalf("instances started right after the cluster restarted: %v", err)
		}
		t.Logf("both instances serve %s after the cluster restarted; %s", time.Since(h.faultEnd).Round(time.Millisecond), <-meta)
		accounts := openAccounts(t, h.db, 8)
		l.accounts = accounts
		l.start(md.clients)
		<-measured
		sleep(md.warm + md.after)
	} else {
		h.start()
		h.start()
		l.accounts = openAccounts(t, h.db, 8)
		l.start(md.clients)
		if err := warmUp(h, l, md); err != nil {
			l.halt()
			t.Fatalf("%v; instance log:\n%s", err, h.instances[0].tail())
		}
		sleep(md.warm)
		rr, _ := c.Conns(ctx, "dbapi")
		dur, _ := c.Conns(ctx, "dbapi-durable")
		t.Logf("before the fault: the load's connection is on %s; the instances' connections by node: %v request-reply, %v durable",
			c.Name(max(c.NodeOf(nc), 0)), rr, dur)
		faultErr = sc.fault(f)
		f.ended()
		<-measured
		if res.recovered {
			sleep(md.after)
		}
	}
	l.halt()
	res.duration = time.Since(began)
	if faultErr != nil {
		t.Errorf("injecting the fault: %v", faultErr)
	}
	if sc.durable {
		if _, ok := waitOutcomes(h.db, l.streamAcked(time.Time{}), time.Now(), drainLimit); !ok {
			t.Errorf("not every acknowledged request has an outcome %s after the load stopped", drainLimit)
		}
		if err := waitDrained(h.js, stream, h.prefix, 30*time.Second); err != nil {
			t.Error(err)
		}
		if n, err := redelivered(h.js, stream, h.prefix); err == nil {
			t.Logf("%d deliveries were redeliveries", n)
		}
		if res.stall, err = outcomeStall(h); err != nil {
			t.Error(err)
		}
	} else {
		res.stall = l.successStall()
	}
	h.stopAll()
	h.waitNoConns()
	if sc.durable {
		if err := resolveDurable(h.db, l, res.result); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.check(h.db, res.result, opening); err != nil {
		t.Fatal(err)
	}

	t.Logf("%d requests in %s: %d acknowledged, errors: %s; %d unknown resolved (%d applied); longest stall %s; recovery %s; backlog drained %s",
		res.sent, res.duration.Round(100*time.Millisecond), res.acked, errorSummary(res.errors), res.unknown, res.unknownApplied,
		res.stall.Round(time.Millisecond), res.recovery.Round(time.Millisecond), res.drained.Round(time.Millisecond))
	for _, p := range res.problems {
		t.Errorf("broken promise: %s", p)
	}
	if sc.durable {
		for code, n := range res.errors {
			if code != "no reply" { // a publish the stream never acknowledged
				t.Errorf("%d durable transfers between funded accounts have the outcome %q", n, code)
			}
		}
		if !res.recovered {
			t.Errorf("durable requests resumed %s after the fault's end; want within %s", res.recovery.Round(time.Millisecond), res.recoveryLimit)
		}
		if !res.drainedOK {
			t.Errorf("the requests sent before the fault's end did not all get their outcome within %s", drainLimit)
		}
	} else if !res.recovered {
		t.Errorf("no request succeeded within %s after the fault ended", md.recovery)
	}
	if t.Failed() {
		for _, in := range h.instances {
			t.Logf("%s log:\n%s", in.name, in.tail())
		}
	}
	return res
}

// coldRestart stops every node and starts them all again, returning as
// soon as they accept clients: JetStream has no meta leader yet.
func coldRestart(ctx context.Context, c *natscluster.Cluster) error {
	all := make([]int, c.Size())
	for i := range all {
		all[i] = i
		if err := c.Stop(i); err != nil {
			return err
		}
	}
	return c.Start(ctx, all...)
}

// metaLeaderNow says which node leads JetStream, or why none does.
func metaLeaderNow(ctx context.Context, c *natscluster.Cluster) string {
	i, err := c.MetaLeader(ctx)
	if err != nil {
		return err.Error()
	}
	return c.Name(i)
}

// warmUp waits until the load flows: as many successes (request-reply)
// or outcomes (durable) as clients.
func warmUp(h *harness, l *load, md mode) error {
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		n := l.succeeded()
		if l.js != nil {
			h.db.Get(&n, "SELECT COUNT(*) FROM dbapi_durable_outcomes")
		}
		if n >= md.clients {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d requests succeeded in a minute before the fault", n)
		}
	}
}

// measure measures the recovery from the fault's end: the first success
// of a request sent after it (request-reply); the first outcome stored
// after it, then every request sent before it and acknowledged by the
// stream having its outcome (durable).
func (res *clusterResult) measure(ctx context.Context, h *harness, l *load, md mode) {
	since := h.faultEnd
	if !res.durable {
		res.recovery, res.recovered = l.probe(since, md.recovery)
		return
	}
	for {
		var first *time.Time
		if err := h.db.Get(&first, "SELECT MIN(created_at) FROM dbapi_durable_outcomes WHERE created_at >= ?", since.UTC()); err == nil && first != nil {
			res.recovery = first.Sub(since)
			res.recovered = res.recovery <= res.recoveryLimit
			break
		}
		if time.Since(since) > drainLimit || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for time.Since(since) < drainLimit && ctx.Err() == nil {
		keys, inFlight := l.sentBefore(since)
		if !inFlight {
			out, err := readOutcomes(h.db)
			if err == nil && !slices.ContainsFunc(keys, func(k string) bool { _, ok := out[k]; return !ok }) {
				res.drained, res.drainedOK = time.Since(since), true
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sentBefore returns the keys of the requests sent before t that the
// stream acknowledged, and whether some sent before t still wait for
// the stream.
func (l *load) sentBefore(t time.Time) (keys []string, inFlight bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.reqs {
		if !r.sent.Before(t) {
			continue
		}
		switch {
		case r.done.IsZero():
			inFlight = true
		case r.out == gotStreamAck:
			keys = append(keys, msgID(r.cents))
		}
	}
	return keys, inFlight
}

// successStall returns the longest time between two successes.
func (l *load) successStall() time.Duration {
	l.mu.Lock()
	var done []time.Time
	for _, r := range l.reqs {
		if r.out == gotSuccess && !r.done.IsZero() {
			done = append(done, r.done)
		}
	}
	l.mu.Unlock()
	return longestGap(done)
}

// outcomeStall returns the longest time between two stored outcomes.
func outcomeStall(h *harness) (time.Duration, error) {
	var at []time.Time
	if err := h.db.Select(&at, "SELECT created_at FROM dbapi_durable_outcomes"); err != nil {
		return 0, fmt.Errorf("outcome times: %w", err)
	}
	return longestGap(at), nil
}

func longestGap(ts []time.Time) time.Duration {
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	for i := 1; i < len(ts); i++ {
		gap = max(gap, ts[i].Sub(ts[i-1]))
	}
	return gap
}

// writeClusterReport writes the cluster faults' table next to the
// suite's (DBAPI_FAULTS_OUT, default out/faults.md, gets a sibling
// faults-natscluster.md) and prints it.
func writeClusterReport(md mode, results []*clusterResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "NATS cluster faults (%s run), %s: 3 nats-server processes (JetStream, an R3 stream), 2 instances given every URL, "+
		"%d clients; DBAPI_TIMEOUT=%s; a node stays down about %s; the quorum is lost for %s.\n\n",
		md.name, time.Now().UTC().Format("2006-01-02"), md.clients, md.timeout, md.outage, quorumOutage(md))
	b.WriteString("| fault | load | acknowledged | lost | duplicated | applied despite an error | unknown outcomes resolved | error replies | slowest reply | longest stall | recovery | backlog drained |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|---|---|--:|--:|--:|--:|\n")
	for _, r := range results {
		cells := r.cells(r.recoveryLimit)
		drained := "–"
		if r.durable {
			drained = "none within " + drainLimit.String()
			if r.drainedOK {
				drained = fmt.Sprintf("%.2f s", r.drained.Seconds())
			}
			if r.recovery > 0 && !r.recovered {
				cells[len(cells)-1] = fmt.Sprintf("%.2f s (over %s)", r.recovery.Seconds(), r.recoveryLimit)
			}
		}
		cells = slices.Insert(cells, len(cells)-1, fmt.Sprintf("%.2f s", r.stall.Seconds()))
		fmt.Fprintf(&b, "| %s | %s |\n", strings.Join(cells, " | "), drained)
	}
	b.WriteString("\nColumns as in the table above. Longest stall: the longest time without a success (request-reply) " +
		"or without a durable outcome being stored. Recovery: request-reply, from the fault's end to the first success " +
		"of a request sent after it; durable, from the fault's end to the first outcome stored after it (the promise: " +
		resumeWithin.String() + "). The fault ends: for a killed node, at the kill with request-reply (the other two " +
		"nodes serve; the node is started again after the outage) and, with durable requests, once the stream and its " +
		"consumer have leaders again (NATS elects new ones seconds after a leader is killed); for the lost quorum, once " +
		"they have leaders again after the nodes were started; for the rolling restart, once the last node is back; for " +
		"the cluster restart, once the nodes accept clients: the instances start then, and must wait for JetStream's " +
		"meta leader (the promise there: the first outcome within DBAPI_CONNECT_TIMEOUT, 1m). Backlog drained: from the " +
		"fault's end until every durable request sent before it and acknowledged by the stream has its outcome. " +
		"Durable clients republish a failed publish (an error, or no ack within 2 s) with the same Nats-Msg-Id until the stream acks it or " +
		(md.timeout + 3*time.Second).String() + " pass; one that never got an ack is a no-reply, looked up in the database.\n")
	out := os.Getenv("DBAPI_FAULTS_OUT")
	if out == "" {
		out = filepath.Join("out", "faults.md")
	}
	out = strings.TrimSuffix(out, filepath.Ext(out)) + "-natscluster.md"
	fmt.Print("\n" + b.String())
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}
