package asyncapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/dbapi-dev/dbapi"
)

// Version is the AsyncAPI version of the documents this package writes.
const Version = "3.0.0"

// Service is what a document describes.
type Service struct {
	Title       string // the program, such as "bank"
	Version     string // the service's version
	Description string
	// Server is the URL of the NATS server clients connect to, such as
	// "nats://127.0.0.1:4222"; only its host and port are written (never
	// credentials). Empty means no server is named.
	Server string
	// Prefix starts every subject: an endpoint's subject is
	// Prefix + "." + its name.
	Prefix string
	// QueueGroup is the NATS queue group the service's instances share.
	QueueGroup string
	// Endpoints are the operations served, the batch endpoint included
	// (only their names, descriptions and schemas are read).
	Endpoints []dbapi.Operation
	Contract  Contract
}

// Contract is the wire contract every endpoint shares.
type Contract struct {
	// RequestHeaders may be sent with any request; ReplyHeaders may come
	// with a successful reply.
	RequestHeaders, ReplyHeaders []Header
	// StatusHeader carries an error reply's status, such as "409";
	// MessageHeader its message. Their presence marks an error reply.
	StatusHeader, MessageHeader string
	// ErrorBody is the JSON Schema of an error reply's body.
	ErrorBody json.RawMessage
	// Errors are the error codes replies carry. A service's own
	// operations may add codes of their own (with these statuses).
	Errors []ErrorCode
}

// Header is a message header.
type Header struct {
	Name        string
	Description string
	Schema      json.RawMessage // JSON Schema of its value; nil means a string
}

// ErrorCode is one code of an error reply.
type ErrorCode struct {
	Code        string
	Status      int
	Retryable   bool
	Description string
}

// Write returns the AsyncAPI document of s, as indented JSON.
func Write(s Service) ([]byte, error) {
	d, err := build(s)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(d, "", "  ")
}

type document struct {
	AsyncAPI           string               `json:"asyncapi"`
	Info               info                 `json:"info"`
	DefaultContentType string               `json:"defaultContentType"`
	Servers            map[string]server    `json:"servers,omitempty"`
	Channels           map[string]channel   `json:"channels"`
	Operations         map[string]operation `json:"operations"`
	Components         components           `json:"components"`
}

type info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

type server struct {
	Host        string `json:"host"`
	Protocol    string `json:"protocol"`
	Description string `json:"description,omitempty"`
}

type ref struct {
	Ref string `json:"$ref"`
}

type channel struct {
	// Address is nil for a reply channel: the requester's inbox.
	Address     *string        `json:"address"`
	Title       string         `json:"title,omitempty"`
	Description string         `json:"description,omitempty"`
	Messages    map[string]ref `json:"messages"`
}

type operation struct {
	Action      string         `json:"action"`
	Channel     ref            `json:"channel"`
	Title       string         `json:"title,omitempty"`
	Summary     string         `json:"summary,omitempty"`
	Description string         `json:"description,omitempty"`
	Messages    []ref          `json:"messages"`
	Reply       reply          `json:"reply"`
	Bindings    map[string]any `json:"bindings,omitempty"`
	ReadOnly    bool           `json:"x-dbapi-read-only"`
	Coalesce    bool           `json:"x-dbapi-coalesce,omitempty"`
	Timeout     string         `json:"x-dbapi-timeout,omitempty"`
}

type reply struct {
	Channel  ref   `json:"channel"`
	Messages []ref `json:"messages"`
}

type message struct {
	Name        string          `json:"name"`
	Title       string          `json:"title,omitempty"`
	Summary     string          `json:"summary,omitempty"`
	Description string          `json:"description,omitempty"`
	ContentType string          `json:"contentType"`
	Headers     json.RawMessage `json:"headers,omitempty"`
	Payload     json.RawMessage `json:"payload"`
	Result      string          `json:"x-dbapi-result,omitempty"`
	Status      int             `json:"x-dbapi-status,omitempty"`
	Codes       []errorCode     `json:"x-dbapi-error-codes,omitempty"`
}

type errorCode struct {
	Code        string `json:"code"`
	Status      int    `json:"status"`
	Retryable   bool   `json:"retryable"`
	Description string `json:"description"`
}

type components struct {
	Messages map[string]message `json:"messages"`
}

func build(s Service) (*document, error) {
	if s.Prefix == "" {
		return nil, fmt.Errorf("asyncapi: no subject prefix")
	}
	if s.Title == "" {
		s.Title = "dbapi"
	}
	if s.Version == "" {
		s.Version = "0.0.0"
	}
	d := &document{
		AsyncAPI:           Version,
		Info:               info{Title: s.Title, Version: s.Version, Description: s.Description},
		DefaultContentType: "application/json",
		Channels:           map[string]channel{},
		Operations:         map[string]operation{},
		Components:         components{Messages: map[string]message{}},
	}
	if host, err := serverHost(s.Server); err != nil {
		return nil, err
	} else if host != "" {
		d.Servers = map[string]server{"nats": {Host: host, Protocol: "nats",
			Description: "NATS request-reply: publish a request on an endpoint's subject with a reply subject, read one reply."}}
	}

	errMsgs, err := errorMessages(s.Contract)
	if err != nil {
		return nil, err
	}
	for id, m := range errMsgs {
		d.Components.Messages[id] = m
	}
	requestHeaders, err := headersSchema(s.Contract.RequestHeaders)
	if err != nil {
		return nil, err
	}
	replyHeaders, err := headersSchema(s.Contract.ReplyHeaders)
	if err != nil {
		return nil, err
	}

	seen := map[string]bool{}
	for _, op := range s.Endpoints {
		if seen[op.Name] {
			return nil, fmt.Errorf("asyncapi: endpoint %q is listed twice", op.Name)
		}
		seen[op.Name] = true
		if err := checkSchema(op.Name+" params", op.ParamsSchema()); err != nil {
			return nil, err
		}
		if err := checkSchema(op.Name+" result", op.ResultSchemaOrKind()); err != nil {
			return nil, err
		}
		subject := s.Prefix + "." + op.Name
		replyID := op.Name + ".reply"
		reqMsg, okMsg := op.Name+".request", op.Name+".result"
		d.Components.Messages[reqMsg] = message{
			Name:        reqMsg,
			Title:       op.Name + " request",
			Summary:     op.Description,
			Description: "The parameters, a JSON object; an empty body counts as {}.",
			ContentType: "application/json",
			Headers:     requestHeaders,
			Payload:     op.ParamsSchema(),
		}
		kind := string(op.Result)
		okDesc := "The result."
		if kind != "" {
			okDesc = "The result (" + resultWords(op.Result) + ")."
		}
		d.Components.Messages[okMsg] = message{
			Name:        okMsg,
			Title:       op.Name + " result",
			Description: okDesc + " A reply without the " + s.Contract.StatusHeader + " header is a success.",
			ContentType: "application/json",
			Headers:     replyHeaders,
			Payload:     op.ResultSchemaOrKind(),
			Result:      kind,
		}
		d.Channels[op.Name] = channel{
			Address:     &subject,
			Title:       op.Name,
			Description: op.Description,
			Messages:    map[string]ref{"request": {"#/components/messages/" + reqMsg}},
		}
		replyMsgs := map[string]ref{"result": {"#/components/messages/" + okMsg}}
		replyRefs := []ref{{"#/channels/" + replyID + "/messages/result"}}
		for _, id := range sortedKeys(errMsgs) {
			replyMsgs[id] = ref{"#/components/messages/" + id}
			replyRefs = append(replyRefs, ref{"#/channels/" + replyID + "/messages/" + id})
		}
		d.Channels[replyID] = channel{
			Description: "The reply to " + op.Name + ", on the request's reply subject (an inbox the requester chose).",
			Messages:    replyMsgs,
		}
		o := operation{
			Action:      "receive",
			Channel:     ref{"#/channels/" + op.Name},
			Title:       op.Name,
			Summary:     op.Description,
			Description: "Runs as one database transaction that commits before the reply.",
			Messages:    []ref{{"#/channels/" + op.Name + "/messages/request"}},
			Reply:       reply{Channel: ref{"#/channels/" + replyID}, Messages: replyRefs},
			ReadOnly:    op.ReadOnly,
			Coalesce:    op.Coalesce,
		}
		if op.Timeout > 0 {
			o.Timeout = op.Timeout.String()
		}
		if s.QueueGroup != "" {
			o.Bindings = map[string]any{"nats": map[string]string{"queue": s.QueueGroup, "bindingVersion": "0.1.0"}}
		}
		d.Operations[op.Name] = o
	}
	return d, nil
}

func resultWords(k dbapi.ResultKind) string {
	switch k {
	case dbapi.ResultOne:
		return "one: a JSON object"
	case dbapi.ResultMany:
		return "many: a JSON array of objects"
	case dbapi.ResultExec:
		return "exec: rows_affected and last_insert_id"
	}
	return string(k)
}

// errorMessages returns one error message per status, by id.
func errorMessages(c Contract) (map[string]message, error) {
	if c.StatusHeader == "" || c.MessageHeader == "" {
		return nil, fmt.Errorf("asyncapi: the contract names no error headers")
	}
	if err := checkSchema("error body", c.ErrorBody); err != nil {
		return nil, err
	}
	byStatus := map[int][]ErrorCode{}
	codes := map[string]bool{}
	for _, e := range c.Errors {
		if e.Status < 400 || e.Status > 599 || e.Code == "" {
			return nil, fmt.Errorf("asyncapi: error code %q has status %d", e.Code, e.Status)
		}
		if codes[e.Code] {
			return nil, fmt.Errorf("asyncapi: error code %q is listed twice", e.Code)
		}
		codes[e.Code] = true
		byStatus[e.Status] = append(byStatus[e.Status], e)
	}
	out := map[string]message{}
	for status, list := range byStatus {
		sort.Slice(list, func(i, j int) bool { return list[i].Code < list[j].Code })
		st := strconv.Itoa(status)
		headers, err := json.Marshal(map[string]any{
			"type": "object",
			"properties": map[string]any{
				c.StatusHeader:  map[string]any{"type": "string", "const": st, "description": "the status of the error, like an HTTP status"},
				c.MessageHeader: map[string]any{"type": "string", "description": "the error's message, the same as the body's"},
			},
			"required": []string{c.StatusHeader, c.MessageHeader},
		})
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "An error reply with status %s. Codes (an operation may add its own):\n\n| code | retryable | meaning |\n|---|---|---|\n", st)
		xs := make([]errorCode, len(list))
		for i, e := range list {
			fmt.Fprintf(&b, "| `%s` | %v | %s |\n", e.Code, e.Retryable, e.Description)
			xs[i] = errorCode(e)
		}
		id := "error." + st
		out[id] = message{
			Name:        id,
			Title:       "error " + st,
			Description: b.String(),
			ContentType: "application/json",
			Headers:     headers,
			Payload:     c.ErrorBody,
			Status:      status,
			Codes:       xs,
		}
	}
	return out, nil
}

// headersSchema returns the JSON Schema of a message's headers: an
// object whose properties are the headers, none required.
func headersSchema(hs []Header) (json.RawMessage, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	props := map[string]json.RawMessage{}
	for _, h := range hs {
		s := h.Schema
		if s == nil {
			s = json.RawMessage(`{"type":"string"}`)
		}
		var m map[string]any
		if err := json.Unmarshal(s, &m); err != nil {
			return nil, fmt.Errorf("asyncapi: header %s: schema is not a JSON object: %w", h.Name, err)
		}
		if h.Description != "" {
			m["description"] = h.Description
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		props[h.Name] = b
	}
	return json.Marshal(map[string]any{"type": "object", "properties": props})
}

func checkSchema(what string, s json.RawMessage) error {
	var m map[string]any
	if err := json.Unmarshal(s, &m); err != nil {
		return fmt.Errorf("asyncapi: %s: the schema is not a JSON object: %w", what, err)
	}
	return nil
}

// serverHost returns host:port of the first URL in a NATS URL list.
func serverHost(urls string) (string, error) {
	first, _, _ := strings.Cut(urls, ",")
	first = strings.TrimSpace(first)
	if first == "" {
		return "", nil
	}
	if !strings.Contains(first, "://") {
		first = "nats://" + first
	}
	u, err := url.Parse(first)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("asyncapi: server %q is not a NATS URL", "(redacted)")
	}
	return u.Host, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
