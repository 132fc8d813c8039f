package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/shopspring/decimal"
)

// The hand-written service: what a user would write instead of dbapi, a
// nats.go micro endpoint per operation that starts a goroutine per request
// and runs the operation's SQL on a database/sql pool. It is the
// "handwritten" mode, run as a process of its own (this binary with
// -serve-handwritten), so that its CPU time and RSS are measured as the
// dbapi process's are. It runs exactly the SQL of the bank's operations:
//
//   - accounts.transfer: one transaction: both rows locked in id order
//     with one SELECT ... FOR UPDATE, one UPDATE of both balances, one
//     INSERT into transfers, COMMIT (bank.Transfer).
//   - accounts.get: the SELECT of examples/bank/bank/operations/
//     accounts_get.sql, as a single statement (autocommit), which is how
//     one writes a point read by hand.
//
// It has no queue, no admission control, no retries and no idempotency:
// the baseline dbapi must not be slower than.

const modeHandwritten = "handwritten"

// hwConfig is what the hand-written service needs.
type hwConfig struct {
	NATSURL string
	DSN     string
	Prefix  string
	Pool    int
}

// hwArgs returns the command line that runs the hand-written service.
func hwArgs(c hwConfig) []string {
	return []string{"-serve-handwritten", "-nats", c.NATSURL, "-mysql", c.DSN, "-prefix", c.Prefix, "-pool", strconv.Itoa(c.Pool)}
}

// serveHandwritten runs the hand-written service until SIGTERM or SIGINT.
func serveHandwritten(c hwConfig) error {
	cfg, err := mysql.ParseDSN(c.DSN)
	if err != nil {
		return err
	}
	// The settings any careful author picks (and dbapi picks by default).
	cfg.ParseTime, cfg.InterpolateParams, cfg.Loc = true, true, time.UTC
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxOpenConns(c.Pool)
	db.SetMaxIdleConns(c.Pool)
	db.SetConnMaxLifetime(5 * time.Minute)

	nc, err := nats.Connect(c.NATSURL, nats.Name("dbapi-bench-handwritten"))
	if err != nil {
		return err
	}
	defer nc.Close()
	svc, err := micro.AddService(nc, micro.Config{Name: "handwritten", Version: "1.0.0", QueueGroup: c.Prefix})
	if err != nil {
		return err
	}
	g := svc.AddGroup(c.Prefix)
	for name, h := range map[string]func(context.Context, *sql.DB, []byte) (any, error){
		"accounts.transfer": hwTransfer,
		"accounts.get":      hwGet,
	} {
		handler := func(r micro.Request) {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				res, err := h(ctx, db, r.Data())
				if err != nil {
					hwError(r, err)
					return
				}
				body, err := json.Marshal(res)
				if err != nil {
					hwError(r, err)
					return
				}
				r.Respond(body)
			}()
		}
		if err := g.AddEndpoint(name[len("accounts."):], micro.HandlerFunc(handler), micro.WithEndpointSubject(name)); err != nil {
			return err
		}
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	return svc.Stop()
}

// hwErr is an error with a code and a status, as dbapi answers them.
type hwErr struct {
	status int
	code   string
	msg    string
}

func (e *hwErr) Error() string { return e.msg }

func hwError(r micro.Request, err error) {
	e, ok := err.(*hwErr)
	if !ok {
		e = &hwErr{500, "internal", err.Error()}
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1213 {
			e = &hwErr{409, "deadlock", err.Error()}
		}
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"code": e.code, "message": e.msg}})
	r.Error(strconv.Itoa(e.status), e.msg, body)
}

type hwTransferResult struct {
	TransferID  int64           `json:"transfer_id"`
	FromBalance decimal.Decimal `json:"from_balance"`
	ToBalance   decimal.Decimal `json:"to_balance"`
}

func hwTransfer(ctx context.Context, db *sql.DB, data []byte) (any, error) {
	var p struct {
		From   uint64          `json:"from"`
		To     uint64          `json:"to"`
		Amount decimal.Decimal `json:"amount"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, &hwErr{400, "bad_request", err.Error()}
	}
	if p.From == 0 || p.To == 0 || p.From == p.To || !p.Amount.IsPositive() {
		return nil, &hwErr{400, "bad_param", "want two different accounts and a positive amount"}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT id, balance FROM accounts WHERE id IN (?, ?) ORDER BY id FOR UPDATE", p.From, p.To)
	if err != nil {
		return nil, err
	}
	balances := make(map[uint64]decimal.Decimal, 2)
	for rows.Next() {
		var id uint64
		var b decimal.Decimal
		if err := rows.Scan(&id, &b); err != nil {
			rows.Close()
			return nil, err
		}
		balances[id] = b
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	from, ok1 := balances[p.From]
	to, ok2 := balances[p.To]
	if !ok1 || !ok2 {
		return nil, &hwErr{404, "not_found", "no such account"}
	}
	if from.LessThan(p.Amount) {
		return nil, &hwErr{409, "insufficient_funds", fmt.Sprintf("account %d has less than %s", p.From, p.Amount)}
	}
	from, to = from.Sub(p.Amount), to.Add(p.Amount)
	if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = CASE id WHEN ? THEN ? ELSE ? END WHERE id IN (?, ?)",
		p.From, from, to, p.From, p.To); err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO transfers (from_id, to_id, amount) VALUES (?, ?, ?)", p.From, p.To, p.Amount)
	if err != nil {
		return nil, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return hwTransferResult{TransferID: id, FromBalance: from, ToBalance: to}, nil
}

type hwAccount struct {
	ID        uint64    `json:"id"`
	Owner     string    `json:"owner"`
	Balance   string    `json:"balance"`
	CreatedAt time.Time `json:"created_at"`
}

func hwGet(ctx context.Context, db *sql.DB, data []byte) (any, error) {
	var p struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(data, &p); err != nil || p.ID == 0 {
		return nil, &hwErr{400, "bad_param", "want a positive id"}
	}
	var a hwAccount
	err := db.QueryRowContext(ctx, "SELECT id, owner, balance, created_at FROM accounts WHERE id = ?", p.ID).
		Scan(&a.ID, &a.Owner, &a.Balance, &a.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &hwErr{404, "not_found", fmt.Sprintf("account %d does not exist", p.ID)}
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}
