// Package bank is the example application shipped with dbapi: accounts
// with balances, and transfers between them. Its operations show how to
// write correct transactions under concurrency: rows are locked in one
// global order (ascending id) so transfers in opposite directions do not
// deadlock, and amounts are exact decimals, never floats.
package bank
