package asyncapi_test

import (
	"encoding/json"
	"fmt"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/asyncapi"
)

func ExampleWrite() {
	doc, err := asyncapi.Write(asyncapi.Service{
		Title:  "shop",
		Prefix: "shop",
		Endpoints: []dbapi.Operation{{
			Name:   "orders.get",
			Params: dbapi.SchemaOf(struct{ ID int64 }{}),
			Result: dbapi.ResultOne,
		}},
		Contract: asyncapi.Contract{
			StatusHeader:  "Nats-Service-Error-Code",
			MessageHeader: "Nats-Service-Error",
			ErrorBody:     json.RawMessage(`{"type":"object"}`),
			Errors:        []asyncapi.ErrorCode{{Code: "not_found", Status: 404, Description: "no such order"}},
		},
	})
	if err != nil {
		panic(err)
	}
	var d struct {
		Channels map[string]struct{ Address *string }
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		panic(err)
	}
	fmt.Println(*d.Channels["orders.get"].Address, d.Channels["orders.get.reply"].Address)
	// Output: shop.orders.get <nil>
}
