package readmodel

import (
	"errors"
	"reflect"
	"strings"
	"sync"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// operatorNames is the reason err gives with each name of its pointers
// that is not the catalog's (pointerNames) left out. A message published
// directly may put anything where a member's name goes, personal text
// too, and a reason points at a member it refuses by that name
// ("/data/<name>: is not a field of this event type"): the log and the
// auditor get the reason whole, the operator this one (OperatorReason).
func operatorNames(err error) string {
	s := err.Error()
	var ee *events.Error
	if !errors.As(err, &ee) {
		return s
	}
	c := *ee
	c.Problems = make([]events.Problem, len(ee.Problems))
	for i, p := range ee.Problems {
		c.Problems[i] = events.Problem{Pointer: pointerNames(p.Pointer), Detail: p.Detail}
	}
	return strings.Replace(s, ee.Error(), c.Error(), 1)
}

// pointerNames is the JSON pointer ptr with each token that is neither an
// array index nor a name of the catalog (catalogNames) replaced by
// Redacted.
func pointerNames(ptr string) string {
	rest, ok := strings.CutPrefix(ptr, "/")
	if !ok {
		return ptr
	}
	toks := strings.Split(rest, "/")
	names := catalogNames()
	for i, tok := range toks {
		name := strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		if !names[name] && !isIndex(name) {
			toks[i] = Redacted
		}
	}
	return "/" + strings.Join(toks, "/")
}

func isIndex(s string) bool {
	if s == "" || len(s) > 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// catalogNames are the member names of the catalog's payloads (of every
// version, nested members too), the CloudEvents attributes and the
// service's extension: the names a pointer may show the operator.
var catalogNames = sync.OnceValue(func() map[string]bool {
	names := map[string]bool{shred.Extension: true}
	for _, a := range []string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data", "data_base64"} {
		names[a] = true
	}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case name == "-":
				continue
			case f.Anonymous && name == "":
				walk(f.Type)
				continue
			case name == "":
				name = f.Name
			}
			names[name] = true
			walk(f.Type)
		}
	}
	for _, spec := range events.AllVersions() {
		walk(reflect.TypeOf(spec.NewData()))
	}
	return names
})
