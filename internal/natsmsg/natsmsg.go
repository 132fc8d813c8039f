package natsmsg

import (
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/nats-io/nats.go"
)

// Msg returns the message that carries r to subject.
func Msg(subject string, r executor.Reply) *nats.Msg {
	return &nats.Msg{Subject: subject, Header: r.Header, Data: r.Body}
}

// Publish publishes r to subject on nc.
func Publish(nc *nats.Conn, subject string, r executor.Reply) error {
	return nc.PublishMsg(Msg(subject, r))
}
