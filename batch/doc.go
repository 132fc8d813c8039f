// Package batch plans a batch request — several operations run in one
// transaction — into one dbapi.Operation.
//
// The body is {"ops":[{"op":"...","params":{...},"as":"name"}, ...]}. A
// step's params may refer to an earlier step's result as "$name.path"
// ("$$" escapes a literal dollar). Plan checks everything that can be
// checked before the transaction begins; the planned operation is
// read-only only if every step is, runs at the strictest isolation of its
// steps, and has the shortest of their timeouts. When a step fails the
// whole batch rolls back and the error carries a *StepError naming the
// step, found with errors.As.
package batch
