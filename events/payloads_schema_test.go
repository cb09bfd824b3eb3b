package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/schemas"
)

// schemaNode is the part of a JSON Schema that the Go payload types have to
// agree with; constraints (patterns, bounds) are the schema's business alone.
type schemaNode struct {
	ID                   string                 `json:"$id"`
	Title                string                 `json:"title"`
	Description          string                 `json:"description"`
	Type                 string                 `json:"type"`
	Required             []string               `json:"required"`
	Properties           map[string]*schemaNode `json:"properties"`
	AdditionalProperties *bool                  `json:"additionalProperties"`
	Items                *schemaNode            `json:"items"`
}

const schemaTestdata = "../schemas/testdata"

func TestPayloadSchemasCoverTheCatalog(t *testing.T) {
	t.Parallel()
	var types []string
	for _, s := range AllVersions() {
		types = append(types, s.Type())
	}
	slices.Sort(types)
	if got := schemas.Types(); !slices.Equal(got, types) {
		t.Errorf("schemas.Types() = %v\nwant the catalog's types %v", got, types)
	}
}

// TestPayloadsMatchSchemas proves each payload struct and its schema describe
// the same JSON, so that a Go client that fills a struct produces data ingest
// accepts, and data ingest accepted always decodes into the struct.
func TestPayloadsMatchSchemas(t *testing.T) {
	t.Parallel()
	for _, spec := range AllVersions() {
		t.Run(spec.Key(), func(t *testing.T) {
			t.Parallel()
			raw, ok := schemas.Lookup(spec.Type())
			if !ok {
				t.Fatalf("no schema for %s", spec.Type())
			}
			var root schemaNode
			if err := json.Unmarshal(raw, &root); err != nil {
				t.Fatal(err)
			}
			if root.ID != spec.SchemaURL() || root.Title != spec.Type() {
				t.Errorf("$id %q, title %q; want %q, %q", root.ID, root.Title, spec.SchemaURL(), spec.Type())
			}
			checkSchemaDescription(t, spec, root.Description)
			compareWithSchema(t, "/data", reflect.TypeOf(spec.NewData()).Elem(), &root)
		})
	}
}

// checkSchemaDescription keeps the schema's one-line summary in step with
// the catalog, since the schema is what department developers read.
func checkSchemaDescription(t *testing.T, spec Spec, desc string) {
	t.Helper()
	if !strings.HasPrefix(desc, spec.Danish+" / ") {
		t.Errorf("description %q does not start with the Danish term %q", desc, spec.Danish)
	}
	if !strings.Contains(strings.ToLower(desc), strings.ToLower(spec.English)) {
		t.Errorf("description %q does not name the English term %q", desc, spec.English)
	}
	var owners string
	switch {
	case spec.AnyOwner():
		owners = "Owner: any department."
	case len(spec.Owners) == 1:
		owners = "Owner: " + string(spec.Owners[0]) + "."
	default:
		var codes []string
		for _, d := range spec.Owners {
			codes = append(codes, string(d))
		}
		owners = "Owners: " + strings.Join(codes, ", ") + "."
	}
	if !strings.Contains(desc, owners) {
		t.Errorf("description %q does not say %q", desc, owners)
	}
}

func compareWithSchema(t *testing.T, ptr string, typ reflect.Type, node *schemaNode) {
	t.Helper()
	if node == nil {
		t.Errorf("%s: no schema for Go type %s", ptr, typ)
		return
	}
	if want := jsonSchemaType(typ); node.Type != want {
		t.Errorf("%s: schema type %q, Go type %s is %q", ptr, node.Type, typ, want)
		return
	}
	switch typ.Kind() {
	case reflect.Slice:
		compareWithSchema(t, ptr+"/items", typ.Elem(), node.Items)
	case reflect.Struct:
		if node.AdditionalProperties == nil || *node.AdditionalProperties {
			t.Errorf("%s: additionalProperties is not false", ptr)
		}
		var names, required []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				t.Errorf("%s: field %s.%s has no json name", ptr, typ, f.Name)
				continue
			}
			names = append(names, name)
			if !slices.Contains(strings.Split(opts, ","), "omitempty") {
				required = append(required, name)
			}
			compareWithSchema(t, ptr+"/"+name, f.Type, node.Properties[name])
		}
		var props []string
		for name := range node.Properties {
			props = append(props, name)
		}
		slices.Sort(names)
		slices.Sort(props)
		if !slices.Equal(names, props) {
			t.Errorf("%s: Go %s has fields %v, schema has properties %v", ptr, typ, names, props)
		}
		slices.Sort(required)
		want := slices.Sorted(slices.Values(node.Required))
		if !slices.Equal(required, want) {
			t.Errorf("%s: Go %s requires (no omitempty) %v, schema requires %v", ptr, typ, required, want)
		}
	}
}

func jsonSchemaType(typ reflect.Type) string {
	switch typ.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct:
		return "object"
	}
	return "unsupported Go kind " + typ.Kind().String()
}

// TestPayloadExamplesRoundTrip decodes every valid schema example strictly
// and encodes it again: a field the struct lacks fails the decode, and an
// omitempty that would drop a valid value shows up as a difference.
func TestPayloadExamplesRoundTrip(t *testing.T) {
	t.Parallel()
	for _, spec := range AllVersions() {
		files, err := filepath.Glob(filepath.Join(schemaTestdata, spec.Key(), "valid-*.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Errorf("%s: no valid example in %s", spec.Name, schemaTestdata)
		}
		for _, file := range files {
			t.Run(spec.Key()+"/"+strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
				t.Parallel()
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				p := spec.NewData()
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.DisallowUnknownFields()
				if err := dec.Decode(p); err != nil {
					t.Fatalf("decode into %T: %v", p, err)
				}
				again, err := json.Marshal(p)
				if err != nil {
					t.Fatal(err)
				}
				var want, got any
				if err := json.Unmarshal(b, &want); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(again, &got); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("round trip through %T changed the data:\n got %s\nwant %s", p, again, b)
				}
			})
		}
	}
}
