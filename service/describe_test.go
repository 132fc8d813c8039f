package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/batch"
	"github.com/dbapi-dev/dbapi/catalog"
	"github.com/dbapi-dev/dbapi/consumer"
	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/internal/prereq"
	"github.com/dbapi-dev/dbapi/rawsql"
	"github.com/nats-io/nats.go/micro"
)

// Each endpoint's metadata, as a client reads it through NATS ($SRV.INFO,
// what `nats micro info` shows), carries its parameters' JSON Schema and
// its result kind: Go, declared and raw SQL operations and the batch.
func TestEndpointMetadataDescribes(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.AllowRawSQL = true
	m := e.start(cfg)

	r := call(e.nc, "$SRV.INFO.dbapi."+m.Consumer.Info().ID, nil, nil, 5*time.Second)
	if r.err != nil || r.status != 0 {
		t.Fatalf("$SRV.INFO: %v", r)
	}
	var info micro.Info
	if err := json.Unmarshal(r.body, &info); err != nil {
		t.Fatalf("INFO reply %s: %v", r.body, err)
	}
	meta := map[string]map[string]string{}
	for _, ep := range info.Endpoints {
		meta[ep.Subject] = ep.Metadata
	}

	declared, err := catalog.Load(bank.Declared(), catalog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ops := append(append(bank.Operations(), declared...), rawsql.Operations(0)...)
	want := map[string][3]string{} // subject: params schema, result, result schema
	for _, op := range ops {
		want[e.prefix+"."+op.Name] = [3]string{string(op.Params), string(op.Result), string(op.ResultSchemaOrKind())}
	}
	// The declared operations' result schemas come from the database's
	// column types, which the check at start read.
	for _, op := range declared {
		w := want[e.prefix+"."+op.Name]
		w[2] = meta[e.prefix+"."+op.Name][consumer.MetadataResultSchema]
		want[e.prefix+"."+op.Name] = w
		if !strings.Contains(w[2], `"created_at":{"description":"DATETIME(6), in UTC with 6 fractional digits; a zero date is null","format":"date-time","type":["string","null"]}`) {
			t.Errorf("%s: result schema without the column types: %s", op.Name, w[2])
		}
	}
	// An operation's own errors, with their status and retryable flag.
	if got := meta[e.prefix+".accounts.transfer"][consumer.MetadataErrors]; !strings.Contains(got, `{"code":"insufficient_funds","status":409,"retryable":false,"message":"account <from> has less than <amount>"}`) {
		t.Errorf("accounts.transfer errors: %s", got)
	}
	if got, ok := meta[e.prefix+".accounts.get"][consumer.MetadataErrors]; ok {
		t.Errorf("accounts.get lists errors: %s", got)
	}
	want[e.prefix+".batch"] = [3]string{string(batch.ParamsSchema), "one", string(batch.ResultSchema)}
	if len(meta) != len(want) {
		t.Errorf("%d endpoints, want %d: %v", len(meta), len(want), info.Endpoints)
	}
	for subject, w := range want {
		md, ok := meta[subject]
		if !ok {
			t.Errorf("no endpoint %s", subject)
			continue
		}
		if w[0] == "" || w[1] == "" {
			t.Errorf("%s: the operation is not described", subject)
		}
		got := [3]string{md[consumer.MetadataParamsSchema], md[consumer.MetadataResult], md[consumer.MetadataResultSchema]}
		if got != w {
			t.Errorf("%s: metadata\n got  %q\n want %q", subject, got, w)
		}
	}
	// What a client sees for one operation, spelled out.
	var transfer struct {
		Required   []string
		Properties map[string]struct{ Type string }
	}
	if err := json.Unmarshal([]byte(meta[e.prefix+".accounts.transfer"][consumer.MetadataParamsSchema]), &transfer); err != nil {
		t.Fatal(err)
	}
	if len(transfer.Required) != 3 || transfer.Properties["from"].Type != "integer" || transfer.Properties["amount"].Type != "string" {
		t.Errorf("accounts.transfer params: %+v", transfer)
	}
	if got := meta[e.prefix+".accounts.list"][consumer.MetadataResult]; got != "many" {
		t.Errorf("accounts.list result %q, want many", got)
	}
}

// `describe` prints an AsyncAPI document of the bank service that the
// official AsyncAPI parser finds valid, without errors or warnings, and
// that names every endpoint under the configured prefix.
func TestDescribeIsValidAsyncAPI(t *testing.T) {
	dir := prereq.NodeProject(t, "../asyncapi/testdata/validator", "@asyncapi/parser")
	t.Setenv("DBAPI_PREFIX", "eu.bank")
	t.Setenv("DBAPI_ALLOW_RAW_SQL", "true")
	t.Setenv("DBAPI_LOG_LEVEL", "error")
	t.Setenv("DBAPI_NATS_URL", "nats://someone:secret@nats.example:4222")
	t.Setenv("DBAPI_MYSQL_DSN", "root@tcp(127.0.0.1:1)/nowhere") // no database: kind-only result schemas
	var out bytes.Buffer
	if err := command([]string{"describe"}, bankApp(), &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "secret") {
		t.Error("the document shows the NATS URL's password")
	}
	var doc struct {
		Channels map[string]struct{ Address *string }
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"accounts.open", "accounts.transfer", "accounts.get", "accounts.list", "sql.exec", "sql.query", "batch"} {
		if a := doc.Channels[name].Address; a == nil || *a != "eu.bank."+name {
			t.Errorf("channel %s: address %v", name, a)
		}
	}

	cmd := exec.Command("node", "validate.mjs", "--strict")
	cmd.Dir = dir
	cmd.Stdin = &out
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the AsyncAPI parser refuses the document: %v\n%s", err, res)
	}
	if !strings.Contains(string(res), "valid AsyncAPI 3.0.0: 7 operations, 14 channels") {
		t.Errorf("validator: %s", res)
	}
}

// `describe` of the lending library (examples/library: SQL files only),
// with the durable path: the database's column types in the result
// schemas, each operation's own error codes, the durable channels and
// the outcome endpoint; valid for the official parser.
func TestDescribeLibrary(t *testing.T) {
	dir := prereq.NodeProject(t, "../asyncapi/testdata/validator", "@asyncapi/parser")
	db := dbtest.Config(t)
	dbtest.Create(t, db)
	t.Setenv("DBAPI_MYSQL_DSN", db.FormatDSN())
	t.Setenv("DBAPI_MIGRATIONS_DIR", "../examples/library/migrations")
	t.Setenv("DBAPI_OPERATIONS_DIR", "../examples/library/operations")
	t.Setenv("DBAPI_LOG_LEVEL", "error")
	t.Setenv("DBAPI_DURABLE", "true")
	if err := command([]string{"migrate"}, App{}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := command([]string{"describe"}, App{}, &out); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Channels   map[string]struct{ Address *string }
		Operations map[string]struct {
			Action     string
			ErrorCodes []struct {
				Code      string
				Status    int
				Retryable bool
			} `json:"x-dbapi-error-codes"`
		}
		Components struct {
			Messages map[string]struct {
				Payload json.RawMessage
				Codes   []struct{ Code string } `json:"x-dbapi-error-codes"`
			}
		}
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	lend := doc.Operations["books.lend"]
	if got := fmt.Sprint(lend.ErrorCodes); got != "[{no_copies_left 409 false} {unknown_book 404 false}]" {
		t.Errorf("books.lend error codes: %s", got)
	}
	codes := ""
	for _, c := range doc.Components.Messages["books.lend.error.409"].Codes {
		codes += c.Code + " "
	}
	if !strings.HasPrefix(codes, "no_copies_left ") || !strings.Contains(codes, " conflict ") || !strings.Contains(codes, " deadlock ") {
		t.Errorf("books.lend's 409 reply lists %s", codes)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc.Components.Messages["books.lend.result"].Payload); err != nil {
		t.Fatal(err)
	}
	if result := compact.String(); !strings.Contains(result, `"copies_left":{"description":"INT","maximum":2147483647,"minimum":-2147483648,"type":"integer"}`) {
		t.Errorf("books.lend result schema: %s", result)
	}
	for name, subject := range map[string]string{
		"durable.books.lend": "dbapi.durable.books.lend", "durable.batch": "dbapi.durable.batch", "outcome": "dbapi.outcome",
	} {
		if a := doc.Channels[name].Address; a == nil || *a != subject {
			t.Errorf("channel %s: address %v, want %s", name, a, subject)
		}
	}
	if _, ok := doc.Channels["durable.outcome"]; ok {
		t.Error("the outcome endpoint has a durable subject")
	}
	if doc.Operations["durable.books.lend.outcome"].Action != "send" {
		t.Errorf("no outcome operation: %+v", doc.Operations["durable.books.lend.outcome"])
	}

	cmd := exec.Command("node", "validate.mjs", "--strict")
	cmd.Dir = dir
	cmd.Stdin = &out
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the AsyncAPI parser refuses the document: %v\n%s", err, res)
	}
	// 6 operations, the batch and the outcome endpoint, each with its
	// reply channel; the 7 but the outcome also durable, each with its ack
	// and its outcome.
	if !strings.Contains(string(res), "valid AsyncAPI 3.0.0: 22 operations, 37 channels") {
		t.Errorf("validator: %s", res)
	}

	// Without the database, the document says the types are unknown.
	t.Setenv("DBAPI_MYSQL_DSN", "root@tcp(127.0.0.1:1)/nowhere")
	out.Reset()
	if err := command([]string{"describe"}, App{}, &out); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if result := string(doc.Components.Messages["books.lend.result"].Payload); !strings.Contains(result, "Column types unknown: the database was not asked") {
		t.Errorf("books.lend result schema without a database: %s", result)
	}
}
