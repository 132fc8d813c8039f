package service

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/asyncapi"
	"github.com/dbapi-dev/dbapi/consumer"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/nats-io/nats.go/micro"
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
		Name:         consumer.BatchOperation,
		Description:  consumer.BatchDescription,
		Params:       consumer.BatchParamsSchema,
		Result:       dbapi.ResultOne,
		ResultSchema: consumer.BatchResultSchema,
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
				Name:        consumer.HeaderTimeout,
				Description: "the request's deadline as a Go duration (\"2s\", \"250ms\"), retries included; capped by the service's maximum and the operation's own timeout",
				Schema:      json.RawMessage(`{"type":"string","pattern":"^([0-9]+(\\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$","examples":["2s"]}`),
			},
			{
				Name: idempotency.HeaderKey,
				Description: "makes a write safe to retry: the first request with a key runs and its reply is stored in the same transaction; " +
					"a later one with the same key and body gets the stored reply (with " + idempotency.HeaderReplayed + ": true) and runs nothing; " +
					"the same key with another body is a 409 idempotency_key_reused. Use unguessable keys (UUIDs): whoever knows a key and the body can read its reply",
				Schema: json.RawMessage(`{"type":"string","pattern":"^[ -~]{1,128}$","examples":["9b2f6a1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"]}`),
			},
		},
		ReplyHeaders: []asyncapi.Header{{
			Name:        idempotency.HeaderReplayed,
			Description: "\"true\" on a reply replayed from the idempotency store",
			Schema:      json.RawMessage(`{"type":"string","const":"true"}`),
		}},
		StatusHeader:  micro.ErrorCodeHeader,
		MessageHeader: micro.ErrorHeader,
		ErrorBody:     dbapi.SchemaOf(consumer.ErrorBody{}),
		Errors:        errorCodes(),
	}
}

// errorCodes lists the error codes dbapi itself replies with, each with
// the kind that decides its status and retryable flag (consumer.Status,
// dbapi.Error.Retryable).
func errorCodes() []asyncapi.ErrorCode {
	list := []struct{ code, kind, desc string }{
		{dbapi.EINVALID, dbapi.EINVALID, "the request is wrong"},
		{"bad_request", dbapi.EINVALID, "the body is not a JSON object"},
		{"malformed_json", dbapi.EINVALID, "the body is not valid JSON"},
		{"bad_param", dbapi.EINVALID, "a parameter has the wrong type or value; the message names it"},
		{"missing_param", dbapi.EINVALID, "a required parameter is missing"},
		{"unknown_param", dbapi.EINVALID, "the body has a parameter the operation does not take"},
		{"duplicate_param", dbapi.EINVALID, "a parameter is given twice"},
		{"bad_timeout", dbapi.EINVALID, "the " + consumer.HeaderTimeout + " header is not a positive Go duration"},
		{"bad_idempotency_key", dbapi.EINVALID, "the " + idempotency.HeaderKey + " header is not 1 to 128 printable ASCII characters"},
		{"idempotency_disabled", dbapi.EINVALID, "this service does not accept " + idempotency.HeaderKey},
		{"bad_alias", dbapi.EINVALID, "a batch step's \"as\" is not a name, or is used twice"},
		{"unresolvable_reference", dbapi.EINVALID, "a batch reference names no earlier step or no field of its result"},
		{"bad_statement", dbapi.EINVALID, "raw SQL: the statement is wrong"},
		{"foreign_key", dbapi.EINVALID, "a referenced row does not exist, or the row is still referenced"},
		{"check_violation", dbapi.EINVALID, "a value breaks a check constraint"},
		{"too_long", dbapi.EINVALID, "a value is too long for its column"},
		{"bad_value", dbapi.EINVALID, "a value does not fit its column"},
		{dbapi.ENOTFOUND, dbapi.ENOTFOUND, "a named thing does not exist"},
		{"unknown_operation", dbapi.ENOTFOUND, "a batch step names no operation"},
		{dbapi.ECONFLICT, dbapi.ECONFLICT, "the request clashes with the data"},
		{"duplicate", dbapi.ECONFLICT, "a row with the same unique key already exists"},
		{"deadlock", dbapi.ECONFLICT, "the transaction kept conflicting with others after its retries"},
		{"lock_wait_timeout", dbapi.ECONFLICT, "the transaction waited too long for a lock after its retries"},
		{"idempotency_key_reused", dbapi.ECONFLICT, "the idempotency key was used with another operation or body"},
		{dbapi.ETOOLARGE, dbapi.ETOOLARGE, "the request or its result is over a limit"},
		{"payload_too_large", dbapi.ETOOLARGE, "the request body is over DBAPI_MAX_PAYLOAD"},
		{"batch_too_large", dbapi.ETOOLARGE, "the batch has more steps than DBAPI_MAX_BATCH"},
		{"result_too_large", dbapi.ETOOLARGE, "the result is over the row cap or what NATS can carry; ask for less"},
		{dbapi.EUNAVAILABLE, dbapi.EUNAVAILABLE, "the database cannot be reached"},
		{"stopping", dbapi.EUNAVAILABLE, "this instance is stopping"},
		{"idempotency_race", dbapi.EUNAVAILABLE, "the idempotency key changed while the request ran"},
		{dbapi.EOVERLOADED, dbapi.EOVERLOADED, "too many requests are waiting"},
		{dbapi.ETIMEOUT, dbapi.ETIMEOUT, "the deadline passed before the transaction committed; nothing was committed"},
		{dbapi.ECOMMITUNKNOWN, dbapi.ECOMMITUNKNOWN, "COMMIT was sent but its result was lost: the transaction may or may not have been applied"},
		{dbapi.EINTERNAL, dbapi.EINTERNAL, "a bug or an unexpected failure"},
	}
	out := make([]asyncapi.ErrorCode, len(list))
	for i, c := range list {
		out[i] = asyncapi.ErrorCode{
			Code:        c.code,
			Status:      consumer.Status(c.kind),
			Retryable:   (&dbapi.Error{Kind: c.kind}).Retryable(),
			Description: c.desc,
		}
	}
	return out
}
