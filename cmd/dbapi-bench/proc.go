package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat: 100 on every Linux architecture Go supports.
const procTicks = 100

// procCPU returns the user+system CPU time of a process from
// /proc/<pid>/stat ("self" for this process), and false where there is no
// such file (not Linux, or the process is gone).
func procCPU(pid string) (time.Duration, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces and parentheses: fields start
	// after the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * time.Second / procTicks, true
}

// machinePID stands, in a cpuMeter, for the CPU time of the whole machine.
const machinePID = "machine"

// machineBusy returns the CPU time all processes of the machine used since
// boot (every CPU, idle and iowait excluded), from /proc/stat.
func machineBusy() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		// user nice system idle iowait irq softirq steal guest guest_nice;
		// guest time is already counted in user.
		if i != 3 && i != 4 && i < 8 {
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / procTicks, true
}

// loadAverage returns the 1-minute load average, or 0.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// procRSS returns the resident set size of a process in bytes, from
// /proc/<pid>/status, and false where it cannot be read.
func procRSS(pid string) (int64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0, false
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// findProcess returns the pid of the first process whose command name is
// one of names, or "" (not Linux, or none running).
func findProcess(names ...string) string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		for _, n := range names {
			if comm == n {
				return e.Name()
			}
		}
	}
	return ""
}

// rssSampler reads a process's RSS every interval and keeps the largest.
type rssSampler struct {
	mu   sync.Mutex
	max  int64
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(pid string, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	if pid == "" {
		close(s.done)
		return s
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if v, ok := procRSS(pid); ok {
				s.mu.Lock()
				s.max = max(s.max, v)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops sampling and returns the largest RSS seen, in bytes.
func (s *rssSampler) end() int64 {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

// cpuMeter reads the CPU time of several processes at the start and end
// of a measured window.
type cpuMeter struct {
	mu    sync.Mutex
	pids  []string
	start []time.Duration
	stop  []time.Duration
	ended bool
}

func newCPUMeter(pids ...string) *cpuMeter {
	return &cpuMeter{pids: pids, start: make([]time.Duration, len(pids)), stop: make([]time.Duration, len(pids))}
}

func (m *cpuMeter) read(into []time.Duration) {
	for i, pid := range m.pids {
		switch pid {
		case "":
		case machinePID:
			into[i], _ = machineBusy()
		default:
			into[i], _ = procCPU(pid)
		}
	}
}

func (m *cpuMeter) begin() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.read(m.start)
}

func (m *cpuMeter) finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ended {
		m.ended = true
		m.read(m.stop)
	}
}

// used returns the CPU time each process used in the window.
func (m *cpuMeter) used() []time.Duration {
	m.finish()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]time.Duration, len(m.pids))
	for i := range m.pids {
		if m.pids[i] != "" {
			out[i] = max(m.stop[i]-m.start[i], 0)
		}
	}
	return out
}
