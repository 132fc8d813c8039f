package dbapi_test

import (
	"errors"
	"fmt"

	"github.com/dbapi-dev/dbapi"
)

func ExampleDecodeParams() {
	var p struct {
		ID    uint64 `json:"id"`
		Owner string `json:"owner"`
	}
	err := dbapi.DecodeParams([]byte(`{"id":"7"}`), &p)
	fmt.Println(err)
	err = dbapi.DecodeParams([]byte(`{"id":7,"color":"red"}`), &p)
	fmt.Println(err)
	err = dbapi.DecodeParams([]byte(`{"id":7,"owner":"ann"}`), &p)
	fmt.Println(err, p.ID, p.Owner)
	// Output:
	// bad_param: parameter "id": want an integer, got JSON string
	// unknown_param: unknown parameter "color"
	// <nil> 7 ann
}

func ExampleError() {
	err := fmt.Errorf("transfer: %w",
		dbapi.CodeErrorf(dbapi.ECONFLICT, "insufficient_funds", "account %d has less than %s", 1, "5.00"))

	fmt.Println(errors.Is(err, dbapi.ErrConflict))
	fmt.Println(errors.Is(err, dbapi.ErrNotFound))
	e := dbapi.AsError(err)
	fmt.Println(e.Kind, e.ErrorCode(), e.Message, e.Retryable())
	// Output:
	// true
	// false
	// conflict insufficient_funds account 1 has less than 5.00 false
}
