package jsonscan

import (
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// DecodePlain decodes data into v, a pointer to a payload struct, exactly as
// encoding/json would, for the plain JSON that catalog payloads are: members
// named exactly as the fields' tags, strings without escapes, numbers that
// fit their fields, no nulls. It reports false on anything else, and then v
// may be partly written: the caller decodes a fresh value with encoding/json,
// which also explains whatever is wrong.
//
// Every stored event's payload is decoded once by ingest, the projector and
// audit; encoding/json's reflection and its separate validity scan were a
// third of the cost of reading an event. A fuzz test holds the two to the
// same result whenever DecodePlain reports true.
func DecodePlain(data []byte, v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	return DecodeByPlan(PlanFor(rv.Type().Elem()), data, rv.Elem())
}

// DecodeByPlan decodes data into v by p, the plan of v's type (nil: no
// plain decoding).
func DecodeByPlan(p *Plan, data []byte, v reflect.Value) bool {
	if p == nil {
		return false
	}
	d := plainDecoder{b: data}
	if !d.value(p, v) {
		return false
	}
	d.ws()
	return d.i == len(d.b)
}

// Plan is how values of one Go type are decoded.
type Plan struct {
	kind   reflect.Kind
	typ    reflect.Type
	fields []fieldPlan // of a struct
	elem   *Plan       // of a slice
}

type fieldPlan struct {
	name  string // the member name, as the tag gives it
	index int
	plan  *Plan
}

var plans sync.Map // reflect.Type -> *Plan, nil when unsupported

// Type is the Go type p decodes.
func (p *Plan) Type() reflect.Type { return p.typ }

// PlanFor is the plan of type t, nil when its values are not plain.
func PlanFor(t reflect.Type) *Plan {
	if p, ok := plans.Load(t); ok {
		return p.(*Plan)
	}
	p := buildPlan(t, 0)
	plans.Store(t, p)
	return p
}

// buildPlan returns nil for a type with anything the plain subset leaves
// to encoding/json: pointers, maps, interfaces, embedded or untagged
// fields, tag options that change decoding, names used twice.
func buildPlan(t reflect.Type, depth int) *Plan {
	if depth > 8 {
		return nil
	}
	p := &Plan{kind: t.Kind(), typ: t}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
		return p
	case reflect.Slice:
		if p.elem = buildPlan(t.Elem(), depth+1); p.elem == nil {
			return nil
		}
		return p
	case reflect.Struct:
		seen := map[string]bool{}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Anonymous {
				return nil
			}
			tag, ok := f.Tag.Lookup("json")
			if !ok {
				return nil
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" || name == "-" || (opts != "" && opts != "omitempty") || seen[strings.ToLower(name)] {
				return nil
			}
			seen[strings.ToLower(name)] = true
			fp := buildPlan(f.Type, depth+1)
			if fp == nil {
				return nil
			}
			p.fields = append(p.fields, fieldPlan{name: name, index: i, plan: fp})
		}
		if len(p.fields) > 64 {
			return nil
		}
		return p
	}
	return nil
}

type plainDecoder struct {
	b []byte
	i int
}

func (d *plainDecoder) ws() { d.i = Space(d.b, d.i) }

func (d *plainDecoder) value(p *Plan, v reflect.Value) bool {
	d.ws()
	switch p.kind {
	case reflect.String:
		s, ok := d.str()
		if ok {
			v.SetString(string(s))
		}
		return ok
	case reflect.Bool:
		switch {
		case d.word("true"):
			v.SetBool(true)
		case d.word("false"):
			v.SetBool(false)
		default:
			return false
		}
		return true
	case reflect.Int, reflect.Int64:
		n, isInt, ok := d.number()
		if !ok || !isInt {
			return false
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || v.OverflowInt(i) {
			return false
		}
		v.SetInt(i)
		return true
	case reflect.Float64:
		n, _, ok := d.number()
		if !ok {
			return false
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return false
		}
		v.SetFloat(f)
		return true
	case reflect.Slice:
		return d.slice(p, v)
	case reflect.Struct:
		return d.object(p, v)
	}
	return false
}

// str reads a string without escapes and returns its contents, which
// are valid UTF-8.
func (d *plainDecoder) str() ([]byte, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	st, problem := String(d.b, d.i, true)
	if problem != "" || st.Escaped {
		return nil, false
	}
	s := st.Contents(d.b, d.i)
	d.i = st.End
	return s, true
}

func (d *plainDecoder) word(w string) bool {
	if !Literal(d.b, d.i, w) {
		return false
	}
	d.i += len(w)
	return true
}

// number reads a number as JSON's grammar writes it and says whether it
// is written as an integer (no fraction, no exponent).
func (d *plainDecoder) number() ([]byte, bool, bool) {
	end, isInt, problem := Number(d.b, d.i)
	if problem != "" {
		return nil, false, false
	}
	n := d.b[d.i:end]
	d.i = end
	return n, isInt, true
}

func (d *plainDecoder) slice(p *Plan, v reflect.Value) bool {
	if d.i >= len(d.b) || d.b[d.i] != '[' {
		return false
	}
	d.i++
	s := reflect.MakeSlice(p.typ, 0, 0)
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		v.Set(s)
		return true
	}
	for {
		s = reflect.Append(s, reflect.Zero(p.elem.typ))
		if !d.value(p.elem, s.Index(s.Len()-1)) {
			return false
		}
		if more, ok := d.next(']'); !more {
			if ok {
				v.Set(s)
			}
			return ok
		}
	}
}

func (d *plainDecoder) object(p *Plan, v reflect.Value) bool {
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return false
	}
	d.i++
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return true
	}
	var seen uint64
	for {
		d.ws()
		key, ok := d.str()
		if !ok {
			return false
		}
		f := -1
		for k := range p.fields {
			if p.fields[k].name == string(key) {
				f = k
				break
			}
		}
		// An unknown name, or a known one twice: encoding/json matches
		// names without regard to case and merges repeated objects;
		// neither is plain.
		if f < 0 || seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return false
		}
		d.i++
		fp := &p.fields[f]
		if !d.value(fp.plan, v.Field(fp.index)) {
			return false
		}
		if more, ok := d.next('}'); !more {
			return ok
		}
	}
}

// next reads what follows an element of an array or object: a comma
// (more follows) or the closing bracket (ok, no more); anything else is
// neither.
func (d *plainDecoder) next(closing byte) (more, ok bool) {
	d.ws()
	if d.i >= len(d.b) {
		return false, false
	}
	switch d.b[d.i] {
	case ',':
		d.i++
		return true, true
	case closing:
		d.i++
		return false, true
	}
	return false, false
}
