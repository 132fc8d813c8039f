package batch

import (
	"bytes"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The batch body's schema accepts exactly what planBatch accepts, for what
// a schema can say (not: unknown operations, references, the step cap).
func TestParamsSchema(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(ParamsSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("batch.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("batch.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jsonschema.UnmarshalJSON(bytes.NewReader(ResultSchema)); err != nil {
		t.Fatal(err)
	}
	reg := testRegistry(t)
	for _, body := range []string{
		`{"ops":[{"op":"a.read"},{"op":"a.read","params":{"x":1}}]}`,
		`{"ops":[{"op":"a.read","as":"r"},{"op":"a.write","params":{"x":"$r.x"}}]}`,
		`{"ops":[{"op":"a.read","params":null}]}`,
		`{"ops":[{"op":"a.read","as":"1x"}]}`,
		`{"ops":[{"op":"a.read","as":""}]}`,
		`{}`,
		`{"ops":[]}`,
		`{"ops":{}}`,
		`{"ops":[{"params":{}}]}`,
		`{"ops":[{"op":"a.read","extra":1}]}`,
		`{"ops":[{"op":"a.read"}],"extra":1}`,
		`{"ops":[{"op":7}]}`,
	} {
		_, planErr := Plan(reg, []byte(body), 10)
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if schemaErr := schema.Validate(inst); (planErr == nil) != (schemaErr == nil) {
			t.Errorf("%s: Plan says %v, schema says %v", body, planErr, schemaErr)
		}
	}
}
