package catalog

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi/internal/schematest"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The schema a declared operation publishes accepts exactly the bodies
// its decoder accepts, for everything a schema can express.
func TestParamsSchemaAgreesWithDecoder(t *testing.T) {
	d, err := parseFile(t, "testdata/good/everything.sql")
	if err != nil {
		t.Fatal(err)
	}
	schema := schematest.Compile(t, d.ParamsSchema())
	bodies := []string{
		`{"i":1,"s":"abc"}`,
		`{"i":"3","s":""}`,
		`{"i":-5,"s":"x","d":"12.50","b":true,"t":"2024-01-02T03:04:05Z","day":"2024-02-29","raw":"AAEC","doc":{"a":[1]},"note":"n"}`,
		`{"i":1,"s":"x","d":null,"t":null,"day":null,"raw":null,"doc":null}`,
		`{"i":6,"s":"x"}`,           // above max
		`{"i":-6,"s":"x"}`,          // below min
		`{"i":1.5,"s":"x"}`,         // not an integer
		`{"i":"1x","s":"x"}`,        // not digits
		`{"i":1}`,                   // s missing
		`{"s":"x"}`,                 // i missing
		`{"i":1,"s":"abcd"}`,        // too long
		`{"i":1,"s":"ab€"}`,         // 3 characters, 5 bytes
		`{"i":1,"s":"x","d":2.5}`,   // decimal as a number
		`{"i":1,"s":"x","d":"2e3"}`, // exponent
		`{"i":1,"s":"x","b":"true"}`,
		`{"i":1,"s":"x","b":null}`, // not nullable, has a default
		`{"i":1,"s":"x","t":"yesterday"}`,
		`{"i":1,"s":"x","day":"2024-13-01"}`,
		`{"i":1,"s":"x","raw":"not base64!"}`,
		`{"i":1,"s":"x","other":1}`, // unknown
		`{"i":null,"s":"x"}`,
		`{"i":1,"s":"x","note":7}`,
		`[]`,
	}
	for _, body := range bodies {
		_, decErr := d.DecodeParams([]byte(body))
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		schemaErr := schema.Validate(inst)
		if (decErr == nil) != (schemaErr == nil) {
			t.Errorf("%s: decoder says %v, schema says %v", body, decErr, schemaErr)
		}
	}
}

func TestParamsSchemaOfList(t *testing.T) {
	d, err := parseFile(t, "testdata/good/accounts_list.sql")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Type                 string
		AdditionalProperties bool
		Required             []string
		Properties           map[string]struct {
			AnyOf []struct {
				Type             string
				Minimum, Maximum json.Number
				Pattern          string
				AllOf            []struct{ Pattern string }
			}
			Default     json.RawMessage
			Description string
		}
	}
	if err := json.Unmarshal(d.ParamsSchema(), &got); err != nil {
		t.Fatal(err)
	}
	limit := got.Properties["limit"]
	if got.Type != "object" || got.AdditionalProperties || len(got.Required) != 0 || len(limit.AnyOf) != 2 ||
		limit.AnyOf[0].Type != "integer" || limit.AnyOf[0].Minimum != "1" || limit.AnyOf[0].Maximum != "1000" ||
		limit.AnyOf[1].Type != "string" || limit.AnyOf[1].Pattern != "^-?[0-9]+$" || len(limit.AnyOf[1].AllOf) != 2 ||
		string(limit.Default) != "100" || limit.Description != "int: an integer; from 1 to 1000, as a JSON integer or a string of digits" {
		t.Errorf("limit: %+v", got)
	}
	after := got.Properties["after"]
	if len(after.AnyOf) != 2 || after.AnyOf[1].Type != "null" {
		t.Errorf("after is not nullable: %+v", after)
	}
	if op := d.Operation(Config{}); string(op.Params) != string(d.ParamsSchema()) || op.Result != "many" {
		t.Errorf("operation: params %s, result %q", op.Params, op.Result)
	}
}
