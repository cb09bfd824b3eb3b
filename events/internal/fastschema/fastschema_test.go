package fastschema

import (
	"fmt"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestIsDateIsTimeParse holds IsDate to what jsonschema v6 does for format
// "date": time.Parse("2006-01-02", s).
func TestIsDateIsTimeParse(t *testing.T) {
	t.Parallel()
	check := func(y, m, d int) {
		b := fmt.Appendf(nil, "%04d-%02d-%02d", y, m, d)
		_, err := time.Parse("2006-01-02", string(b))
		if got := IsDate(b); got != (err == nil) {
			t.Fatalf("IsDate(%s) = %v, time.Parse: %v", b, got, err)
		}
	}
	// Every month and day of the years of the leap rule's cases ...
	for _, y := range []int{0, 1, 4, 100, 400, 1600, 1900, 2000, 2023, 2024, 2100, 2400, 9996, 9999} {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				check(y, m, d)
			}
		}
	}
	// ... and the days around the ends of February and of the year in every
	// year, which is all the year decides.
	for y := range 10000 {
		for _, md := range [][2]int{{1, 0}, {1, 1}, {2, 28}, {2, 29}, {2, 30}, {12, 31}, {12, 32}, {13, 1}} {
			check(y, md[0], md[1])
		}
	}
	for _, s := range []string{"", "2024-01-0", "2024-01-011", "+024-01-01", "-024-01-01", "2024/01/01", "2024-01-01 ",
		" 2024-01-01", "2024-1-01", "2024-01-1", "२०२४-01-01", "2024-0a-01", "20240-1-01"} {
		_, err := time.Parse("2006-01-02", s)
		if got := IsDate([]byte(s)); got != (err == nil) {
			t.Errorf("IsDate(%q) = %v, time.Parse: %v", s, got, err)
		}
	}
}

// FuzzRuneCount holds runeCount to utf8.RuneCount on valid UTF-8.
func FuzzRuneCount(f *testing.F) {
	for _, s := range []string{"", "abc", "æøå", "a€b😀c", strings.Repeat("Ære være ", 10)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if utf8.ValidString(s) && runeCount([]byte(s)) != utf8.RuneCountInString(s) {
			t.Fatalf("%q: runeCount %d, utf8 %d", s, runeCount([]byte(s)), utf8.RuneCountInString(s))
		}
	})
}

// compileBoth compiles a schema for both paths, as validate.go does for the
// catalog's.
func compileBoth(t *testing.T, schema string) (*Schema, error, *jsonschema.Schema) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("mem:///s.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("mem:///s.json")
	if err != nil {
		t.Fatalf("%s: %v", schema, err)
	}
	fast, ferr := Compile([]byte(schema), nil)
	return fast, ferr, sch
}

// TestFastCompilerRefuses: a schema with anything the fast path does not
// fully understand gets no fast path.
func TestFastCompilerRefuses(t *testing.T) {
	t.Parallel()
	for _, schema := range []string{
		`{"type": "string", "format": "email"}`,
		`{"type": "string", "format": "date-time"}`,
		`{"anyOf": [{"type": "string"}]}`,
		`{"allOf": [{"type": "string"}]}`,
		`{"oneOf": [{"type": "string"}]}`,
		`{"$defs": {"a": {"type": "string"}}, "$ref": "#/$defs/a"}`,
		`{"not": {"type": "string"}}`,
		`{"not": {"pattern": "a", "minLength": 2}}`,
		`{"type": "number", "minimum": 1.5}`,
		`{"type": "number", "maximum": 1e20}`,
		`{"type": "number", "exclusiveMinimum": 1}`,
		`{"type": "number", "multipleOf": 2}`,
		`{"const": "a"}`,
		`{"enum": [1, "a"]}`,
		`{"type": "array", "uniqueItems": true, "items": {"type": "number"}}`,
		`{"type": "array", "uniqueItems": true}`,
		`{"type": "array", "prefixItems": [{"type": "string"}]}`,
		`{"type": "array", "contains": {"type": "string"}}`,
		`{"type": "object", "patternProperties": {"^a": {"type": "string"}}}`,
		`{"type": "object", "propertyNames": {"maxLength": 3}}`,
		`{"type": "object", "unevaluatedProperties": false}`,
		`{"type": "object", "required": ["a"]}`,
		`{"type": "object", "dependentRequired": {"a": ["b"]}}`,
		`{"type": "object", "minProperties": 1}`,
		`{"type": "string", "contentEncoding": "base64"}`,
		`{"type": "object", "properties": {"a": {"$schema": "https://json-schema.org/draft/2020-12/schema"}}}`,
		`{"$schema": "http://json-schema.org/draft-07/schema#"}`,
		`{"type": "string", "x-unknown": true}`,
	} {
		if fast, err, _ := compileBoth(t, schema); err == nil || fast != nil {
			t.Errorf("fast path for %s", schema)
		}
	}
}

// TestFastPathSyntheticSchemas covers the forms of the supported keywords
// that the catalog does not use today.
func TestFastPathSyntheticSchemas(t *testing.T) {
	t.Parallel()
	cases := []struct {
		schema string
		data   map[string]bool // data → the verdict wanted of the fast path
	}{
		{`{"type": ["string", "null"], "maxLength": 2}`, map[string]bool{`"ab"`: true, `null`: true, `"abc"`: false, `1`: false, `"\u00e6\u00e6"`: true}},
		{`{"maxLength": 2, "minimum": 3}`, map[string]bool{`"ab"`: true, `3`: true, `2.5`: false, `[]`: true, `{"a": 1}`: true, `true`: true}},
		{`{"type": "integer", "minimum": -5, "maximum": 5}`, map[string]bool{`-5`: true, `5`: true, `-6`: false, `5.0`: false, `"5"`: false}},
		{`{"type": "number", "minimum": -5, "maximum": 5}`, map[string]bool{`-5`: true, `-5.1`: false, `-4.9`: true, `4.9`: true, `5.1`: false, `-0.0`: true}},
		{`{"not": {"pattern": "^a"}}`, map[string]bool{`"b"`: true, `"a"`: false, `1`: false, `null`: false}},
		{`{"enum": ["a", "b"]}`, map[string]bool{`"a"`: true, `"c"`: false, `1`: false, `null`: false}},
		{`{"type": "object", "properties": {"a": true, "b": false}, "additionalProperties": {"type": "integer"}}`,
			map[string]bool{`{"a": [1, {"x": null}]}`: true, `{"b": 1}`: false, `{"c": 1}`: true, `{"c": "x"}`: false}},
		{`{"type": "object"}`, map[string]bool{`{"c": 1, "c": 2}`: true, `{"a": {"b": [1, 2, {"c": "d"}]}}`: true}},
		{`{"type": "array", "items": {"type": "string"}, "uniqueItems": true, "maxItems": 3}`,
			map[string]bool{`["a", "b"]`: true, `["a", "a"]`: false, `["a", "b", "c", "d"]`: false, `[]`: true}},
		{`{"type": "array", "items": {"type": "object", "required": ["k", "n"], "properties": {"k": {"type": "string"}, "n": {"type": "integer"}}}, "uniqueItems": true}`,
			map[string]bool{`[{"k": "a", "n": 1}, {"k": "b", "n": 1}]`: true, `[{"k": "a", "n": 1}, {"k": "a", "n": 2}]`: false}},
		{`{"type": "array", "uniqueItems": false}`, map[string]bool{`[1, 1]`: true}},
		{`false`, map[string]bool{`1`: false, `{}`: false}},
		{`true`, map[string]bool{`1`: true, `{"a": "b"}`: true}},
		// checkJSON refuses unpaired surrogates; so does the walk, even
		// where jsonschema would not mind the U+FFFD they decode to.
		{`{"type": "string"}`, map[string]bool{`"\ud83d\ude00"`: true, `"\ud83d"`: false, `"\ude00"`: false, `"\ud83d\u0041"`: false}},
		{`{"type": "string", "maxLength": 1}`, map[string]bool{`"\ud83d\ude00"`: true, `"\ud83d"`: false, `"\ud83d\ud83d"`: false}},
	}
	for _, c := range cases {
		fast, err, sch := compileBoth(t, c.schema)
		if err != nil {
			t.Errorf("no fast path for %s: %v", c.schema, err)
			continue
		}
		for data, want := range c.data {
			got := fast.Valid([]byte(data))
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if got && sch.Validate(inst) != nil {
				t.Errorf("%s: the fast path accepts %s, which jsonschema refuses", c.schema, data)
			}
			if got != want {
				t.Errorf("%s: fast path %v for %s, want %v", c.schema, got, data, want)
			}
		}
	}
}
