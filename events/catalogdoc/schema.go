package catalogdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"kk.dk/jobogfamilie/events"
)

// schema is the part of a JSON Schema that the field tables show. Properties
// keep the order of the schema file, which follows the Go payload structs, so
// that the table reads like the payload rather than alphabetically.
type schema struct {
	Description string       `json:"description"`
	Type        string       `json:"type"`
	Enum        []any        `json:"enum"`
	Format      string       `json:"format"`
	Pattern     string       `json:"pattern"`
	Not         *schema      `json:"not"`
	MinLength   *int         `json:"minLength"`
	MaxLength   *int         `json:"maxLength"`
	Minimum     *json.Number `json:"minimum"`
	Maximum     *json.Number `json:"maximum"`
	MinItems    *int         `json:"minItems"`
	MaxItems    *int         `json:"maxItems"`
	UniqueItems bool         `json:"uniqueItems"`
	Required    []string     `json:"required"`
	Properties  properties   `json:"properties"`
	Items       *schema      `json:"items"`
}

type property struct {
	name   string
	schema *schema
}

type properties []property

func (ps *properties) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("properties is not an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		s := new(schema)
		if err := dec.Decode(s); err != nil {
			return err
		}
		*ps = append(*ps, property{name: tok.(string), schema: s})
	}
	_, err := dec.Token()
	return err
}

// field is one row of a type's field table; nested fields are flattened to
// paths ("members[].personId", "absentDays.sickness").
type field struct {
	path     string
	schema   *schema
	required bool
}

func flatten(prefix string, s *schema, out []field) []field {
	for _, p := range s.Properties {
		path := prefix + p.name
		out = append(out, field{path: path, schema: p.schema, required: slices.Contains(s.Required, p.name)})
		switch {
		case p.schema.Type == "object":
			out = flatten(path+".", p.schema, out)
		case p.schema.Type == "array" && p.schema.Items != nil && p.schema.Items.Type == "object":
			out = flatten(path+"[].", p.schema.Items, out)
		}
	}
	return out
}

// jsonType names the JSON type, with the item type for arrays.
func (s *schema) jsonType() string {
	if s.Type == "array" && s.Items != nil {
		return "array of " + s.Items.Type
	}
	return s.Type
}

// constraints lists what the schema demands of a value, in words a
// developer can check a value against; for arrays of scalars the item
// constraints are included, since the items get no row of their own.
func (s *schema) constraints() []string {
	var out []string
	if len(s.Enum) > 0 {
		vals := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			vals[i] = code(fmt.Sprint(v))
		}
		out = append(out, "one of "+strings.Join(vals, ", "))
	}
	if s.Format != "" {
		out = append(out, "format "+code(s.Format))
	}
	if s.Pattern != "" {
		out = append(out, "pattern "+code(s.Pattern))
	}
	if s.Not != nil && s.Not.Pattern != "" {
		if s.Not.Pattern == events.CPRPattern {
			out = append(out, "must not look like a CPR number ("+code(s.Not.Pattern)+")")
		} else {
			out = append(out, "must not match "+code(s.Not.Pattern))
		}
	}
	out = appendRange(out, "length", intString(s.MinLength), intString(s.MaxLength))
	out = appendRange(out, "value", numString(s.Minimum), numString(s.Maximum))
	out = appendRange(out, "items", intString(s.MinItems), intString(s.MaxItems))
	if s.UniqueItems {
		out = append(out, "items unique")
	}
	if s.Type == "array" && s.Items != nil && s.Items.Type != "object" {
		if item := s.Items.constraints(); len(item) > 0 {
			out = append(out, "each item: "+strings.Join(item, ", "))
		}
	}
	return out
}

func appendRange(out []string, what, lo, hi string) []string {
	switch {
	case lo != "" && hi != "":
		return append(out, fmt.Sprintf("%s %s to %s", what, lo, hi))
	case lo != "":
		return append(out, fmt.Sprintf("%s at least %s", what, lo))
	case hi != "":
		return append(out, fmt.Sprintf("%s at most %s", what, hi))
	}
	return out
}

func intString(p *int) string {
	if p == nil {
		return ""
	}
	return fmt.Sprint(*p)
}

func numString(p *json.Number) string {
	if p == nil {
		return ""
	}
	return p.String()
}
