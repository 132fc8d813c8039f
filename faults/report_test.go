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
	b.WriteString("| fault | load | acknowledged | lost | duplicated | applied despite an error | unknown outcomes resolved | error replies | recovery |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|---|---|--:|\n")
	for _, r := range results {
		recovery := "none within " + md.recovery.String()
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
		fmt.Fprintf(&b, "| %s | %d requests in %.1f s | %d | %d | %d | %d | %s | %s | %s |\n",
			r.fault, r.sent, r.duration.Seconds(), r.acked, r.lost, r.dup, r.appliedOnError, unknown, errs, recovery)
	}
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
