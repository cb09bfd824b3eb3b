package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// An Upcaster reads the data of one version of a type as the next
// version's. It works on the JSON as stored, never on Go payload types,
// so that it keeps working when later versions rename them; it is given
// data that its version's schema accepted, and what it returns is held to
// the next version's schema.
type Upcaster func(data []byte) ([]byte, error)

// upcasters is the registry: one function per CloudEvents type that has a
// later version, to the version after it. Upcast composes them, so a v3
// needs one new function (v2 → v3), and every stored v1 reaches v3 by way
// of v2. An init check refuses a catalog version without its upcaster.
var upcasters = map[string]Upcaster{
	TypeOf("praktik.started", 1): upcastPraktikStartedV1,
	TypeOf("goal.set", 1):        upcastGoalSetV1,
}

// upcastPraktikStartedV1: "employer": "<cvr>" → "employer": {"cvr": "<cvr>"}.
func upcastPraktikStartedV1(data []byte) ([]byte, error) {
	return editObject(data, func(m map[string]json.RawMessage) error {
		cvr, ok := m["employer"]
		if !ok {
			return errors.New("no employer")
		}
		m["employer"] = append(append([]byte(`{"cvr":`), cvr...), '}')
		return nil
	})
}

// upcastGoalSetV1: "domain": "<d>" → "domains": ["<d>"].
func upcastGoalSetV1(data []byte) ([]byte, error) {
	return editObject(data, func(m map[string]json.RawMessage) error {
		d, ok := m["domain"]
		if !ok {
			return errors.New("no domain")
		}
		delete(m, "domain")
		m["domains"] = append(append([]byte{'['}, d...), ']')
		return nil
	})
}

// editObject decodes a JSON object's members, lets edit change them and
// writes the object again (members in name order, so the result is the
// same for the same input).
func editObject(data []byte, edit func(map[string]json.RawMessage) error) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("data is not a JSON object")
	}
	if err := edit(m); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// checkUpcasters holds the registry to the catalog: every version but the
// latest has an upcaster, and nothing else has one.
func checkUpcasters() {
	for _, s := range catalog {
		_, has := upcasters[s.Type()]
		switch {
		case !s.IsLatest() && !has:
			panic("events: no upcaster from " + s.Type() + " to version " + fmt.Sprint(s.Version+1))
		case s.IsLatest() && has:
			panic("events: an upcaster from " + s.Type() + ", the latest version")
		}
	}
	for typ := range upcasters {
		if _, ok := byType[typ]; !ok {
			panic("events: an upcaster from " + typ + ", which is no catalog type")
		}
	}
}

// UpcastData reads the data of an event stored as ceType as the latest
// version of its type: each upcaster of the chain in turn. It returns the
// latest version's Spec and data; data of a latest version is returned as
// it is.
func UpcastData(ceType string, data []byte) (Spec, []byte, error) {
	if _, ok := ByType(ceType); !ok {
		return Spec{}, nil, fmt.Errorf("%s is no type of the catalog", ceType)
	}
	typ, data, err := chain(ceType, data, catalogStep)
	if err != nil {
		return Spec{}, nil, err
	}
	spec, _ := ByType(typ)
	return spec, data, nil
}

// catalogStep is the catalog's next version of a type and its upcaster;
// false for the latest version.
func catalogStep(ceType string) (string, Upcaster, bool) {
	spec, _ := ByType(ceType)
	if spec.IsLatest() {
		return "", nil, false
	}
	return TypeOf(spec.Name, spec.Version+1), upcasters[ceType], true
}

// chain applies upcasters from ceType on, each to the result of the one
// before, until step says there is no later version. Every result is used:
// a chain v1 → v2 → v3 is the v2 → v3 upcaster applied to the v1 → v2 one's.
func chain(ceType string, data []byte, step func(string) (string, Upcaster, bool)) (string, []byte, error) {
	for {
		next, up, ok := step(ceType)
		if !ok {
			return ceType, data, nil
		}
		out, err := up(data)
		if err != nil {
			return "", nil, fmt.Errorf("upcast %s to %s: %w", ceType, next, err)
		}
		ceType, data = next, out
	}
}

// Upcast returns the envelope as the latest version of its type: its
// Event's type, dataschema and data, its Spec and its typed Data are the
// latest version's, and StoredType the type as stored. Every read path
// presents events this way (DecodeLatest, and the family fold), so that a
// reader knows one shape per type; what is stored is never changed, and
// the audit replay still returns the stored bytes. An envelope of a latest
// version is returned as it is. The upcast data is held to the latest
// version's schema and rules: an upcaster that writes something that
// version refuses is an error, not a silently odd read model.
func Upcast(env Envelope) (Envelope, error) {
	if env.Spec.newest == 1 {
		// The only version of its type: nothing to reconcile or upcast
		// (every read of an event asks, so this costs no look-up).
		return env, nil
	}
	if env.Data != nil {
		// The payload's Go type says which version it is, whatever
		// Spec an envelope made in code was given.
		if s, ok := SpecOf(env.Data); ok && s.Name == env.Spec.Name && s.Version != env.Spec.Version {
			env.Spec = s
		}
	}
	if env.Spec.Name == "" || env.Spec.IsLatest() {
		return env, nil
	}
	data := env.Event.Data()
	if len(data) == 0 && env.Data != nil {
		// An envelope made in code rather than read: its payload is
		// what there is to upcast.
		var err error
		if data, err = json.Marshal(env.Data); err != nil {
			return Envelope{}, &Error{Kind: KindInvalid, Detail: err.Error()}
		}
	}
	spec, data, err := UpcastData(env.Spec.Type(), data)
	if err != nil {
		return Envelope{}, &Error{Kind: KindInvalid, Detail: err.Error()}
	}
	var ps problems
	payload := validateData(&ps, spec, data, nil)
	if err := ps.err(); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Detail = fmt.Sprintf("%s read as %s: %s", env.Spec.Type(), spec.Type(), e.Detail)
		}
		return Envelope{}, err
	}
	if env.Event.Context == nil {
		return Envelope{Spec: spec, Department: env.Department, FamilyID: env.FamilyID, Data: payload,
			StoredType: env.Spec.Type(), source: env.source}, nil
	}
	ev := env.Event.Clone()
	ev.SetType(spec.Type())
	if env.Event.DataSchema() != "" {
		ev.SetDataSchema(spec.SchemaURL())
	}
	ev.DataEncoded = data
	stored := env.StoredType
	if stored == "" {
		stored = env.Spec.Type()
	}
	return Envelope{Event: ev, Spec: spec, Department: env.Department, FamilyID: env.FamilyID, Data: payload,
		StoredType: stored, source: env.source}, nil
}

// DecodeLatest is DecodeStored, then Upcast: a stored event as the latest
// version of its type. Every reader of the stream that presents events
// (the read model's apply, rebuild, verify and as-of, the evaluation)
// decodes with it; only the audit replay of stored bytes and ingest's
// index of what was stored use DecodeStored alone.
func DecodeLatest(subject string, data []byte, recorded time.Time) (Envelope, error) {
	env, err := DecodeStored(subject, data, recorded)
	if err != nil {
		return Envelope{}, err
	}
	return Upcast(env)
}

// UnknownVersion says, for a CloudEvents type outside the catalog that
// names a version of a catalog type, which versions this build knows; ""
// for any other type.
func UnknownVersion(ceType string) string {
	name, v, ok := splitType(ceType)
	if !ok {
		return ""
	}
	vs := Versions(name)
	if len(vs) == 0 || slices.ContainsFunc(vs, func(s Spec) bool { return s.Version == v }) {
		return ""
	}
	return fmt.Sprintf("version %d of %s is not known to this build, which knows versions 1 to %d", v, name, len(vs))
}

// splitType splits a CloudEvents type of the catalog's form into its name
// and version: "dk.kk.jobogfamilie.goal.set.v3" is goal.set, 3.
func splitType(ceType string) (string, int, bool) {
	rest, ok := strings.CutPrefix(ceType, TypePrefix)
	i := strings.LastIndex(rest, VersionSeparator)
	if !ok || i <= 0 {
		return "", 0, false
	}
	digits := rest[i+len(VersionSeparator):]
	// A version is written in decimal digits alone, without a leading
	// zero: "v+3" and "v03" name no version.
	if digits == "" || digits[0] == '0' || strings.TrimLeft(digits, "0123456789") != "" {
		return "", 0, false
	}
	v, err := strconv.Atoi(digits)
	if err != nil {
		return "", 0, false
	}
	return rest[:i], v, true
}

// UpcastPayload is a payload as the latest version of its type (p itself
// when it is of the latest version): for code that holds payloads rather
// than envelopes, such as a fold fed from the read model's rows.
func UpcastPayload(p Payload) (Payload, error) {
	spec, ok := SpecOf(p)
	if !ok {
		return nil, fmt.Errorf("%T is no payload type of the catalog", p)
	}
	if spec.IsLatest() {
		return p, nil
	}
	data, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	latest, data, err := UpcastData(spec.Type(), data)
	if err != nil {
		return nil, err
	}
	return latest.DecodeData(data)
}
