package service

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// procKB reads a "Vm...: N kB" line of /proc/<pid>/status.
func procKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the service's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// 1,000 requests of about 1 MB sent at once to a service process (the bank
// example, default configuration): its peak RSS stays under the stated
// bound (README, "Operations": the memory limit it sets itself from the
// configuration, plus 10%), and it still answers afterwards.
func TestMemoryBoundedUnderLargeRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 1 GB through NATS")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc")
	}
	bin := binary(t, "examples/bank")
	// The service's own embedded NATS server (its buffers count too), and
	// a NATS server in the test process (1 GB through the shared one would
	// burden other tests).
	t.Run("embedded NATS", func(t *testing.T) { flood(t, bin, true) })
	t.Run("external NATS", func(t *testing.T) { flood(t, bin, false) })
}

func flood(t *testing.T, bin string, embedded bool) {
	e := newEnv(t)
	var url string
	natsEnv := []string{}
	if embedded {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		url = "nats://" + addr
		natsEnv = append(natsEnv, "DBAPI_NATS_LISTEN="+addr)
	} else {
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("NATS did not start")
		}
		t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
		url = ns.ClientURL()
		natsEnv = append(natsEnv, "DBAPI_NATS_URL="+url)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DBAPI_") && !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "GOGC=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(append(env, natsEnv...), "DBAPI_MYSQL_DSN="+e.db.FormatDSN(),
		"DBAPI_PREFIX="+e.prefix, "DBAPI_QUEUE_GROUP="+e.prefix, "DBAPI_HTTP_ADDR=127.0.0.1:0", "DBAPI_LOG_LEVEL=info")
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })

	nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	subject := e.prefix + ".accounts.open"
	waitAnswers(t, nc, subject, logs)
	limit := memoryLimitFromLog(t, logs.String())

	// 1,000,000 bytes each: an account to open, padded with white space.
	const n, size = 1000, 1_000_000
	body := []byte(`{"owner":"flood",` + strings.Repeat(" ", size-36) + `"balance":"1.00"}`)
	inbox := nats.NewInbox()
	var replies, overloaded atomic.Int64
	sub, err := nc.Subscribe(inbox+".*", func(m *nats.Msg) {
		replies.Add(1)
		if m.Header.Get("Nats-Service-Error-Code") == "503" {
			overloaded.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)
	// The table locked, so that every worker waits with its request and the
	// queue fills up: the most requests the service holds at once.
	unlock := e.lockAccounts()
	for i := range n {
		if err := nc.PublishMsg(&nats.Msg{Subject: subject, Reply: fmt.Sprintf("%s.%d", inbox, i), Data: body}); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	// Wait until the replies stop coming, then let the queue run, and wait
	// again.
	waitQuiet := func() {
		for last, quiet := int64(-1), 0; quiet < 8 && replies.Load() < n; time.Sleep(250 * time.Millisecond) {
			if r := replies.Load(); r == last {
				quiet++
			} else {
				last, quiet = r, 0
			}
		}
	}
	waitQuiet()
	t.Logf("while the table was locked: %d replies (%d overloaded); RSS %.1f MiB", replies.Load(), overloaded.Load(), mib(procKB(t, cmd.Process.Pid, "VmRSS")<<10))
	unlock()
	waitQuiet()
	pid := cmd.Process.Pid
	peak := procKB(t, pid, "VmHWM") << 10
	bound := limit + limit/10
	t.Logf("%d requests of %d bytes: %d replies (%d overloaded, %d unanswered, %d slow-consumer log lines); peak RSS %.1f MiB; memory limit %.1f MiB; bound %.1f MiB",
		n, len(body), replies.Load(), overloaded.Load(), n-replies.Load(), strings.Count(logs.String(), "slow consumer"), mib(peak), mib(limit), mib(bound))
	if peak > bound {
		t.Errorf("peak RSS %.1f MiB is over the bound %.1f MiB", mib(peak), mib(bound))
	}
	if replies.Load() == 0 {
		t.Error("no request was answered")
	}
	// Still serving.
	if _, err := nc.Request(subject, []byte(`{"owner":"y","balance":"1.00"}`), 10*time.Second); err != nil {
		t.Errorf("after the flood: %v", err)
	}
	if t.Failed() {
		t.Logf("service log:\n%.20000s", logs.String())
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// memoryLimitFromLog finds the memory limit the service logged at start.
func memoryLimitFromLog(t *testing.T, logs string) int64 {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"msg":"memory"`) {
			_, v, ok := strings.Cut(line, `"limit_bytes":`)
			if ok {
				v, _, _ = strings.Cut(v, ",")
				n, err := strconv.ParseInt(strings.TrimRight(v, "}"), 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	t.Fatalf("the service logged no memory limit:\n%s", logs)
	return 0
}

// lockedBuffer is a bytes.Buffer a process's output and a test can share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitAnswers sends an accounts.open to subject until a bank process
// answers, for up to a minute, and fails the test with its log if it never
// does.
func waitAnswers(t *testing.T, nc *nats.Conn, subject string, logs fmt.Stringer) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if _, err := nc.Request(subject, []byte(`{"owner":"x","balance":"1.00"}`), time.Second); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not answer:\n%s", logs)
		}
	}
}
