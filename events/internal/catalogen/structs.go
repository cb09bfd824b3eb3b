package catalogen

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

type goStruct struct {
	Name   string
	Doc    string
	Fields []goField
}

type goField struct {
	Name, Type, JSON, Doc string
	Optional              bool
}

var jsonName = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)

// goFieldName is the exported Go name of a JSON property: personId is
// PersonID and childCaseIds ChildCaseIDs, as Go spells initialisms.
func goFieldName(prop string) string {
	n := strings.ToUpper(prop[:1]) + prop[1:]
	if s, ok := strings.CutSuffix(n, "Ids"); ok {
		return s + "IDs"
	}
	if s, ok := strings.CutSuffix(n, "Id"); ok {
		return s + "ID"
	}
	return n
}

// structs returns the Go structs of the type's data: the payload first,
// then the nested objects it names in their "x-jf" go.
func (t *Type) structs() ([]goStruct, error) {
	var out []goStruct
	doc := fmt.Sprintf("%s is the data of %s: %s (%s).", t.Go, t.Name, t.English, t.Danish)
	if err := collectStruct(t.Go, doc, t.Schema, "", &out); err != nil {
		return nil, err
	}
	return out, nil
}

func collectStruct(name, doc string, n *Node, at string, out *[]goStruct) error {
	if n.String("type") != "object" {
		return fmt.Errorf("%s: the payload is a JSON object", at)
	}
	props, ok := n.Get("properties")
	if !ok || len(props.Keys) == 0 {
		return fmt.Errorf("%s: an object without properties", at)
	}
	required := n.Strings("required")
	s := goStruct{Name: name, Doc: doc}
	var nested []func() error
	for _, k := range props.Keys {
		if !jsonName.MatchString(k) {
			return fmt.Errorf("%s/%s: property names are lowerCamelCase", at, k)
		}
		p := props.Values[k]
		f := goField{Name: goFieldName(k), JSON: k, Optional: !slices.Contains(required, k), Doc: p.String("description")}
		typ, more, err := goType(p, at+"/"+k)
		if err != nil {
			return err
		}
		f.Type = typ
		if more != nil {
			nested = append(nested, func() error { return collectStruct(more.name, more.doc, more.node, more.at, out) })
		}
		s.Fields = append(s.Fields, f)
	}
	*out = append(*out, s)
	for _, f := range nested {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

type nestedStruct struct {
	name, doc, at string
	node          *Node
}

func goType(p *Node, at string) (string, *nestedStruct, error) {
	switch p.String("type") {
	case "string":
		return "string", nil, nil
	case "integer":
		return "int", nil, nil
	case "number":
		return "float64", nil, nil
	case "boolean":
		return "bool", nil, nil
	case "array":
		items, ok := p.Get("items")
		if !ok {
			return "", nil, fmt.Errorf("%s: an array without items", at)
		}
		t, more, err := goType(items, at+"/-")
		return "[]" + t, more, err
	case "object":
		var a fieldAnnotation
		if raw, ok := p.Get("x-jf"); ok {
			if err := strictUnmarshal(raw.Raw, &a); err != nil {
				return "", nil, fmt.Errorf("%s: x-jf: %w", at, err)
			}
		}
		if !goIdent.MatchString(a.Go) {
			return "", nil, fmt.Errorf(`%s: a nested object needs "x-jf": {"go": "<Go type name>"}`, at)
		}
		doc := a.Go + " is " + strings.TrimSuffix(lowerFirst(p.String("description")), ".") + "."
		return a.Go, &nestedStruct{name: a.Go, doc: doc, at: at, node: p}, nil
	}
	return "", nil, fmt.Errorf("%s: unsupported type %q", at, p.String("type"))
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// words returns the Danish words of an enum property, checked against the
// enum: every code has a word and every word a code.
func words(p *Node, at string) (map[string]string, error) {
	raw, ok := p.Get("x-jf")
	if !ok {
		return nil, nil
	}
	var a fieldAnnotation
	if err := strictUnmarshal(raw.Raw, &a); err != nil {
		return nil, fmt.Errorf("%s: x-jf: %w", at, err)
	}
	if a.Da == nil {
		return nil, nil
	}
	enum := p.Strings("enum")
	if enum == nil {
		return nil, fmt.Errorf("%s: Danish words for a field that is not an enum of strings", at)
	}
	for _, code := range enum {
		if a.Da[code] == "" {
			return nil, fmt.Errorf("%s: no Danish word for the code %q", at, code)
		}
	}
	for code := range a.Da {
		if !slices.Contains(enum, code) {
			return nil, fmt.Errorf("%s: a Danish word for %q, which the enum lacks", at, code)
		}
	}
	return a.Da, nil
}
