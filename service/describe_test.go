package service

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/batch"
	"github.com/dbapi-dev/dbapi/catalog"
	"github.com/dbapi-dev/dbapi/consumer"
	"github.com/dbapi-dev/dbapi/examples/bank/bank"
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
	dir := nodeProject(t, "../asyncapi/testdata/validator", "@asyncapi/parser")
	t.Setenv("DBAPI_PREFIX", "eu.bank")
	t.Setenv("DBAPI_ALLOW_RAW_SQL", "true")
	t.Setenv("DBAPI_LOG_LEVEL", "error")
	t.Setenv("DBAPI_NATS_URL", "nats://someone:secret@nats.example:4222")
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
