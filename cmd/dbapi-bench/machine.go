package main

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

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
	SyncBinlog string `json:"sync_binlog,omitempty"`
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
	if db.GetContext(ctx, &v, "SELECT @@GLOBAL.sync_binlog") == nil {
		m.SyncBinlog = v
	}
	return m
}

// statusMeter reads counters of the database server's global status
// (SHOW GLOBAL STATUS) at the start and at the end of a measured window,
// all in one statement, on a connection of its own so that a busy pool
// cannot delay it.
type statusMeter struct {
	db    *sqlx.DB
	names []string
	mu    sync.Mutex
	start []int64
	stop  []int64
	began bool // start was read
	read  bool // stop was read
	ended bool
}

// newStatusMeter measures the counters names (constants such as
// Com_commit) on db; with a nil db it measures nothing.
func newStatusMeter(db *sqlx.DB, names ...string) *statusMeter {
	return &statusMeter{db: db, names: names}
}

// values reads the counters, and false unless it read every one.
func (m *statusMeter) values() ([]int64, bool) {
	if m.db == nil || len(m.names) == 0 {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := m.db.QueryxContext(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN ('"+strings.Join(m.names, "','")+"')")
	if err != nil {
		return nil, false
	}
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var name string
		var v int64
		if rows.Scan(&name, &v) != nil {
			return nil, false
		}
		got[strings.ToLower(name)] = v
	}
	if rows.Err() != nil {
		return nil, false
	}
	out := make([]int64, len(m.names))
	for i, n := range m.names {
		v, ok := got[strings.ToLower(n)]
		if !ok {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

func (m *statusMeter) begin() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.start, m.began = m.values()
}

func (m *statusMeter) finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ended {
		m.ended = true
		m.stop, m.read = m.values()
	}
}

// counts returns how much each counter grew in the window, each -1 where
// they were not read at both ends.
func (m *statusMeter) counts() []int64 {
	m.finish()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int64, len(m.names))
	for i := range out {
		out[i] = -1
		if m.began && m.read {
			out[i] = max(m.stop[i]-m.start[i], 0)
		}
	}
	return out
}

// used returns how much the first counter grew in the window, or -1
// where it was not read at both ends.
func (m *statusMeter) used() int64 {
	if c := m.counts(); len(c) > 0 {
		return c[0]
	}
	return -1
}

// meters begins or finishes several meters at once, each server read
// concurrently, so that the window's edges are read as close together
// as possible.
func meters(f func(*statusMeter), ms ...*statusMeter) {
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() { defer wg.Done(); f(m) }()
	}
	wg.Wait()
}
