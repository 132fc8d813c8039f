// Package asyncapi writes an AsyncAPI 3.0 document of a dbapi service:
// every endpoint's subject, request (headers and JSON Schema of the
// body), replies (the result, and one error message per status with the
// error body) and the error codes, an operation's own codes
// (dbapi.Operation.Errors) included: in the operation's
// x-dbapi-error-codes and in error messages of its own. With
// Service.Durable it also describes the durable path: each endpoint's
// JetStream subject, the stream's ack, and the outcome sent to the
// request's reply header. A client in any language can be written from
// it; `dbapi describe` prints it.
//
// The package knows AsyncAPI, not the wire contract: the caller passes
// the header names, the error body's schema and the table of error codes
// (see Contract), so the document says what the service really does.
package asyncapi
