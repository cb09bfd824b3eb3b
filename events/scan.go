package events

import (
	"encoding/json"
	"reflect"

	"kk.dk/jobogfamilie/events/internal/jsonscan"
)

// checkJSON is jsonscan.Check with this package's Problem.
func checkJSON(b []byte, base string, limit int) []Problem {
	return problemsOf(jsonscan.Check(b, base, limit))
}

// problemsOf converts the scanner's problems, which are rare: nil stays nil.
func problemsOf(ps []jsonscan.Problem) []Problem {
	if ps == nil {
		return nil
	}
	out := make([]Problem, len(ps))
	for i, p := range ps {
		out[i] = Problem(p)
	}
	return out
}

// decodePlain is jsonscan.DecodePlain for v, a payload of this type, with
// the plan that the Spec keeps once it has it.
func (s Spec) decodePlain(data []byte, v Payload) bool {
	if s.cache == nil {
		return jsonscan.DecodePlain(data, v)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	p := s.cache.plan.Load()
	if p == nil || p.Type() != rv.Type().Elem() {
		if p = jsonscan.PlanFor(rv.Type().Elem()); p == nil {
			return false
		}
		s.cache.plan.Store(p)
	}
	return jsonscan.DecodeByPlan(p, data, rv.Elem())
}

// DecodeData decodes the data of a stored event of this type into its Go
// type, as json.Unmarshal does, without the schema check: for data that was
// validated when it was stored (the read model's rows), which is plain and
// takes the plain decoder's way.
func (s Spec) DecodeData(data []byte) (Payload, error) {
	p := s.NewData()
	if s.decodePlain(data, p) {
		return p, nil
	}
	p = s.NewData()
	if err := json.Unmarshal(data, p); err != nil {
		return nil, err
	}
	return p, nil
}

// ScanStored validates a stored message b as json.Valid does and, when it
// is a JSON object, calls member with each of its top-level members: the
// name (unescaped) and the value as written. It reports whether b is valid
// JSON and whether it is an object. It is for readers of the stream that
// splice stored messages into their output without decoding them (the
// audit replay), at a fraction of the cost of json.Valid and a decode.
func ScanStored(b []byte, member func(name, value []byte)) (valid, object bool) {
	return jsonscan.Shape(b, member)
}
