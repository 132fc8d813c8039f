package service

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/asyncapi"
	"github.com/dbapi-dev/dbapi/batch"
	"github.com/dbapi-dev/dbapi/protocol"
)

// Describe writes the AsyncAPI 3.0 document of the service as configured
// (prefix, raw SQL, declared operations) to w. It needs neither the
// database nor NATS.
func (m *Main) Describe(w io.Writer) error {
	reg, err := m.registry()
	if err != nil {
		return err
	}
	endpoints := append(reg.Operations(), dbapi.Operation{
		Name:         batch.Name,
		Description:  batch.Description,
		Params:       batch.ParamsSchema,
		Result:       dbapi.ResultOne,
		ResultSchema: batch.ResultSchema,
	})
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
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", doc)
	return err
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
