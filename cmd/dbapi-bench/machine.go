package main

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Machine describes where a run took place.
type Machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model,omitempty"`
	MemoryGiB  int    `json:"memory_gib,omitempty"`
	OS         string `json:"os"`
	Kernel     string `json:"kernel,omitempty"`
	GoVersion  string `json:"go_version"`
	Database   string `json:"database,omitempty"`
	FlushAtTrx string `json:"innodb_flush_log_at_trx_commit,omitempty"`
	BinLog     string `json:"log_bin,omitempty"`
}

func describeMachine(ctx context.Context, db *sqlx.DB) Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemoryGiB = int((kb + 1<<19) >> 20)
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	var v string
	if db.GetContext(ctx, &v, "SELECT VERSION()") == nil {
		m.Database = v
	}
	if db.GetContext(ctx, &v, "SELECT @@GLOBAL.innodb_flush_log_at_trx_commit") == nil {
		m.FlushAtTrx = v
	}
	if db.GetContext(ctx, &v, "SELECT @@GLOBAL.log_bin") == nil {
		m.BinLog = v
	}
	return m
}
