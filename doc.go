// Package dbapi holds the domain types shared by every part of the service:
// the error kinds that become reply codes, and the Operation a request names.
//
// The service itself is split by dependency, as in the rest of the module:
//
//   - txrunner runs one function as one MySQL transaction, with retries.
//   - consumer receives NATS requests and runs each in a txrunner transaction.
//   - schema applies the embedded migrations.
//   - bank is the example set of operations.
//   - cmd/dbapi wires them together.
package dbapi
