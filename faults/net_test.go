//go:build linux

package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/dbapi-dev/dbapi/internal/freeport"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// natsServer is a nats-server embedded in the test process that can be
// shut down and started again on the same port. It has JetStream on (for
// durable requests), its store in storeDir, which a restart keeps.
type natsServer struct {
	port     int
	storeDir string
	mu       sync.Mutex
	ns       *server.Server
}

func startNATS(storeDir string) (*natsServer, error) {
	port, err := freeport.Port()
	if err != nil {
		return nil, err
	}
	n := &natsServer{port: port, storeDir: storeDir}
	return n, n.start()
}

func (n *natsServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }
func (n *natsServer) url() string  { return "nats://" + n.addr() }

func (n *natsServer) start() error {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: n.port, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: n.storeDir})
	if err != nil {
		return fmt.Errorf("embedded NATS: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return errors.New("embedded NATS server did not start")
	}
	n.mu.Lock()
	n.ns = ns
	n.mu.Unlock()
	return nil
}

func (n *natsServer) stop() {
	n.mu.Lock()
	ns := n.ns
	n.ns = nil
	n.mu.Unlock()
	if ns != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
}

// link is a Toxiproxy proxy in the test process between the service and
// one server. Toxics added to it disturb every connection through it.
type link struct {
	proxy *toxiproxy.Proxy
}

var toxiServer = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())

func newLink(name, upstream string) (*link, error) {
	p := toxiproxy.NewProxy(toxiServer, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("toxiproxy %s: %w", name, err)
	}
	return &link{proxy: p}, nil
}

// addr is where the service connects instead of the server.
func (l *link) addr() string { return l.proxy.Listen }

// add adds a toxic: typ is a Toxiproxy toxic type ("latency", "timeout",
// "reset_peer"), stream "upstream" or "downstream", attrs its attributes
// as JSON.
func (l *link) add(name, typ, stream, attrs string) error {
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, name, typ, stream, attrs)
	_, err := l.proxy.Toxics.AddToxicJson(strings.NewReader(js))
	return err
}

// clear removes every toxic.
func (l *link) clear() { l.proxy.Toxics.ResetToxics(context.Background()) }

func (l *link) stop() { l.proxy.Stop() }
