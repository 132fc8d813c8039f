package rowtest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// SplitRows decodes a JSON array of objects into each object's raw
// values, checking that every object has exactly the keys names, in order.
func SplitRows(t testing.TB, b []byte, names []string) []map[string]json.RawMessage {
	t.Helper()
	var objs []json.RawMessage
	if err := json.Unmarshal(b, &objs); err != nil {
		t.Fatalf("the result is not a JSON array: %v", err)
	}
	out := make([]map[string]json.RawMessage, len(objs))
	for i, obj := range objs {
		dec := json.NewDecoder(bytes.NewReader(obj))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("row %d is not an object", i)
		}
		var keys []string
		out[i] = map[string]json.RawMessage{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, tok.(string))
			out[i][tok.(string)] = v
		}
		if !reflect.DeepEqual(keys, names) {
			t.Errorf("row %d has keys %v, want the columns in order %v", i, keys, names)
		}
	}
	return out
}
