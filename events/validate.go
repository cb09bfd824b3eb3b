package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"kk.dk/jobogfamilie/schemas"

	"kk.dk/jobogfamilie/events/internal/fastschema"
	"kk.dk/jobogfamilie/events/internal/jsonscan"
)

const (
	// MaxIDLength is the longest event id accepted.
	MaxIDLength = 128
	// MaxFuture is how far ahead of the clock an event's time may lie: clocks
	// of department systems drift, but an event cannot have happened
	// tomorrow.
	MaxFuture = 24 * time.Hour
)

// minTime is the earliest event time accepted: backfill reaches years back,
// but an earlier time is a default value or a typo, not a fact.
var minTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

// sourceDepartment reads a source of the form /departments/<dept>, with an
// optional system name so that a department running several systems can
// tell them apart: /departments/<dept>/<system>, the system matching
// IDPattern. It returns <dept> unchecked (any text without a slash). It is
// the pattern ^/departments/([^/]*)(?:/([A-Za-z0-9_-]{1,64}))?$ written
// out, which tests fuzz it against.
func sourceDepartment(src string) (string, bool) {
	rest, ok := strings.CutPrefix(src, "/departments/")
	if !ok {
		return "", false
	}
	dept, system, hasSystem := strings.Cut(rest, "/")
	if hasSystem && !idShaped(system) {
		return "", false
	}
	return dept, true
}

// SourceDepartment returns the department a CloudEvent source names, and
// whether it names one of the catalog's; the system part is not checked
// (Validate does that). Ingest uses it to refuse another department's
// events before it looks at anything else.
func SourceDepartment(src string) (Department, bool) {
	rest, ok := strings.CutPrefix(src, "/departments/")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, "/")
	return ParseDepartment(name)
}

// Validator applies the catalog rules to CloudEvents. Its zero value is
// ready to use; Now exists so that tests can fix the clock.
type Validator struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

var defaultValidator Validator

// Validate applies every rule of the catalog to a parsed CloudEvent: the
// attributes (id, source, type, subject, time, datacontenttype,
// dataschema), the data against the type's JSON Schema, and the rules the
// schema cannot express. It reports every problem it finds, not only the
// first. On success the Envelope carries the typed payload. Whether the
// sending department owns the type is not checked here: that depends on who
// sends, which only ingest knows.
func Validate(ev cloudevents.Event) (Envelope, error) { return defaultValidator.Validate(ev) }

// Decode reads a stored event into an Envelope. It is Validate under another
// name, so that the projector reads events by exactly the rules ingest
// accepted them by; anything published to the stream directly is held to
// the same rules.
func Decode(ev cloudevents.Event) (Envelope, error) { return defaultValidator.Validate(ev) }

// ValidateBatch validates the events of a batch and reports the problems of
// all of them, each pointer prefixed with the event's index ("/3/time").
func ValidateBatch(evs []cloudevents.Event) ([]Envelope, error) {
	return defaultValidator.ValidateBatch(evs)
}

// ValidateBatch is the package function ValidateBatch with this validator's
// clock.
func (v Validator) ValidateBatch(evs []cloudevents.Event) ([]Envelope, error) {
	envs := make([]Envelope, len(evs))
	out := &Error{Kind: KindInvalid}
	for i, ev := range evs {
		env, err := v.Validate(ev)
		if err == nil {
			envs[i] = env
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Kind: KindInvalid, Problems: []Problem{{Detail: err.Error()}}}
		}
		if e.Kind == KindMalformed {
			out.Kind = KindMalformed
		}
		prefix := "/" + strconv.Itoa(i)
		if len(e.Problems) == 0 {
			out.Problems = append(out.Problems, Problem{prefix, e.Detail})
		}
		for _, p := range e.Problems {
			out.Problems = append(out.Problems, Problem{prefix + p.Pointer, p.Detail})
		}
	}
	if out.Problems == nil {
		return envs, nil
	}
	out.Detail = detailFor(out.Kind)
	return nil, out
}

// problems collects the findings of one validation with the kind each
// implies; the error takes the gravest.
type problems struct {
	malformed bool
	list      []Problem
}

func (p *problems) add(k Kind, ptr, detail string) {
	if k == KindMalformed {
		p.malformed = true
	}
	p.list = append(p.list, Problem{ptr, detail})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	k := KindInvalid
	if p.malformed {
		k = KindMalformed
	}
	list := slices.DeleteFunc(slices.Clone(p.list), func(pr Problem) bool {
		// A pointer through a member name that holds a CPR number would
		// repeat it; the content rules report such a name at its parent.
		return ContainsCPR(pr.Pointer)
	})
	// Schema causes come in map order; sort so that the same event always
	// gets the same answer.
	slices.SortFunc(list, func(a, b Problem) int {
		if c := strings.Compare(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		return strings.Compare(a.Detail, b.Detail)
	})
	list = slices.Compact(list)
	return &Error{Kind: k, Detail: detailFor(k), Problems: list}
}

func detailFor(k Kind) string {
	if k == KindMalformed {
		return "malformed CloudEvent"
	}
	return "the event breaks the rules of the catalog"
}

// ReservedExtensionPrefix starts the names of extension attributes that no
// event may carry: the audit replay adds its own (jfsequence, jfrecordedat)
// to the stored events.
const ReservedExtensionPrefix = "jf"

// Validate is the package function Validate with this validator's clock.
func (v Validator) Validate(ev cloudevents.Event) (Envelope, error) { return v.validate(ev, nil) }

// validate is Validate. parsed, when not nil, holds the string attributes
// ParseStructured assembled ev from, so that DecodeStored does not pay
// twice for what parsing did already: the data was held to checkJSON with
// the whole document, and source and dataschema are the strings the SDK
// would write afresh from its parsed URLs on every call (assemble accepts
// only URIs that the SDK writes back as they were sent).
func (v Validator) validate(ev cloudevents.Event, parsed *attrSet) (Envelope, error) {
	var ps problems
	if ev.Context == nil {
		ps.add(KindMalformed, "", "not a CloudEvent: no attributes")
		return Envelope{}, ps.err()
	}
	refused := map[string]bool{}
	for _, p := range fieldErrors("", ev) {
		ps.add(KindMalformed, p.Pointer, p.Detail)
		refused[strings.TrimPrefix(p.Pointer, "/")] = true
	}
	for name := range ev.Extensions() {
		// The names parsing refuses, for an event built in code: the
		// SDK's SetExtension takes data, schemaurl and names of any
		// length. A name that holds a CPR number or a control character
		// is reported by checkAttrContent, without repeating it.
		if detail := extensionNameProblem(name); detail != "" && attrProblem(name) == "" {
			ps.add(KindMalformed, "/"+jsonscan.EscapeToken(name), detail)
		}
		// Replay lines add attributes named jf… (jfsequence, jfrecordedat).
		if strings.HasPrefix(name, ReservedExtensionPrefix) {
			ps.add(KindInvalid, "/"+name, "reserved: attributes named "+ReservedExtensionPrefix+"… are added by the audit replay")
		}
	}
	// present says whether a required attribute is there to check. One the
	// SDK refused is reported already; an empty one is how the SDK holds an
	// attribute that was never set.
	present := func(name, value string) bool {
		if refused[name] {
			return false
		}
		if value == "" {
			ps.add(KindMalformed, "/"+name, "required attribute missing")
			return false
		}
		return true
	}

	if sv := ev.SpecVersion(); sv != cloudevents.VersionV1 && !refused[attrSpecVersion] {
		ps.add(KindMalformed, "/"+attrSpecVersion, "must be \"1.0\"")
	}
	var src, schema string
	if parsed != nil {
		src, _ = parsed.get(attrSource)
		schema, _ = parsed.get(attrDataSchema)
	} else {
		src, schema = ev.Source(), ev.DataSchema()
	}
	// What an attribute holds comes first: one that holds a CPR number or
	// a control character gets no other check, whose message might repeat
	// it.
	for name := range checkAttrContent(&ps, ev, src, schema) {
		refused[name] = true
	}
	if id := ev.ID(); present(attrID, id) {
		if detail := checkEventID(id); detail != "" {
			ps.add(KindInvalid, "/"+attrID, detail)
		}
	}
	var dept Department
	if present(attrSource, src) {
		if name, ok := sourceDepartment(src); !ok {
			ps.add(KindInvalid, "/"+attrSource, "must be /departments/<dept> or /departments/<dept>/<system>")
		} else if d, ok := parseEmitter(name); !ok {
			ps.add(KindInvalid, "/"+attrSource, fmt.Sprintf("unknown department %q; one of %s", name, DepartmentCodes))
		} else {
			dept = d
		}
	}
	var spec Spec
	var known bool
	if typ := ev.Type(); present(attrType, typ) {
		if spec, known = ByType(typ); !known {
			detail := "not an event type of the catalog"
			if why := UnknownVersion(typ); why != "" {
				detail += ": " + why
			}
			ps.add(KindInvalid, "/"+attrType, detail)
		}
	}
	if sub := ev.Subject(); present(attrSubject, sub) {
		switch {
		case cprShaped(sub):
			ps.add(KindInvalid, "/"+attrSubject, detailCPRShape)
		case !ValidID(sub):
			ps.add(KindInvalid, "/"+attrSubject, "must be a familyId matching "+IDPattern)
		}
	}
	if t := ev.Time(); t.IsZero() {
		if !refused[attrTime] {
			ps.add(KindMalformed, "/"+attrTime, "required attribute missing")
		}
	} else {
		now := time.Now
		if v.Now != nil {
			now = v.Now
		}
		switch {
		case t.Before(minTime):
			ps.add(KindInvalid, "/"+attrTime, "must not be before "+minTime.Format(time.DateOnly))
		case t.After(now().Add(MaxFuture)):
			ps.add(KindInvalid, "/"+attrTime, "must not be more than 24 hours in the future")
		}
	}
	if ct := ev.DataContentType(); ct != "" && !isJSONContentType(ct) {
		ps.add(KindMalformed, "/"+attrDataContentType, "must be application/json")
	}
	// A client that names another schema than the one its data is checked
	// against is out of step with the catalog; better to say so than to
	// store an event that claims to follow a schema it was never held to.
	if schema != "" && known && schema != spec.SchemaURL() && !refused[attrDataSchema] {
		ps.add(KindInvalid, "/"+attrDataSchema, "must be "+spec.SchemaURL()+" or absent")
	}

	var data Payload
	switch raw := ev.Data(); {
	case ev.DataBase64:
		ps.add(KindMalformed, "/"+attrDataBase64, "data_base64 is not accepted: send data as a JSON object")
	case len(raw) == 0:
		ps.add(KindMalformed, "/"+attrData, "required: the event's data as a JSON object")
	default:
		if dps := checkData(raw, parsed != nil); len(dps) > 0 {
			for _, p := range dps {
				ps.add(KindMalformed, p.Pointer, p.Detail)
			}
			break
		}
		if jsonscan.FirstByte(raw) != '{' {
			ps.add(KindMalformed, "/"+attrData, "must be a JSON object")
			break
		}
		var said map[string]bool
		for _, p := range checkDataContent(raw, "/"+attrData) {
			ps.add(KindInvalid, p.Pointer, p.Detail)
			if said == nil {
				said = map[string]bool{}
			}
			said[p.Pointer] = true
		}
		if known {
			data = validateData(&ps, spec, raw, said)
		}
	}

	if err := ps.err(); err != nil {
		return Envelope{}, err
	}
	return Envelope{Event: ev, Spec: spec, Department: dept, FamilyID: ev.Subject(), Data: data, source: src}, nil
}

// checkEventID returns why id is not acceptable, or "". Ids are printable
// ASCII so that they are safe as the Nats-Msg-Id header and in logs.
func checkEventID(id string) string {
	if len(id) > MaxIDLength {
		return fmt.Sprintf("must be at most %d characters", MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return "must be printable ASCII without spaces"
		}
	}
	return ""
}

// validateData checks raw against the type's schema, decodes it into the
// typed payload and applies the Go-level rules. The schema's findings at a
// pointer in said (refused by the content rules already) are left out.
func validateData(ps *problems, spec Spec, raw []byte, said map[string]bool) Payload {
	cs := spec.compiledEntry()
	if cs.err != nil {
		ps.add(KindInvalid, "/"+attrType, cs.err.Error())
		return nil
	}
	// The fast path proves most data valid at a fraction of jsonschema's
	// cost; whatever it is not sure of, jsonschema decides and explains.
	schemaOK := cs.fast != nil && cs.fast.Valid(raw)
	if schemaOK && fastPathCheck != nil {
		fastPathCheck(spec.Type(), raw)
	}
	if !schemaOK {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			ps.add(KindMalformed, "/"+attrData, "must be a JSON object")
			return nil
		}
		schemaOK = true
		if err := cs.sch.Validate(inst); err != nil {
			schemaOK = false
			var ve *jsonschema.ValidationError
			if !errors.As(err, &ve) {
				ps.add(KindInvalid, "/"+attrData, err.Error())
			} else {
				for _, p := range schemaProblems(ve, inst) {
					if !said[p.Pointer] {
						ps.add(KindInvalid, p.Pointer, p.Detail)
					}
				}
			}
		}
	}
	// Catalog payloads are plain JSON, which decodePlain reads as
	// encoding/json would, at a fraction of the cost; anything else is
	// decoded afresh by encoding/json, which also explains what is wrong.
	data := spec.NewData()
	if !spec.decodePlain(raw, data) {
		data = spec.NewData()
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(data); err != nil {
			// The schema already explains every value it refused; only
			// say more when the schema let the value through.
			if schemaOK {
				ptr, detail := decodeProblem(err)
				ps.add(KindInvalid, ptr, detail)
			}
			return nil
		}
	}
	// The cross-field rules assume data the schema accepted (dates that
	// parse, members that are there); on anything else they would only
	// repeat the schema's findings in other words.
	if schemaOK {
		for _, p := range dataRules(data) {
			ps.add(KindInvalid, p.Pointer, p.Detail)
		}
	}
	return data
}

// checkData holds an event's data to checkJSON, unless it was already
// (inside a structured event the whole document is; data sits one level
// inside it, hence MaxDepth-1).
func checkData(raw []byte, checked bool) []Problem {
	if checked {
		return nil
	}
	return checkJSON(raw, "/"+attrData, MaxDepth-1)
}

// decodeProblem turns an encoding/json error into a pointer and detail.
func decodeProblem(err error) (string, string) {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		ptr := "/" + attrData
		if ute.Field != "" {
			for _, seg := range strings.Split(ute.Field, ".") {
				ptr += "/" + jsonscan.EscapeToken(seg)
			}
		}
		if ute.Value == "number" || strings.HasPrefix(ute.Value, "number ") {
			return ptr, "must be a number that fits a " + ute.Type.String() + "; write integers without fraction or exponent"
		}
		return ptr, "must be a JSON " + ute.Type.String()
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if s, err := strconv.Unquote(name); err == nil {
			return "/" + attrData + "/" + jsonscan.EscapeToken(s), "is not a field of this event type"
		}
	}
	return "/" + attrData, "cannot be read as this event type: " + strings.TrimPrefix(err.Error(), "json: ")
}

// compiled is one schema, compiled on first use.
type compiled struct {
	once sync.Once
	sch  *jsonschema.Schema
	err  error
	// fast is the schema's fast path (see events/internal/fastschema), or nil when the
	// schema uses something the fast path does not handle; fastErr says
	// what.
	fast    *fastschema.Schema
	fastErr error
}

var schemaCache sync.Map // CloudEvents type → *compiled

// fastPathCheck, when set (by tests), is called with every data the fast
// path found valid, before jsonschema is skipped.
var fastPathCheck func(ceType string, raw []byte)

// compiledSchema returns the compiled schema of a type.
func compiledSchema(ceType string) (*jsonschema.Schema, error) {
	cs := compiledEntry(ceType)
	return cs.sch, cs.err
}

// compiledEntry returns the compiled schema of a type with its fast path.
// Compiling is far slower than validating, so each schema is compiled once
// per process; sync.Once makes concurrent first uses wait for one
// compilation.
func compiledEntry(ceType string) *compiled {
	c, ok := schemaCache.Load(ceType)
	if !ok {
		c, _ = schemaCache.LoadOrStore(ceType, &compiled{})
	}
	cs := c.(*compiled)
	cs.once.Do(func() {
		cs.sch, cs.err = compileSchema(ceType)
		if cs.err != nil {
			return
		}
		// The same bytes the embedded loader gives jsonschema.
		raw, _ := schemas.Lookup(ceType)
		cs.fast, cs.fastErr = fastschema.Compile(raw, patternMatchers)
	})
	return cs
}

// compiledEntry is compiledEntry(s.Type()), which a catalog Spec keeps
// once it has it. The entry is still made in schemaCache, so that the
// first uses of a type share one compilation however they look it up.
func (s Spec) compiledEntry() *compiled {
	if s.cache == nil {
		return compiledEntry(s.Type())
	}
	cs := s.cache.compiled.Load()
	if cs == nil {
		cs = compiledEntry(s.Type())
		s.cache.compiled.Store(cs)
	}
	return cs
}

func compileSchema(ceType string) (*jsonschema.Schema, error) {
	if _, ok := schemas.Lookup(ceType); !ok {
		return nil, fmt.Errorf("no JSON Schema for type %s", ceType)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(embeddedLoader{})
	sch, err := c.Compile(SchemaBaseURL + ceType + ".json")
	if err != nil {
		return nil, fmt.Errorf("the JSON Schema of type %s does not compile: %v", ceType, err)
	}
	return sch, nil
}

// embeddedLoader resolves schema URLs from the embedded schema files only:
// validation must never reach the network or the file system, and a schema
// may $ref another one published next to it.
type embeddedLoader struct{}

func (embeddedLoader) Load(url string) (any, error) {
	name, ok := strings.CutPrefix(url, SchemaBaseURL)
	if !ok || !fs.ValidPath(name) {
		return nil, fmt.Errorf("%s is not an embedded schema", url)
	}
	f, err := schemas.FS().Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return jsonschema.UnmarshalJSON(f)
}

var english = message.NewPrinter(language.English)

// schemaProblems flattens a validation error to its leaves, the failures
// that say what is wrong with a value; the inner nodes only say "failed".
func schemaProblems(ve *jsonschema.ValidationError, inst any) []Problem {
	if len(ve.Causes) > 0 {
		var ps []Problem
		for _, c := range ve.Causes {
			ps = append(ps, schemaProblems(c, inst)...)
		}
		return ps
	}
	ptr := "/" + attrData
	for _, seg := range ve.InstanceLocation {
		ptr += "/" + jsonscan.EscapeToken(seg)
	}
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		// Point at the missing member, where a form would show the error.
		ps := make([]Problem, 0, len(k.Missing))
		for _, m := range k.Missing {
			ps = append(ps, Problem{ptr + "/" + jsonscan.EscapeToken(m), "required"})
		}
		return ps
	case *kind.AdditionalProperties:
		ps := make([]Problem, 0, len(k.Properties))
		for _, m := range k.Properties {
			ps = append(ps, Problem{ptr + "/" + jsonscan.EscapeToken(m), "is not a field of this event type"})
		}
		return ps
	}
	return []Problem{{ptr, leafDetail(ve.ErrorKind, instanceAt(inst, ve.InstanceLocation))}}
}

// leafDetail words one schema failure for a client. Values are not echoed:
// a refused value may be a CPR number or other personal data that should
// not travel on into logs.
func leafDetail(k jsonschema.ErrorKind, value any) string {
	switch k := k.(type) {
	case *kind.Not:
		// The schemas use "not" to keep CPR numbers out of ids and text.
		if s, ok := value.(string); ok {
			if LooksLikeCPR(s) || cprShaped(s) {
				return detailCPRShape
			}
			if ContainsCPR(s) {
				return "contains what looks like a CPR number; CPR numbers must not be stored"
			}
		}
		return "has a form this field does not allow"
	case *kind.Type:
		return fmt.Sprintf("must be of type %s, not %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Pattern:
		return "must match the pattern " + k.Want
	case *kind.Format:
		if k.Want == "date" {
			return "must be a valid date, YYYY-MM-DD"
		}
		return "must be a valid " + k.Want
	case *kind.Minimum:
		return "must be at least " + ratString(k.Want)
	case *kind.Maximum:
		return "must be at most " + ratString(k.Want)
	case *kind.ExclusiveMinimum:
		return "must be greater than " + ratString(k.Want)
	case *kind.ExclusiveMaximum:
		return "must be less than " + ratString(k.Want)
	case *kind.MinLength:
		if k.Want == 1 {
			return "must not be empty"
		}
		return fmt.Sprintf("must be at least %d characters long", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters long", k.Want)
	case *kind.MinItems:
		return fmt.Sprintf("must have at least %d item(s)", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("must have at most %d items", k.Want)
	case *kind.FalseSchema:
		return "is not allowed here"
	}
	return k.LocalizedString(english)
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// instanceAt follows a schema error's instance location into the decoded
// data.
func instanceAt(v any, loc []string) any {
	for _, seg := range loc {
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// dataRules are the rules of the catalog that relate fields to each other,
// which JSON Schema cannot express.
func dataRules(p Payload) []Problem {
	var ps []Problem
	switch d := p.(type) {
	case *SchoolAbsenceNoted:
		start, err1 := time.Parse(time.DateOnly, d.PeriodStart)
		end, err2 := time.Parse(time.DateOnly, d.PeriodEnd)
		if err1 == nil && err2 == nil && end.Before(start) {
			ps = append(ps, Problem{"/data/periodEnd", "must not be before periodStart"})
		}
		if absentExceeds(d.AbsentDays, d.SchoolDays) {
			ps = append(ps, Problem{"/data/absentDays", "sickness + authorised + unauthorised must not exceed schoolDays"})
		}
	case *MakkerparAssigned:
		if d.JobConsultantID != "" && d.JobConsultantID == d.FamilyWorkerID {
			ps = append(ps, Problem{"/data/familyWorkerId", "must differ from jobConsultantId: a makkerpar is two people"})
		}
	case *FamilyEnrolled:
		// At least one parent and one child is the catalog's invariant
		// (409), which family.Check enforces; here only the shape.
		roles := map[string]string{}
		for i, m := range d.Members {
			if _, dup := roles[m.PersonID]; dup {
				ps = append(ps, Problem{fmt.Sprintf("/data/members/%d/personId", i), "the same person is listed twice"})
				continue
			}
			roles[m.PersonID] = m.Role
		}
		for i, b := range d.ParentBenefits {
			if roles[b.PersonID] != RoleParent {
				ps = append(ps, Problem{fmt.Sprintf("/data/parentBenefits/%d/personId", i), "must be the personId of a parent among the members"})
			}
		}
	}
	return ps
}

// absentExceeds reports whether the absent days add up to more than the
// school days, without the sum overflowing. Negative counts are the
// schema's to refuse.
func absentExceeds(a AbsentDays, schoolDays int) bool {
	if a.Sickness < 0 || a.Authorised < 0 || a.Unauthorised < 0 {
		return false
	}
	sum := 0
	for _, n := range []int{a.Sickness, a.Authorised, a.Unauthorised} {
		if n > math.MaxInt-sum {
			return true
		}
		sum += n
	}
	return sum > schoolDays
}
