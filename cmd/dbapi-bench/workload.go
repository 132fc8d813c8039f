package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/catalog"
	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

const (
	modeDirect    = "direct"
	modeService   = "service"
	modeCoalesced = "coalesced"
	// modeReplica is dbapi with one read replica configured
	// (DBAPI_MYSQL_REPLICA_DSN), in the replica database profile only.
	modeReplica = "replica"

	loopClosed = "closed"
	loopOpen   = "open"

	batchSteps = 10
)

// workload is one kind of request. body builds a request body; direct
// runs the same work in this process as one transaction, and when nil the
// operation named by subject runs on a body from body. The coalesced mode
// runs the workloads whose operation opts in to group commit
// (dbapi.Operation.Coalesce).
type workload struct {
	name    string
	subject string // subject after the prefix
	desc    string
	body    func(r *rand.Rand, accounts int) []byte
	direct  func(ctx context.Context, run *txrunner.Runner, r *rand.Rand, accounts int) error
}

var workloadDefs = map[string]*workload{
	"transfer": {
		name: "transfer", subject: "accounts.transfer",
		desc: "accounts.transfer of 0.01 between two random accounts",
		body: transferBody,
	},
	"get": {
		name: "get", subject: "accounts.get",
		desc: "accounts.get of a random account (read-only point lookup)",
		body: getBody,
	},
	"batch": {
		name: "batch", subject: "batch",
		desc: fmt.Sprintf("%d accounts.transfer steps in one transaction", batchSteps),
		body: batchBody,
		direct: func(ctx context.Context, run *txrunner.Runner, r *rand.Rand, n int) error {
			bodies := make([][]byte, batchSteps)
			for i := range bodies {
				bodies[i] = transferBody(r, n)
			}
			return run.Run(ctx, txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
				for _, b := range bodies {
					if _, err := ops["accounts.transfer"].Run(ctx, tx, b); err != nil {
						return err
					}
				}
				return nil
			})
		},
	},
}

// coalesces reports whether the workload's operation, one of the bank's
// Go operations, opts in to group commit.
func (wl *workload) coalesces() bool {
	for _, op := range bank.Operations() {
		if op.Name == wl.subject {
			return op.Coalesce
		}
	}
	return false
}

// ops holds the operations the service serves by default, built the same
// way: the Go ones of package bank and the ones declared in SQL in
// schema/operations (package catalog), such as accounts.get.
var ops = map[string]dbapi.Operation{}

func loadOperations() error {
	declared, err := catalog.Load(bank.Declared(), catalog.Config{})
	if err != nil {
		return fmt.Errorf("declared operations: %w", err)
	}
	for _, op := range append(bank.Operations(), declared...) {
		ops[op.Name] = op
	}
	for _, wl := range workloadDefs {
		if _, ok := ops[wl.subject]; !ok && wl.name != "batch" {
			return fmt.Errorf("workload %s: no operation %s to run directly", wl.name, wl.subject)
		}
	}
	return nil
}

// runOp runs an operation as the service does, minus NATS and the
// encoding of the result: one txrunner.Run with the operation's options,
// or its single statement in autocommit mode when it has one.
func runOp(ctx context.Context, run *txrunner.Runner, name string, body []byte) error {
	op := ops[name]
	opts := txrunner.Options{Isolation: op.Isolation, ReadOnly: op.ReadOnly}
	if op.Statement != nil {
		return run.RunStatement(ctx, opts, func(ctx context.Context, q sqlx.ExtContext) error {
			_, err := op.Statement(ctx, q, body)
			return err
		})
	}
	return run.Run(ctx, txrunner.Options{Isolation: op.Isolation, ReadOnly: op.ReadOnly},
		func(ctx context.Context, tx *sqlx.Tx) error {
			_, err := op.Run(ctx, tx, body)
			return err
		})
}

// twoAccounts returns two distinct account ids in [1, n].
func twoAccounts(r *rand.Rand, n int) (uint64, uint64) {
	from := r.IntN(n)
	to := r.IntN(n - 1)
	if to >= from {
		to++
	}
	return uint64(from + 1), uint64(to + 1)
}

func transferBody(r *rand.Rand, n int) []byte {
	from, to := twoAccounts(r, n)
	b := make([]byte, 0, 64)
	b = append(b, `{"from":`...)
	b = strconv.AppendUint(b, from, 10)
	b = append(b, `,"to":`...)
	b = strconv.AppendUint(b, to, 10)
	return append(b, `,"amount":"0.01"}`...)
}

func getBody(r *rand.Rand, n int) []byte {
	b := make([]byte, 0, 24)
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, uint64(r.IntN(n)+1), 10)
	return append(b, '}')
}

// batchBody is a request of the batch operation:
// {"ops":[{"op":"accounts.transfer","params":{...}}, ...]}.
func batchBody(r *rand.Rand, n int) []byte {
	type step struct {
		Op     string          `json:"op"`
		Params json.RawMessage `json:"params"`
	}
	steps := make([]step, batchSteps)
	for i := range steps {
		steps[i] = step{Op: "accounts.transfer", Params: transferBody(r, n)}
	}
	b, _ := json.Marshal(struct {
		Ops []step `json:"ops"`
	}{steps})
	return b
}

// directCode runs one direct request and returns "" or its error code.
func directCode(ctx context.Context, wl *workload, run *txrunner.Runner, r *rand.Rand, accounts int) string {
	var err error
	if wl.direct != nil {
		err = wl.direct(ctx, run, r, accounts)
	} else {
		err = runOp(ctx, run, wl.subject, wl.body(r, accounts))
	}
	if err == nil {
		return ""
	}
	return dbapi.AsError(err).ErrorCode()
}

// serviceCode sends one request and returns "" or its error code: the
// code in the error reply's body, or a requester-side code.
func serviceCode(nc *nats.Conn, subject string, body []byte, timeout time.Duration) string {
	msg, err := nc.Request(subject, body, timeout)
	if err != nil {
		return natsErrorCode(err)
	}
	return replyCode(msg)
}

func natsErrorCode(err error) string {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return "no_responders"
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "requester_timeout"
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "nats_error"
}

// replyCode returns "" for a success reply, else the error code.
func replyCode(msg *nats.Msg) string {
	status := msg.Header.Get(micro.ErrorCodeHeader)
	if status == "" {
		return ""
	}
	var eb executor.ErrorBody
	if json.Unmarshal(msg.Data, &eb) == nil && eb.Error.Code != "" {
		return eb.Error.Code
	}
	return "status_" + status
}
