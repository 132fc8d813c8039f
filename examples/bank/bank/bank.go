package bank

import (
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/dbapi-dev/dbapi"
	"github.com/jmoiron/sqlx"
)

// Operations returns the example operations written in Go: accounts.open
// and accounts.transfer. The read-only ones, accounts.get and
// accounts.list, are declared in SQL in schema/operations (package catalog).
func Operations() []dbapi.Operation {
	return []dbapi.Operation{
		{
			Name: "accounts.open", Description: "Open an account with an owner and a starting balance.", Run: Open,
			Params: dbapi.SchemaOf(openParams{}), Result: dbapi.ResultOne, ResultSchema: dbapi.SchemaOf(Account{}),
		},
		{
			Name: "accounts.transfer", Description: "Move an amount from one account to another.", Run: Transfer, Coalesce: true,
			Params: dbapi.SchemaOf(transferParams{}), Result: dbapi.ResultOne, ResultSchema: dbapi.SchemaOf(TransferResult{}),
			Errors: []dbapi.OperationError{
				{Kind: dbapi.EINVALID, Code: "same_account", Message: "cannot transfer from an account to itself"},
				{Kind: dbapi.ECONFLICT, Code: "insufficient_funds", Message: "account <from> has less than <amount>"},
				{Kind: dbapi.ECONFLICT, Code: "balance_overflow", Message: "account <to> would exceed the largest balance"},
			},
		},
	}
}

// The parameter structs are what Open and Transfer decode, and their
// JSON Schemas (dbapi.SchemaOf) are what clients are shown: one
// definition for both. A field without omitempty is required.
type (
	openParams struct {
		Owner   string     `json:"owner" jsonschema:"minLength=1,maxLength=255" jsonschema_description:"who owns the account"`
		Balance amountText `json:"balance,omitempty" jsonschema_description:"the starting balance, not negative; default \"0.00\""`
	}
	transferParams struct {
		From   uint64     `json:"from" jsonschema:"minimum=1" jsonschema_description:"id of the account to debit"`
		To     uint64     `json:"to" jsonschema:"minimum=1" jsonschema_description:"id of the account to credit; not from"`
		Amount amountText `json:"amount" jsonschema_description:"the amount to move, positive"`
	}
)

// Account is the reply to accounts.open.
type Account struct {
	ID      int64  `json:"id"`
	Owner   string `json:"owner"`
	Balance Amount `json:"balance"`
}

// amountParam parses a decimal string parameter, naming it in errors.
func amountParam(name, s string) (Amount, error) {
	if s == "" {
		return Amount{}, dbapi.Required(name, `a decimal string such as "2.50"`)
	}
	a, err := ParseAmount(s)
	if err != nil {
		return Amount{}, dbapi.CodeErrorf(dbapi.EINVALID, "bad_param", "parameter %q: %v", name, err)
	}
	return a, nil
}

// Open inserts an account: {"owner":"ann","balance":"100.00"}.
func Open(ctx context.Context, tx *sqlx.Tx, raw json.RawMessage) (any, error) {
	var p openParams
	if err := dbapi.DecodeParams(raw, &p); err != nil {
		return nil, err
	}
	if p.Owner == "" {
		return nil, dbapi.Required("owner", "a non-empty string")
	}
	if utf8.RuneCountInString(p.Owner) > 255 {
		return nil, dbapi.CodeErrorf(dbapi.EINVALID, "bad_param", `parameter "owner": at most 255 characters`)
	}
	var balance Amount
	if p.Balance != "" {
		var err error
		if balance, err = amountParam("balance", string(p.Balance)); err != nil {
			return nil, err
		}
	}
	if balance.Sign() < 0 {
		return nil, dbapi.CodeErrorf(dbapi.EINVALID, "bad_param", `parameter "balance": must not be negative`)
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO accounts (owner, balance) VALUES (?, ?)", p.Owner, balance)
	if err != nil {
		return nil, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, err
	}
	return Account{ID: id, Owner: p.Owner, Balance: balance}, nil
}

// TransferResult is the reply to accounts.transfer.
type TransferResult struct {
	TransferID  int64  `json:"transfer_id"`
	FromBalance Amount `json:"from_balance"`
	ToBalance   Amount `json:"to_balance"`
}

// Transfer moves money: {"from":1,"to":2,"amount":"2.50"}.
//
// Both rows are locked with one SELECT ... FOR UPDATE that walks the
// primary key in ascending order, so every transfer takes its locks in the
// same order whatever its direction, and two transfers cannot deadlock on
// each other. New balances are computed exactly in Go from the locked rows.
func Transfer(ctx context.Context, tx *sqlx.Tx, raw json.RawMessage) (any, error) {
	var p transferParams
	if err := dbapi.DecodeParams(raw, &p); err != nil {
		return nil, err
	}
	switch {
	case p.From == 0:
		return nil, dbapi.Required("from", "a positive integer")
	case p.To == 0:
		return nil, dbapi.Required("to", "a positive integer")
	case p.From == p.To:
		return nil, dbapi.CodeErrorf(dbapi.EINVALID, "same_account", "cannot transfer from an account to itself")
	}
	amount, err := amountParam("amount", string(p.Amount))
	if err != nil {
		return nil, err
	}
	if amount.Sign() <= 0 {
		return nil, dbapi.CodeErrorf(dbapi.EINVALID, "bad_param", `parameter "amount": must be positive`)
	}

	// Plain Scan, not sqlx's reflection: this is the hot path.
	from, to, found, err := lockBalances(ctx, tx, p.From, p.To)
	if err != nil {
		return nil, err
	}
	if !found[0] {
		return nil, dbapi.Errorf(dbapi.ENOTFOUND, "account %d does not exist", p.From)
	}
	if !found[1] {
		return nil, dbapi.Errorf(dbapi.ENOTFOUND, "account %d does not exist", p.To)
	}
	if from.Cmp(amount) < 0 {
		return nil, dbapi.CodeErrorf(dbapi.ECONFLICT, "insufficient_funds", "account %d has less than %s", p.From, amount)
	}
	if to.Add(amount).Cmp(maxAmount) > 0 {
		return nil, dbapi.CodeErrorf(dbapi.ECONFLICT, "balance_overflow", "account %d would exceed the largest balance", p.To)
	}
	from, to = from.Sub(amount), to.Add(amount)
	if _, err := tx.ExecContext(ctx,
		"UPDATE accounts SET balance = CASE id WHEN ? THEN ? ELSE ? END WHERE id IN (?, ?)",
		p.From, from, to, p.From, p.To); err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO transfers (from_id, to_id, amount) VALUES (?, ?, ?)", p.From, p.To, amount)
	if err != nil {
		return nil, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, err
	}
	return TransferResult{TransferID: id, FromBalance: from, ToBalance: to}, nil
}

// lockBalances locks accounts from and to (ascending id order) and returns
// their balances, and whether each exists. The rows are closed before it
// returns: the transaction's connection is free for the next statement.
func lockBalances(ctx context.Context, tx *sqlx.Tx, fromID, toID uint64) (from, to Amount, found [2]bool, err error) {
	rows, err := tx.QueryContext(ctx,
		"SELECT id, balance FROM accounts WHERE id IN (?, ?) ORDER BY id FOR UPDATE", fromID, toID)
	if err != nil {
		return from, to, found, err
	}
	defer rows.Close()
	for rows.Next() {
		var id uint64
		var balance Amount
		if err := rows.Scan(&id, &balance); err != nil {
			return from, to, found, err
		}
		switch id {
		case fromID:
			from, found[0] = balance, true
		case toID:
			to, found[1] = balance, true
		}
	}
	if err := rows.Err(); err != nil {
		return from, to, found, err
	}
	return from, to, found, rows.Close()
}
