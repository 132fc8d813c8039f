package opshttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CheckTimeout bounds each readiness check.
const CheckTimeout = 2 * time.Second

// Check is one readiness condition: nil when it holds.
type Check func(ctx context.Context) error

// Server serves /healthz, /readyz and the handlers mounted with Handle.
type Server struct {
	// Addr is the address it listens on (with the chosen port when the
	// configured one was 0).
	Addr string

	l        net.Listener
	mux      *http.ServeMux
	srv      *http.Server
	done     chan error
	started  atomic.Bool
	stopping atomic.Bool

	mu      sync.Mutex
	checks  []namedCheck
	details []func() string
}

type namedCheck struct {
	name  string
	check Check
}

// Listen binds addr. Nothing is served until Start; the connections the
// kernel accepts meanwhile wait.
func Listen(addr string) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: l.Addr().String(), l: l, mux: http.NewServeMux(), done: make(chan error, 1)}
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("/readyz", s.readyz)
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// Handle mounts h at pattern (as http.ServeMux does). Call it before
// Start.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// AddCheck adds a readiness condition. Until the first one is added,
// /readyz answers "starting".
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, namedCheck{name, c})
}

// AddDetail adds a line /readyz prints after its verdict, ready or not,
// that never decides it (the state of read replicas, which never make the
// program unready).
func (s *Server) AddDetail(line func() string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.details = append(s.details, line)
}

// Stopping makes /readyz fail from now on: the program is shutting down
// and should get no new work.
func (s *Server) Stopping() { s.stopping.Store(true) }

// Start serves in the background until Shutdown.
func (s *Server) Start() {
	if s.started.Swap(true) {
		return
	}
	go func() { s.done <- s.srv.Serve(s.l) }()
}

// Ready runs the checks and returns why the program is not ready, or nil.
func (s *Server) Ready(ctx context.Context) error {
	if s.stopping.Load() {
		return errors.New("stopping")
	}
	s.mu.Lock()
	checks := s.checks
	s.mu.Unlock()
	if len(checks) == 0 {
		return errors.New("starting")
	}
	var errs []error
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
		err := c.check(cctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	s.mu.Lock()
	details := s.details
	s.mu.Unlock()
	if err := s.Ready(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: "+strings.ReplaceAll(err.Error(), "\n", "; "))
	} else {
		fmt.Fprintln(w, "ok")
	}
	for _, d := range details {
		fmt.Fprintln(w, d())
	}
}

// Shutdown stops serving, waiting for requests in progress until ctx
// ends. It closes the listener even if Start was never called.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.started.Load() {
		return s.l.Close()
	}
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// URL returns the http:// URL of path on this server.
func (s *Server) URL(path string) string { return "http://" + s.Addr + path }

// Probe GETs url and returns nil if the answer is 200, else an error with
// the status and the body's first line. It is what a health check command
// runs in an image without a shell or curl.
func Probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		line, _, _ := strings.Cut(string(b), "\n")
		return fmt.Errorf("%s: %s: %s", url, resp.Status, line)
	}
	return nil
}

// LocalURL turns a listen address into a URL a program on the same host
// can reach: an empty or unspecified host becomes the loopback address.
func LocalURL(addr, path string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}
