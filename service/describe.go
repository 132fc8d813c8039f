package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/asyncapi"
	"github.com/dbapi-dev/dbapi/batch"
	"github.com/dbapi-dev/dbapi/catalog"
	"github.com/dbapi-dev/dbapi/durable"
	"github.com/dbapi-dev/dbapi/protocol"
)

// Describe writes the AsyncAPI 3.0 document of the service as configured
// (prefix, raw SQL, declared operations, the durable path) to w. It needs
// no NATS. When there are declared operations it asks the database for
// their result columns, once and without waiting for it (as dbapi check
// does); if the database cannot be reached it says so in a warning, and
// those operations' result schemas give only their kind.
func (m *Main) Describe(w io.Writer) error {
	reg, err := m.registry()
	if err != nil {
		return err
	}
	if len(m.defs) > 0 {
		if reg, err = m.describeColumns(reg); err != nil {
			return err
		}
	}
	endpoints := append(reg.Operations(), dbapi.Operation{
		Name:         batch.Name,
		Description:  batch.Description,
		Params:       batch.ParamsSchema,
		Result:       dbapi.ResultOne,
		ResultSchema: batch.ResultSchema,
	})
	var durablePath *asyncapi.Durable
	if m.Config.Durable {
		endpoints = append(endpoints, outcomeEndpoint)
		durablePath = durableContract(m.Config)
	}
	server := m.Config.NATSURL
	if server == "" {
		server = m.Config.NATSListen // the embedded server
	}
	doc, err := asyncapi.Write(asyncapi.Service{
		Title:       m.App.name(),
		Version:     Version(),
		Description: "Each request runs as one MySQL transaction that commits (or rolls back) before the reply.",
		Server:      server,
		Prefix:      m.Config.Prefix,
		QueueGroup:  m.Config.QueueGroup,
		Endpoints:   endpoints,
		Contract:    contract(),
		Durable:     durablePath,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", doc)
	return err
}

// describeColumns reads the declared operations' result columns from the
// database (one try, as for dbapi check), and returns reg with their
// result schemas. A database it cannot reach, or a check that fails, is a
// warning: the document is written with kind-only schemas.
func (m *Main) describeColumns(reg *dbapi.Registry) (*dbapi.Registry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := m.Config
	cfg.ConnectTimeout = 0
	opener := &Main{Config: cfg, Logger: m.Logger}
	if err := opener.openDB(ctx, false); err != nil {
		m.Logger.Warn("describe: the database cannot be reached, so the declared operations' result schemas give only their kind (no column types)", "err", err)
		return reg, nil
	}
	defer opener.DB.Close()
	problems, err := catalog.Check(ctx, opener.DB.DB, m.defs)
	if err != nil {
		m.Logger.Warn("describe: the database could not be asked for the result columns; the result schemas give only their kind", "err", err)
		return reg, nil
	}
	for _, p := range problems {
		m.Logger.Warn("describe: a declared operation does not check out against the database (see dbapi check)", "problem", p.Error())
	}
	m.logUnknownColumns()
	return m.withColumns(reg)
}

// outcomeEndpoint describes <prefix>.outcome, the durable outcomes'
// request-reply endpoint (package durable).
var outcomeEndpoint = dbapi.Operation{
	Name:         protocol.OutcomeOperation,
	Description:  "The outcome of a durable request, by its key (its " + protocol.HeaderMsgID + "): the reply it had, with " + protocol.HeaderReplayed + ": true, or 404 not_found while it has not run (or once its outcome expired).",
	Params:       dbapi.SchemaOf(protocol.OutcomeRequest{}),
	ReadOnly:     true,
	Result:       dbapi.ResultOne,
	ResultSchema: json.RawMessage(`{"description":"the body of the durable request's reply: its result, or an error body (then with the error headers), exactly as it was first sent"}`),
}

// durableContract describes the durable path as package durable serves
// it.
func durableContract(cfg Config) *asyncapi.Durable {
	stream := cfg.Stream
	if stream == "" {
		stream = durable.StreamName(cfg.Prefix)
	}
	return &asyncapi.Durable{
		Stream: stream,
		RequestHeaders: []asyncapi.Header{
			{Name: protocol.HeaderMsgID, Description: "JetStream's de-duplication key, and the key the outcome is stored under (ask " + cfg.Prefix + ".outcome with it); without one the key is <stream>:<stream sequence>"},
			{Name: protocol.HeaderReplyTo, Description: "a subject the outcome is also published to, with the headers and body of a request-reply answer"},
			{Name: protocol.HeaderIdempotencyKey, Description: "as in request-reply"},
		},
		ReplyToHeader: protocol.HeaderReplyTo,
		Ack:           json.RawMessage(`{"type":"object","properties":{"stream":{"type":"string"},"seq":{"type":"integer","minimum":1},"duplicate":{"type":"boolean"},"domain":{"type":"string"}},"required":["stream","seq"]}`),
		Description: "A durable request: publish it with a JetStream publish and wait for the stream's ack; from then on it runs, exactly once, " +
			"even if no instance is up yet (stream " + stream + ", kept up to DBAPI_DURABLE_MAX_AGE). The body and headers mean what they mean in request-reply, " +
			"except " + protocol.HeaderTimeout + " (a durable request has DBAPI_TIMEOUT from when an instance picks it up). Its outcome is stored under its " +
			protocol.HeaderMsgID + " (ask " + cfg.Prefix + "." + protocol.OutcomeOperation + ") and published to its " + protocol.HeaderReplyTo + " subject, if it has one.",
		Skip: []string{protocol.OutcomeOperation},
	}
}

// contract is the wire contract as the service implements it today: the
// headers, the error body and the error codes.
func contract() asyncapi.Contract {
	return asyncapi.Contract{
		RequestHeaders: []asyncapi.Header{
			{
				Name:        protocol.HeaderTimeout,
				Description: "the request's deadline as a Go duration (\"2s\", \"250ms\"), retries included; capped by the service's maximum and the operation's own timeout",
				Schema:      json.RawMessage(`{"type":"string","pattern":"^([0-9]+(\\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$","examples":["2s"]}`),
			},
			{
				Name: protocol.HeaderIdempotencyKey,
				Description: "makes a write safe to retry: the first request with a key runs and its reply is stored in the same transaction; " +
					"a later one with the same key and body gets the stored reply (with " + protocol.HeaderReplayed + ": true) and runs nothing; " +
					"the same key with another body is a 409 idempotency_key_reused. A key is scoped to its operation. Use unguessable keys (UUIDs): whoever knows a key and the body can read its reply",
				Schema: json.RawMessage(`{"type":"string","pattern":"^[ -~]{1,128}$","examples":["9b2f6a1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"]}`),
			},
		},
		ReplyHeaders: []asyncapi.Header{{
			Name:        protocol.HeaderReplayed,
			Description: "\"true\" on a reply replayed from the idempotency store",
			Schema:      json.RawMessage(`{"type":"string","const":"true"}`),
		}},
		StatusHeader:  protocol.HeaderErrorCode,
		MessageHeader: protocol.HeaderError,
		ErrorBody:     dbapi.SchemaOf(protocol.ErrorBody{}),
		Errors:        errorCodes(),
	}
}

// errorCodes lists the error codes dbapi itself replies with: protocol's
// one table, which decides every status and retryable flag.
func errorCodes() []asyncapi.ErrorCode {
	codes := protocol.Codes()
	out := make([]asyncapi.ErrorCode, len(codes))
	for i, c := range codes {
		out[i] = asyncapi.ErrorCode{Code: c.Code, Status: c.Status, Retryable: c.Retryable, Description: c.Meaning}
	}
	return out
}
