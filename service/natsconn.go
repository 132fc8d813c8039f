package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/dbapi-dev/dbapi/internal/await"
	"github.com/dbapi-dev/dbapi/internal/embednats"
	"github.com/nats-io/nats.go"
)

// connectNATS connects to DBAPI_NATS_URL, or starts an embedded server.
func (m *Main) connectNATS(ctx context.Context) error {
	url := m.Config.NATSURL
	if url == "" {
		var err error
		if url, err = m.startEmbedded(); err != nil {
			return err
		}
	}
	opts := []nats.Option{
		nats.Name("dbapi"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil when we close the connection ourselves
				m.Logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { m.Logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				m.slowConsumer(sub)
				return
			}
			m.Logger.Error("nats error", "err", err)
		}),
	}
	if m.Config.NATSCreds != "" {
		if _, err := os.Stat(m.Config.NATSCreds); err != nil {
			return fmt.Errorf("DBAPI_NATS_CREDS: %w", err)
		}
		opts = append(opts, nats.UserCredentials(m.Config.NATSCreds))
	}
	var nc *nats.Conn
	err := await.Retry(ctx, m.Config.ConnectTimeout, m.Logger, "nats", natsUnreachable, func(context.Context) error {
		var err error
		nc, err = nats.Connect(url, opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("connect to NATS (DBAPI_NATS_URL): %w", err)
	}
	m.NATS = nc
	m.NATSURL = nc.ConnectedUrlRedacted()
	if m.Config.Durable {
		// A connection of its own: the request-reply consumer drains its
		// connection's subscriptions on stop, and JetStream keeps one.
		opts[0] = nats.Name("dbapi-durable")
		if m.DurableNATS, err = nats.Connect(url, opts...); err != nil {
			return fmt.Errorf("connect to NATS (DBAPI_NATS_URL): %w", err)
		}
	}
	return nil
}

// natsUnreachable reports whether a NATS connect failed for want of a
// server (not, say, for bad credentials): a NATS cluster restarting, or
// started after the service.
func natsUnreachable(err error) bool {
	var ne net.Error
	return errors.Is(err, nats.ErrNoServers) || errors.As(err, &ne)
}

// maxReply is the largest reply body nc can carry, leaving room for the
// headers.
func maxReply(nc *nats.Conn) int {
	if limit := nc.MaxPayload(); limit > 1024 {
		return int(limit - 1024)
	}
	return 0
}

// startEmbedded starts an in-process NATS server on DBAPI_NATS_LISTEN, or
// on a free port if that one is taken, and returns its URL.
func (m *Main) startEmbedded() (string, error) {
	cfg := embednats.Config{Listen: m.Config.NATSListen, MaxPayload: m.Config.MaxPayload}
	if m.Config.Durable {
		// For trying durable requests out; its store is a temporary folder.
		cfg.StoreDir = filepath.Join(os.TempDir(), "dbapi-embedded-nats")
	}
	ns, err := embednats.Start(cfg)
	if err != nil {
		return "", fmt.Errorf("DBAPI_NATS_LISTEN: %w", err)
	}
	m.embedded = ns
	if ns.Moved {
		// Clients that expect the usual port would reach whatever holds
		// it and get "no responders", which reads like an unknown
		// operation: say so loudly.
		m.Logger.Warn("DBAPI_NATS_LISTEN "+m.Config.NATSListen+" is taken (another NATS server or dbapi?): "+
			"the embedded NATS server listens on "+ns.URL()+" instead. Clients must use that URL, "+
			"e.g. nats --server "+ns.URL()+" request ...; or set DBAPI_NATS_URL to use the server that holds the port",
			"url", ns.URL(), "wanted", m.Config.NATSListen)
	} else {
		m.Logger.Info("embedded NATS server started (set DBAPI_NATS_URL to use your own)", "url", ns.URL())
	}
	return ns.URL(), nil
}
