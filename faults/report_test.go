//go:build linux

package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// writeReport writes the table of results to DBAPI_FAULTS_OUT (default
// out/faults.md in this folder, which git ignores) and prints it.
func writeReport(md mode, results []*result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Fault suite (%s run), %s, %d cores, %s/%s. Each fault runs under a load of %d clients "+
		"sending accounts.transfer with unique amounts; DBAPI_TIMEOUT=%s; a fault lasts about %s.\n\n",
		md.name, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH,
		md.clients, md.timeout, md.outage)
	b.WriteString("| fault | load | acknowledged | lost | duplicated | applied despite an error | unknown outcomes resolved | error replies | slowest reply | recovery |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|---|---|--:|--:|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(r.cells(r.limit(md)), " | "))
	}
	b.WriteString("\nLost: acknowledged but not in the database. Duplicated: applied more than once, or a row no request accounts for. " +
		"Applied despite an error: a 4xx, 503, 504 or no-responders answer whose transfer is in the database. " +
		"Unknown outcomes: commit_outcome_unknown, other 5xx and requests without a reply, each looked up in the database. " +
		"Slowest reply: the longest a client waited for a reply that came. " +
		"Recovery: from the end of the fault (server back, toxic removed, instance killed or restarted) to the first success of a request sent after it.\n\n" +
		"Durable rows: requests are JetStream publishes; acknowledged means acknowledged by the stream and then applied " +
		"(its stored outcome names its row); a publish the stream did not acknowledge counts as no reply, looked up in the database; " +
		"slowest reply is the slowest stream ack; recovery is from the first instance's restart until every request the stream " +
		"acknowledged before it has its outcome (the backlog drained).\n")
	out := os.Getenv("DBAPI_FAULTS_OUT")
	if out == "" {
		out = filepath.Join("out", "faults.md")
	}
	fmt.Print("\n" + b.String())
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

// cells returns r's cells in the table: fault, load, acknowledged, lost,
// duplicated, applied despite an error, unknown outcomes, error replies,
// slowest reply, recovery (limit: the recovery promise).
// limit is the recovery the row promises: the mode's, unless the fault
// sets its own.
func (r *result) limit(md mode) time.Duration {
	if r.recoveryLimit > 0 {
		return r.recoveryLimit
	}
	return md.recovery
}

func (r *result) cells(limit time.Duration) []string {
	recovery := "none within " + limit.String()
	if r.recovered {
		recovery = fmt.Sprintf("%.2f s", r.recovery.Seconds())
	}
	unknown := "0"
	if r.unknown > 0 {
		unknown = fmt.Sprintf("%d (%d applied, %d not)", r.unknown, r.unknownApplied, r.unknown-r.unknownApplied)
	}
	errs := errorSummary(r.errors)
	if r.noResponders > 0 {
		errs += fmt.Sprintf("; no responders ×%d", r.noResponders)
	}
	return []string{r.fault, fmt.Sprintf("%d requests in %.1f s", r.sent, r.duration.Seconds()), fmt.Sprint(r.acked),
		fmt.Sprint(r.lost), fmt.Sprint(r.dup), fmt.Sprint(r.appliedOnError), unknown, errs,
		fmt.Sprintf("%.2f s", r.slowest.Seconds()), recovery}
}
