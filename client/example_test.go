package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/dbapi-dev/dbapi/client"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func ExampleClient_Call() {
	nc, stop := standIn() // a NATS server and a stand-in for the bank service
	defer stop()

	c := client.New(nc, "dbapi")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()

	var res struct {
		TransferID  int64  `json:"transfer_id"`
		FromBalance string `json:"from_balance"`
	}
	err := c.Call(ctx, "accounts.transfer", map[string]any{"from": 1, "to": 2, "amount": "1.00"}, &res,
		client.WithNewIdempotencyKey()) // safe to retry: runs at most once
	fmt.Println(res.TransferID, res.FromBalance, err)

	err = c.Call(ctx, "accounts.transfer", map[string]any{"from": 1, "to": 2, "amount": "1000.00"}, &res)
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Code, e.Retryable)
	}
	// Output:
	// 41 99.00 <nil>
	// 409 insufficient_funds false
}

// standIn starts an embedded NATS server and a stand-in that answers
// dbapi.accounts.transfer as the bank would, so the example runs anywhere.
func standIn() (*nats.Conn, func()) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		log.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		log.Fatal("NATS did not start")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	nc.Subscribe("dbapi.accounts.transfer", func(m *nats.Msg) {
		var p struct{ Amount string }
		json.Unmarshal(m.Data, &p)
		if p.Amount != "1.00" {
			body, _ := json.Marshal(protocol.ErrorBody{Error: protocol.ErrorDetail{Code: "insufficient_funds", Message: "account 1 has less than " + p.Amount}})
			m.RespondMsg(&nats.Msg{Data: body, Header: nats.Header{protocol.HeaderErrorCode: {"409"}, protocol.HeaderError: {"account 1 has less than " + p.Amount}}})
			return
		}
		m.Respond([]byte(`{"transfer_id":41,"from_balance":"99.00","to_balance":"1.00"}`))
	})
	nc.Flush()
	return nc, func() { nc.Close(); ns.Shutdown() }
}
