// Package protocol is the wire contract between dbapi and its clients:
// header names, the error codes with their status and retryability, the
// error reply body and the batch request body.
//
// It has no dependencies beyond the standard library, so clients in Go
// import it without pulling in the server. The service decides every
// reply status and retryable flag from the one table here (see Codes and
// Lookup); nothing else does.
package protocol
