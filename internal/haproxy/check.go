package haproxy

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/dbapi-dev/dbapi/internal/mariadbd"
)

// Check is an HTTP health check of one Galera node, for HAProxy's
// `option httpchk`: 200 when the node is Synced, ready (wsrep_ready) and
// in the primary component; 503 when it is not (joining, donor,
// desynced, outside the primary component) or does not answer within
// checkTimeout. The body says why.
type Check struct {
	// DB is a pool on the node (any user may read SHOW GLOBAL STATUS).
	DB *sql.DB
	// AvailableWhenDonor answers 200 on a node that is the donor of a
	// state transfer (Donor/Desynced): with rsync that node blocks its
	// writes while it copies, so the default is false.
	AvailableWhenDonor bool
}

// checkTimeout bounds a check's query. A node that answers takes
// milliseconds; the margin is for a loaded machine, where a check that
// times out marks a healthy node down and cuts its connections.
const checkTimeout = 4 * time.Second

// ServeHTTP answers the check.
func (c *Check) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
	defer cancel()
	ok, why := c.Healthy(ctx)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, why)
}

// Healthy reports whether the node should take connections, and why.
func (c *Check) Healthy(ctx context.Context) (bool, string) {
	s, err := mariadbd.ReadState(ctx, c.DB)
	switch {
	case err != nil:
		return false, "Galera node is not answering: " + err.Error()
	case s.ClusterStatus != "Primary":
		return false, "Galera node is not in the primary component: " + s.String()
	case !s.Ready:
		return false, "Galera node is not ready: " + s.String()
	case s.LocalState == "Synced":
		return true, "Galera node is Synced"
	case c.AvailableWhenDonor && s.LocalState == "Donor/Desynced":
		return true, "Galera node is a donor (available when donor)"
	}
	return false, "Galera node is not Synced: " + s.String()
}

// CheckServer serves a Check over HTTP on a free port of 127.0.0.1.
type CheckServer struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// ServeCheck starts serving c on a free port of 127.0.0.1.
func ServeCheck(c *Check) (*CheckServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &CheckServer{srv: &http.Server{Handler: c, ReadHeaderTimeout: 5 * time.Second}, addr: l.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.srv.Serve(l) // returns at Close

	}()
	return s, nil
}

// Addr is the check's address, 127.0.0.1:port.
func (s *CheckServer) Addr() string { return s.addr }

// Close stops serving.
func (s *CheckServer) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}
