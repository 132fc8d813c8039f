package asyncapi

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
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
	// Durable, when set, describes the durable path as well (JetStream).
	Durable *Durable
}

// Durable describes the durable path: for each endpoint, a subject
// Prefix + ".durable." + its name that a client publishes to with a
// JetStream publish; the stream's ack; the outcome, published to the
// subject the request's reply header names.
type Durable struct {
	// Stream is the JetStream stream that keeps durable requests.
	Stream string
	// RequestHeaders may be sent with a durable request (such as
	// Nats-Msg-Id and Dbapi-Reply-To).
	RequestHeaders []Header
	// ReplyToHeader names the header whose subject the outcome is
	// published to.
	ReplyToHeader string
	// Ack is the JSON Schema of the stream's ack of a publish.
	Ack json.RawMessage
	// Description says what the path guarantees, for the document.
	Description string
	// Skip names endpoints that have no durable subject (the outcome
	// endpoint itself).
	Skip []string
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
	Reply       *reply         `json:"reply,omitempty"`
	Bindings    map[string]any `json:"bindings,omitempty"`
	ReadOnly    bool           `json:"x-dbapi-read-only"`
	Coalesce    bool           `json:"x-dbapi-coalesce,omitempty"`
	Timeout     string         `json:"x-dbapi-timeout,omitempty"`
	// ErrorCodes are the operation's own error codes, beyond the table.
	ErrorCodes []errorCode `json:"x-dbapi-error-codes,omitempty"`
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

	byStatus, err := tableByStatus(s.Contract)
	if err != nil {
		return nil, err
	}
	errHeaders := map[int]json.RawMessage{}
	for status := range byStatus {
		if errHeaders[status], err = errorHeaders(s.Contract, status); err != nil {
			return nil, err
		}
		id := "error." + strconv.Itoa(status)
		d.Components.Messages[id] = errorMessage(id, status, byStatus[status], nil, errHeaders[status], s.Contract.ErrorBody)
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
	replies := map[string]map[string]ref{} // the reply messages of each endpoint, by id
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

		// The operation's own codes join the error message of their
		// status: a message of the operation's own for each such status.
		own, ownByStatus, err := ownErrors(op)
		if err != nil {
			return nil, err
		}
		replyMsgs := map[string]ref{"result": {"#/components/messages/" + okMsg}}
		statuses := sortedKeys(byStatus)
		for status := range ownByStatus {
			if _, ok := byStatus[status]; !ok {
				statuses = append(statuses, status)
			}
		}
		sort.Ints(statuses)
		for _, status := range statuses {
			id := "error." + strconv.Itoa(status)
			if mine := ownByStatus[status]; len(mine) > 0 {
				headers := errHeaders[status]
				if headers == nil {
					if headers, err = errorHeaders(s.Contract, status); err != nil {
						return nil, err
					}
				}
				msgID := op.Name + "." + id
				d.Components.Messages[msgID] = errorMessage(msgID, status, byStatus[status], mine, headers, s.Contract.ErrorBody)
				replyMsgs[id] = ref{"#/components/messages/" + msgID}
				continue
			}
			replyMsgs[id] = ref{"#/components/messages/" + id}
		}
		replies[op.Name] = replyMsgs
		d.Channels[replyID] = channel{
			Description: "The reply to " + op.Name + ", on the request's reply subject (an inbox the requester chose).",
			Messages:    replyMsgs,
		}
		o := operation{
			Action:      "receive",
			Channel:     ref{"#/channels/" + op.Name},
			Title:       op.Name,
			Summary:     op.Description,
			Description: "Runs as one database transaction that commits before the reply." + ownTable(own),
			Messages:    []ref{{"#/channels/" + op.Name + "/messages/request"}},
			Reply:       &reply{Channel: ref{"#/channels/" + replyID}, Messages: channelRefs(replyID, replyMsgs)},
			ReadOnly:    op.ReadOnly,
			Coalesce:    op.Coalesce,
			ErrorCodes:  own,
		}
		if op.Timeout > 0 {
			o.Timeout = op.Timeout.String()
		}
		if s.QueueGroup != "" {
			o.Bindings = map[string]any{"nats": map[string]string{"queue": s.QueueGroup, "bindingVersion": "0.1.0"}}
		}
		d.Operations[op.Name] = o
	}
	if s.Durable != nil {
		if err := describeDurable(d, s, replies); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// channelRefs returns references to a channel's messages, the result
// first, then the rest by id.
func channelRefs(channelID string, msgs map[string]ref) []ref {
	ids := sortedKeys(msgs)
	sort.SliceStable(ids, func(i, j int) bool { return ids[i] == "result" && ids[j] != "result" })
	out := make([]ref, len(ids))
	for i, id := range ids {
		out[i] = ref{"#/channels/" + channelID + "/messages/" + id}
	}
	return out
}

// ownErrors returns an operation's own error codes, in its order and by
// status.
func ownErrors(op dbapi.Operation) ([]errorCode, map[int][]errorCode, error) {
	docs := op.ErrorDocs()
	if len(docs) == 0 {
		return nil, nil, nil
	}
	all := make([]errorCode, len(docs))
	byStatus := map[int][]errorCode{}
	for i, e := range docs {
		if e.Status < 400 || e.Status > 599 || e.Code == "" {
			return nil, nil, fmt.Errorf("asyncapi: %s: error code %q has status %d", op.Name, e.Code, e.Status)
		}
		all[i] = errorCode{Code: e.Code, Status: e.Status, Retryable: e.Retryable, Description: e.Message}
		byStatus[e.Status] = append(byStatus[e.Status], all[i])
	}
	return all, byStatus, nil
}

// ownTable describes an operation's own error codes in Markdown.
func ownTable(own []errorCode) string {
	if len(own) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n\nErrors of its own (beyond the service's table; also in x-dbapi-error-codes):\n\n| code | status | retryable | message |\n|---|---|---|---|\n")
	for _, e := range own {
		fmt.Fprintf(&b, "| `%s` | %d | %v | %s |\n", e.Code, e.Status, e.Retryable, strings.ReplaceAll(e.Description, "|", `\|`))
	}
	return b.String()
}

// describeDurable adds the durable path: for each endpoint, the subject a
// client publishes to, the stream's ack, and the outcome sent to the
// request's reply header.
func describeDurable(d *document, s Service, replies map[string]map[string]ref) error {
	du := s.Durable
	if du.Stream == "" || du.ReplyToHeader == "" {
		return fmt.Errorf("asyncapi: the durable path needs a stream and a reply header")
	}
	if err := checkSchema("durable ack", du.Ack); err != nil {
		return err
	}
	headers, err := headersSchema(du.RequestHeaders)
	if err != nil {
		return err
	}
	const ackID = "durable.ack"
	d.Components.Messages[ackID] = message{
		Name:        ackID,
		Title:       "stream ack",
		Description: "JetStream's ack of the publish, sent by the NATS server (not by dbapi) once stream " + du.Stream + " stored the request: from then on the request will run. duplicate is true when the stream already held a message with the same Nats-Msg-Id.",
		ContentType: "application/json",
		Payload:     du.Ack,
	}
	skip := map[string]bool{}
	for _, name := range du.Skip {
		skip[name] = true
	}
	for _, op := range s.Endpoints {
		if skip[op.Name] {
			continue
		}
		name := "durable." + op.Name
		subject := s.Prefix + "." + name
		reqMsg := op.Name + ".durable.request"
		d.Components.Messages[reqMsg] = message{
			Name:        reqMsg,
			Title:       op.Name + " durable request",
			Summary:     op.Description,
			Description: "The parameters, as in request-reply; published with a JetStream publish to stream " + du.Stream + ".",
			ContentType: "application/json",
			Headers:     headers,
			Payload:     op.ParamsSchema(),
		}
		d.Channels[name] = channel{
			Address:     &subject,
			Title:       op.Name + " (durable)",
			Description: du.Description,
			Messages:    map[string]ref{"request": {"#/components/messages/" + reqMsg}},
		}
		ackChannel := name + ".ack"
		d.Channels[ackChannel] = channel{
			Description: "The stream's ack of a durable " + op.Name + " request, on the publisher's inbox.",
			Messages:    map[string]ref{"ack": {"#/components/messages/" + ackID}},
		}
		d.Operations[name] = operation{
			Action:      "receive",
			Channel:     ref{"#/channels/" + name},
			Title:       op.Name + " (durable)",
			Summary:     op.Description,
			Description: du.Description,
			Messages:    []ref{{"#/channels/" + name + "/messages/request"}},
			Reply:       &reply{Channel: ref{"#/channels/" + ackChannel}, Messages: []ref{{"#/channels/" + ackChannel + "/messages/ack"}}},
			ReadOnly:    op.ReadOnly,
			Coalesce:    op.Coalesce,
		}
		outcome := name + ".outcome"
		d.Channels[outcome] = channel{
			Description: "The outcome of a durable " + op.Name + " request, published to the subject its " + du.ReplyToHeader +
				" header names (when it has one): the headers and body of the request-reply answer.",
			Messages: replies[op.Name],
		}
		d.Operations[outcome] = operation{
			Action:      "send",
			Channel:     ref{"#/channels/" + outcome},
			Title:       op.Name + " outcome",
			Description: "Sent once the durable request ran (or failed for good) to the subject of its " + du.ReplyToHeader + " header.",
			Messages:    channelRefs(outcome, replies[op.Name]),
			ReadOnly:    op.ReadOnly,
		}
	}
	return nil
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

// tableByStatus returns the contract's error codes by status.
func tableByStatus(c Contract) (map[int][]ErrorCode, error) {
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
	for _, list := range byStatus {
		sort.Slice(list, func(i, j int) bool { return list[i].Code < list[j].Code })
	}
	return byStatus, nil
}

// errorHeaders returns the JSON Schema of an error reply's headers.
func errorHeaders(c Contract, status int) (json.RawMessage, error) {
	st := strconv.Itoa(status)
	return json.Marshal(map[string]any{
		"type": "object",
		"properties": map[string]any{
			c.StatusHeader:  map[string]any{"type": "string", "const": st, "description": "the status of the error, like an HTTP status"},
			c.MessageHeader: map[string]any{"type": "string", "description": "the error's message, the same as the body's"},
		},
		"required": []string{c.StatusHeader, c.MessageHeader},
	})
}

// errorMessage returns the error message of one status: the table's codes
// of that status, and an operation's own (own; none for the shared
// message).
func errorMessage(id string, status int, table []ErrorCode, own []errorCode, headers, body json.RawMessage) message {
	st := strconv.Itoa(status)
	var b strings.Builder
	fmt.Fprintf(&b, "An error reply with status %s. Codes", st)
	if own == nil {
		b.WriteString(" (an operation may add its own)")
	}
	b.WriteString(":\n\n| code | retryable | meaning |\n|---|---|---|\n")
	xs := make([]errorCode, 0, len(table)+len(own))
	for _, e := range own {
		fmt.Fprintf(&b, "| `%s` | %v | %s |\n", e.Code, e.Retryable, strings.ReplaceAll(e.Description, "|", `\|`))
		xs = append(xs, e)
	}
	for _, e := range table {
		fmt.Fprintf(&b, "| `%s` | %v | %s |\n", e.Code, e.Retryable, e.Description)
		xs = append(xs, errorCode(e))
	}
	return message{
		Name:        id,
		Title:       "error " + st,
		Description: b.String(),
		ContentType: "application/json",
		Headers:     headers,
		Payload:     body,
		Status:      status,
		Codes:       xs,
	}
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

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
