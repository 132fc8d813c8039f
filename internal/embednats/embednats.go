package embednats

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config is what the embedded server needs.
type Config struct {
	// Listen is where it listens, host:port; a free port of the host if
	// that one is taken.
	Listen string
	// MaxPayload is the largest message it takes (at least 1 MiB).
	MaxPayload int
	// StoreDir, when set, turns JetStream on with its store there.
	StoreDir string
}

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
	// Moved reports that the wanted port was taken and the server
	// listens on another.
	Moved bool
}

// Start starts the server and waits until it takes connections.
func Start(cfg Config) (*Server, error) {
	host, port, moved, err := listenAddr(cfg.Listen)
	if err != nil {
		return nil, err
	}
	opts := &server.Options{Host: host, Port: port, NoSigs: true, MaxPayload: int32(max(cfg.MaxPayload, 1<<20))}
	if cfg.StoreDir != "" {
		opts.JetStream, opts.StoreDir = true, cfg.StoreDir
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded NATS server did not start")
	}
	return &Server{ns: ns, Moved: moved}, nil
}

// URL is the URL clients connect to.
func (s *Server) URL() string { return s.ns.ClientURL() }

// Shutdown stops the server and waits until it has.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// listenAddr splits addr, choosing a free port of its host when the
// wanted one is busy (moved reports it; a wanted port 0 is free by
// definition).
func listenAddr(addr string) (host string, port int, moved bool, err error) {
	host, want, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, false, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		moved = want != "0"
		if l, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
			return "", 0, false, err
		}
	}
	port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	return host, port, moved, nil
}
