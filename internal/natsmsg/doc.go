// Package natsmsg is what both transports (packages consumer and durable)
// do with a reply: publish it as a NATS message, with the reply's
// headers (error status and message, or Dbapi-Replayed) and body.
package natsmsg
