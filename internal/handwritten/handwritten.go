package handwritten

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/shopspring/decimal"
)

// Serve adds the service to nc: one endpoint per operation, on
// <prefix>.accounts.transfer and <prefix>.accounts.get, in queue group
// queue (empty: micro's default), running on db. Stop the returned
// service to stop it.
func Serve(nc *nats.Conn, db *sql.DB, prefix, queue string) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{Name: "handwritten", Version: "1.0.0", QueueGroup: queue})
	if err != nil {
		return nil, err
	}
	g := svc.AddGroup(prefix)
	for name, h := range map[string]func(context.Context, *sql.DB, []byte) (any, error){
		"transfer": Transfer,
		"get":      Get,
	} {
		handler := func(r micro.Request) {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				res, err := h(ctx, db, r.Data())
				if err != nil {
					replyError(r, err)
					return
				}
				body, err := json.Marshal(res)
				if err != nil {
					replyError(r, err)
					return
				}
				r.Respond(body)
			}()
		}
		if err := g.AddEndpoint(name, micro.HandlerFunc(handler), micro.WithEndpointSubject("accounts."+name)); err != nil {
			svc.Stop()
			return nil, err
		}
	}
	if err := nc.Flush(); err != nil {
		svc.Stop()
		return nil, err
	}
	return svc, nil
}

// codeError is an error with a code and a status, as dbapi answers them.
type codeError struct {
	status int
	code   string
	msg    string
}

func (e *codeError) Error() string { return e.msg }

// replyError answers r with err as dbapi would: status, code and message.
func replyError(r micro.Request, err error) {
	e, ok := err.(*codeError)
	if !ok {
		e = &codeError{500, "internal", err.Error()}
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1213 {
			e = &codeError{409, "deadlock", err.Error()}
		}
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"code": e.code, "message": e.msg}})
	r.Error(strconv.Itoa(e.status), e.msg, body)
}

type transferResult struct {
	TransferID  int64           `json:"transfer_id"`
	FromBalance decimal.Decimal `json:"from_balance"`
	ToBalance   decimal.Decimal `json:"to_balance"`
}

// Transfer runs accounts.transfer: {"from":1,"to":2,"amount":"2.50"}.
func Transfer(ctx context.Context, db *sql.DB, data []byte) (any, error) {
	var p struct {
		From   uint64          `json:"from"`
		To     uint64          `json:"to"`
		Amount decimal.Decimal `json:"amount"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, &codeError{400, "bad_request", err.Error()}
	}
	if p.From == 0 || p.To == 0 || p.From == p.To || !p.Amount.IsPositive() {
		return nil, &codeError{400, "bad_param", "want two different accounts and a positive amount"}
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
		return nil, &codeError{404, "not_found", "no such account"}
	}
	if from.LessThan(p.Amount) {
		return nil, &codeError{409, "insufficient_funds", fmt.Sprintf("account %d has less than %s", p.From, p.Amount)}
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
	return transferResult{TransferID: id, FromBalance: from, ToBalance: to}, nil
}

type account struct {
	ID        uint64    `json:"id"`
	Owner     string    `json:"owner"`
	Balance   string    `json:"balance"`
	CreatedAt time.Time `json:"created_at"`
}

// Get runs accounts.get: {"id":1}.
func Get(ctx context.Context, db *sql.DB, data []byte) (any, error) {
	var p struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(data, &p); err != nil || p.ID == 0 {
		return nil, &codeError{400, "bad_param", "want a positive id"}
	}
	var a account
	err := db.QueryRowContext(ctx, "SELECT id, owner, balance, created_at FROM accounts WHERE id = ?", p.ID).
		Scan(&a.ID, &a.Owner, &a.Balance, &a.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &codeError{404, "not_found", fmt.Sprintf("account %d does not exist", p.ID)}
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}
