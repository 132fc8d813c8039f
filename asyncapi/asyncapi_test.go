package asyncapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/asyncapi"
)

func testService() asyncapi.Service {
	return asyncapi.Service{
		Title:      "shop",
		Version:    "1.2.3",
		Server:     "nats://user:secret@nats.example:4222,nats://other:4222",
		Prefix:     "eu.shop",
		QueueGroup: "shop",
		Endpoints: []dbapi.Operation{
			{Name: "orders.get", Description: "Read an order.", ReadOnly: true, Result: dbapi.ResultOne,
				Params: json.RawMessage(`{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}`)},
			{Name: "orders.purge", Timeout: 2 * time.Second}, // not described
		},
		Contract: asyncapi.Contract{
			RequestHeaders: []asyncapi.Header{{Name: "Dbapi-Timeout", Description: "deadline"}},
			ReplyHeaders:   []asyncapi.Header{{Name: "Dbapi-Replayed", Schema: json.RawMessage(`{"const":"true"}`)}},
			StatusHeader:   "Nats-Service-Error-Code",
			MessageHeader:  "Nats-Service-Error",
			ErrorBody:      json.RawMessage(`{"type":"object"}`),
			Errors: []asyncapi.ErrorCode{
				{Code: "bad_param", Status: 400, Description: "a bad parameter"},
				{Code: "not_found", Status: 404, Description: "nothing there"},
				{Code: "timeout", Status: 504, Retryable: true, Description: "too late"},
			},
		},
	}
}

// doc is the part of a document the tests read.
type doc struct {
	AsyncAPI string `json:"asyncapi"`
	Info     struct{ Title, Version string }
	Servers  map[string]struct{ Host, Protocol string }
	Channels map[string]struct {
		Address  *string
		Messages map[string]struct {
			Ref string `json:"$ref"`
		}
	}
	Operations map[string]struct {
		Action  string
		Channel struct {
			Ref string `json:"$ref"`
		}
		Reply struct {
			Channel struct {
				Ref string `json:"$ref"`
			}
			Messages []struct {
				Ref string `json:"$ref"`
			}
		}
		Bindings map[string]map[string]string
		ReadOnly bool   `json:"x-dbapi-read-only"`
		Timeout  string `json:"x-dbapi-timeout"`
	}
	Components struct {
		Messages map[string]struct {
			Headers     map[string]any
			Payload     map[string]any
			Description string
			Result      string `json:"x-dbapi-result"`
			Status      int    `json:"x-dbapi-status"`
			Codes       []struct {
				Code      string
				Status    int
				Retryable bool
			} `json:"x-dbapi-error-codes"`
		}
	}
}

func write(t *testing.T, s asyncapi.Service) (doc, string) {
	t.Helper()
	b, err := asyncapi.Write(s)
	if err != nil {
		t.Fatal(err)
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return d, string(b)
}

func TestWrite(t *testing.T) {
	d, text := write(t, testService())
	if d.AsyncAPI != "3.0.0" || d.Info.Title != "shop" || d.Info.Version != "1.2.3" {
		t.Errorf("header: %+v", d)
	}
	if s := d.Servers["nats"]; s.Host != "nats.example:4222" || s.Protocol != "nats" {
		t.Errorf("server: %+v", d.Servers)
	}
	if strings.Contains(text, "secret") || strings.Contains(text, "user") {
		t.Error("the document shows the server URL's credentials")
	}
	// Subjects carry the prefix; reply channels have no address.
	for name, subject := range map[string]string{"orders.get": "eu.shop.orders.get", "orders.purge": "eu.shop.orders.purge"} {
		ch := d.Channels[name]
		if ch.Address == nil || *ch.Address != subject {
			t.Errorf("%s: address %v, want %s", name, ch.Address, subject)
		}
		if reply, ok := d.Channels[name+".reply"]; !ok || reply.Address != nil {
			t.Errorf("%s: reply channel %+v", name, reply)
		}
		op := d.Operations[name]
		if op.Action != "receive" || op.Channel.Ref != "#/channels/"+name || op.Reply.Channel.Ref != "#/channels/"+name+".reply" {
			t.Errorf("%s: operation %+v", name, op)
		}
		if op.Bindings["nats"]["queue"] != "shop" {
			t.Errorf("%s: bindings %v", name, op.Bindings)
		}
		// The replies: the result and one error message per status.
		var refs []string
		for _, m := range op.Reply.Messages {
			refs = append(refs, m.Ref)
			id := m.Ref[strings.LastIndex(m.Ref, "/")+1:]
			if d.Channels[name+".reply"].Messages[id].Ref == "" {
				t.Errorf("%s: reply message %s is not in the reply channel", name, m.Ref)
			}
		}
		want := "#/channels/" + name + ".reply/messages/result #/channels/" + name + ".reply/messages/error.400 " +
			"#/channels/" + name + ".reply/messages/error.404 #/channels/" + name + ".reply/messages/error.504"
		if got := strings.Join(refs, " "); got != want {
			t.Errorf("%s: replies\n got %s\nwant %s", name, got, want)
		}
	}
	if op := d.Operations["orders.get"]; !op.ReadOnly || op.Timeout != "" {
		t.Errorf("orders.get: %+v", op)
	}
	if op := d.Operations["orders.purge"]; op.ReadOnly || op.Timeout != "2s" {
		t.Errorf("orders.purge: %+v", op)
	}

	msgs := d.Components.Messages
	req := msgs["orders.get.request"]
	if req.Payload["required"] == nil || req.Headers["properties"].(map[string]any)["Dbapi-Timeout"] == nil {
		t.Errorf("orders.get request: %+v", req)
	}
	if res := msgs["orders.get.result"]; res.Result != "one" || res.Payload["type"] != "object" ||
		res.Headers["properties"].(map[string]any)["Dbapi-Replayed"] == nil {
		t.Errorf("orders.get result: %+v", res)
	}
	// An operation that does not describe itself takes any object.
	if p := msgs["orders.purge.request"].Payload; len(p) != 1 || p["type"] != "object" {
		t.Errorf("orders.purge request payload: %v", p)
	}
	e504 := msgs["error.504"]
	status := e504.Headers["properties"].(map[string]any)["Nats-Service-Error-Code"].(map[string]any)
	if e504.Status != 504 || status["const"] != "504" || len(e504.Codes) != 1 || !e504.Codes[0].Retryable ||
		!strings.Contains(e504.Description, "| `timeout` | true | too late |") {
		t.Errorf("error.504: %+v", e504)
	}
	if len(msgs) != 4+3 {
		t.Errorf("%d messages, want 4 (2 per endpoint) and 3 (one per status)", len(msgs))
	}
}

func TestWriteRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(*asyncapi.Service)
		want   string
	}{
		{"no prefix", func(s *asyncapi.Service) { s.Prefix = "" }, "no subject prefix"},
		{"twice", func(s *asyncapi.Service) { s.Endpoints = append(s.Endpoints, s.Endpoints[0]) }, "listed twice"},
		{"bad params schema", func(s *asyncapi.Service) { s.Endpoints[0].Params = json.RawMessage(`[`) }, "orders.get params"},
		{"no error headers", func(s *asyncapi.Service) { s.Contract.StatusHeader = "" }, "no error headers"},
		{"bad status", func(s *asyncapi.Service) { s.Contract.Errors[0].Status = 200 }, "status 200"},
		{"code twice", func(s *asyncapi.Service) {
			s.Contract.Errors = append(s.Contract.Errors, asyncapi.ErrorCode{Code: "timeout", Status: 503})
		}, `"timeout" is listed twice`},
		{"bad header schema", func(s *asyncapi.Service) { s.Contract.RequestHeaders[0].Schema = json.RawMessage(`1`) }, "header Dbapi-Timeout"},
		{"bad server", func(s *asyncapi.Service) { s.Server = "nats://user:secret@%zz" }, "not a NATS URL"},
	}
	for _, tt := range tests {
		s := testService()
		tt.change(&s)
		_, err := asyncapi.Write(s)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows a credential: %v", tt.name, err)
		}
	}
}

// An operation's own errors join its replies: in the operation's
// x-dbapi-error-codes and in error messages of its own, listed before the
// table's codes of their status; other operations keep the shared ones.
func TestOwnErrors(t *testing.T) {
	s := testService()
	s.Endpoints[0].Errors = []dbapi.OperationError{
		{Kind: dbapi.ECONFLICT, Code: "order_shipped", Message: "order :id has shipped"},
		{Kind: dbapi.ENOTFOUND, Code: "no_order", Message: "no order :id | none"},
	}
	_, text := write(t, s)
	var d struct {
		Channels map[string]struct {
			Messages map[string]struct {
				Ref string `json:"$ref"`
			}
		}
		Operations map[string]struct {
			Description string
			Codes       []struct {
				Code      string
				Status    int
				Retryable bool
			} `json:"x-dbapi-error-codes"`
		}
		Components struct {
			Messages map[string]struct {
				Description string
				Codes       []struct{ Code string } `json:"x-dbapi-error-codes"`
			}
		}
	}
	if err := json.Unmarshal([]byte(text), &d); err != nil {
		t.Fatal(err)
	}
	op := d.Operations["orders.get"]
	if len(op.Codes) != 2 || op.Codes[0].Code != "order_shipped" || op.Codes[0].Status != 409 || op.Codes[1].Status != 404 ||
		!strings.Contains(op.Description, "| `no_order` | 404 | false | no order :id \\| none |") {
		t.Errorf("orders.get: %+v", op)
	}
	replies := d.Channels["orders.get.reply"].Messages
	if replies["error.409"].Ref != "#/components/messages/orders.get.error.409" || replies["error.404"].Ref != "#/components/messages/orders.get.error.404" ||
		replies["error.400"].Ref != "#/components/messages/error.400" {
		t.Errorf("orders.get replies: %+v", replies)
	}
	if codes := d.Components.Messages["orders.get.error.404"].Codes; len(codes) != 2 || codes[0].Code != "no_order" || codes[1].Code != "not_found" {
		t.Errorf("orders.get.error.404 codes: %+v", codes)
	}
	if d.Components.Messages["orders.get.error.409"].Description == "" {
		t.Error("no message for the status the table lacks")
	}
	if replies := d.Channels["orders.purge.reply"].Messages; replies["error.404"].Ref != "#/components/messages/error.404" {
		t.Errorf("orders.purge replies: %+v", replies)
	}
	if d.Operations["orders.purge"].Codes != nil {
		t.Errorf("orders.purge has codes: %+v", d.Operations["orders.purge"].Codes)
	}
}

// The durable path: a subject per endpoint but the skipped ones, the
// stream's ack as its reply, and the outcome as a send operation with the
// endpoint's replies.
func TestDurable(t *testing.T) {
	s := testService()
	s.Durable = &asyncapi.Durable{
		Stream:         "SHOP",
		RequestHeaders: []asyncapi.Header{{Name: "Nats-Msg-Id"}, {Name: "Dbapi-Reply-To"}},
		ReplyToHeader:  "Dbapi-Reply-To",
		Ack:            json.RawMessage(`{"type":"object"}`),
		Skip:           []string{"orders.purge"},
	}
	d, _ := write(t, s)
	if a := d.Channels["durable.orders.get"].Address; a == nil || *a != "eu.shop.durable.orders.get" {
		t.Errorf("durable channel: %v", a)
	}
	if _, ok := d.Channels["durable.orders.purge"]; ok {
		t.Error("a skipped endpoint has a durable channel")
	}
	op := d.Operations["durable.orders.get"]
	if op.Action != "receive" || op.Reply.Channel.Ref != "#/channels/durable.orders.get.ack" {
		t.Errorf("durable operation: %+v", op)
	}
	out := d.Operations["durable.orders.get.outcome"]
	if out.Action != "send" || len(d.Channels["durable.orders.get.outcome"].Messages) != len(d.Channels["orders.get.reply"].Messages) {
		t.Errorf("outcome: %+v", out)
	}
	if h := d.Components.Messages["orders.get.durable.request"].Headers["properties"].(map[string]any); h["Nats-Msg-Id"] == nil || h["Dbapi-Timeout"] != nil {
		t.Errorf("durable request headers: %v", h)
	}
	s.Durable.Stream = ""
	if _, err := asyncapi.Write(s); err == nil || !strings.Contains(err.Error(), "needs a stream") {
		t.Errorf("no stream: %v", err)
	}
}
