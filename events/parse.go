package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"

	"kk.dk/jobogfamilie/events/internal/jsonscan"
)

const (
	// MaxDepth is how deeply a structured CloudEvent may nest objects and
	// arrays, the event object itself counting as one level. The payloads of
	// the catalog need four; the limit keeps hostile input from costing
	// stack and time in the decoders and the schema validator.
	MaxDepth = 32
	// MaxBatch is the most events one application/cloudevents-batch+json
	// request may carry.
	MaxBatch = 500
	// maxExtensionLength bounds the string value of an extension attribute,
	// which no rule of the catalog looks at and so must not carry payloads.
	maxExtensionLength = 1024
)

// The CloudEvents attributes with a meaning of their own; every other
// top-level member is an extension.
const (
	attrSpecVersion     = "specversion"
	attrID              = "id"
	attrSource          = "source"
	attrType            = "type"
	attrSubject         = "subject"
	attrTime            = "time"
	attrDataContentType = "datacontenttype"
	attrDataSchema      = "dataschema"
	attrData            = "data"
	attrDataBase64      = "data_base64"
)

// requiredAttrs are required by this catalog; CloudEvents itself leaves
// subject and time optional, but a family event without them has no meaning.
var requiredAttrs = []string{attrSpecVersion, attrID, attrSource, attrType, attrSubject, attrTime}

// extensionName is the CloudEvents 1.0 rule for extension attribute names.
var extensionName = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// rfc3339Shape is the RFC 3339 form time.Parse is held to: it also takes a
// one-digit hour, a comma before the fraction, offsets beyond ±23:59 and
// more than nine fraction digits (which it silently drops). It accepts
// what `^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
// matches, without a regular expression: every stored event's time goes
// through it. RFC 3339 (section 5.6) allows "t" and "z" for "T" and "Z",
// which time.Parse does not: upperTime makes them upper case for it.
func rfc3339Shape(v string) bool {
	if len(v) < 20 || !dateShaped(v[:10]) || (v[10] != 'T' && v[10] != 't') || !digits(v[11:13]) || v[13] != ':' || !digits(v[14:16]) || v[16] != ':' || !digits(v[17:19]) {
		return false
	}
	rest := v[19:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 || n > 10 {
			return false
		}
		rest = rest[n:]
	}
	if rest == "Z" || rest == "z" {
		return true
	}
	return len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && digits(rest[1:3]) && rest[3] == ':' && digits(rest[4:6]) &&
		(rest[1] <= '1' || (rest[1] == '2' && rest[2] <= '3')) && rest[4] <= '5'
}

// upperTime is v, which rfc3339Shape accepts, with "t" and "z" in upper
// case: the form time.Parse reads. (A stored event's time is written again
// from the instant, in UTC with "T" and "Z", so an event sent with either
// has one content hash and is stored alike.)
func upperTime(v string) string {
	if v[10] == 'T' && v[len(v)-1] != 'z' {
		return v
	}
	return strings.ToUpper(v)
}

// compactJSON reports whether the valid JSON document b has no white
// space outside its strings, so that json.Compact would return it as it is.
func compactJSON(b []byte) bool {
	in := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return true
}

// simplePath reports whether s is a path that url.Parse reads and String
// writes back unchanged: a slash, then unreserved characters and slashes,
// not two slashes first (which would start an authority).
func simplePath(s string) bool {
	if len(s) == 0 || s[0] != '/' || (len(s) > 1 && s[1] == '/') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

// contentTypeJSON is what datacontenttype is set to on every parsed event, so
// that stored events say the same thing however the client spelled it.
const contentTypeJSON = "application/json"

// ParseStructured strictly parses one CloudEvent in structured mode
// (application/cloudevents+json). It checks the form of the event: JSON
// syntax, UTF-8, duplicate members, nesting depth, attribute JSON types, the
// required attributes and that data is a JSON object. It does not apply the
// catalog rules; call Validate for those. Every error is an *Error of
// KindMalformed, or of KindInvalid when all it found is an attribute or an
// extension (its name or its value) that holds a CPR number or a control
// character (the content rules, which Validate applies too).
func ParseStructured(b []byte) (cloudevents.Event, error) {
	var attrs attrSet
	return parseStructured(b, &attrs)
}

// parseStructured is ParseStructured that also leaves the string
// attributes the event was assembled from in attrs, for validate.
func parseStructured(b []byte, attrs *attrSet) (cloudevents.Event, error) {
	return parseOpening(b, attrs, nil)
}

// parseOpening is parseStructured that, when op is not nil, has op open
// the data of an event that carries op's extension (see opening). An
// error of op's Open is returned as it is.
func parseOpening(b []byte, attrs *attrSet, op *opening) (cloudevents.Event, error) {
	var c jsonscan.Checker
	sps, members := jsonscan.CheckMembers(&c, b, "", MaxDepth)
	if len(sps) > 0 {
		return cloudevents.Event{}, malformed(problemsOf(sps))
	}
	ev, ps, err := parseMembers(members, "", attrs, op)
	if err != nil {
		return cloudevents.Event{}, err
	}
	if len(ps) > 0 {
		return cloudevents.Event{}, malformed(ps)
	}
	return ev, nil
}

// ParseBatch strictly parses an application/cloudevents-batch+json body: a
// JSON array of 1 to MaxBatch structured CloudEvents, each held to the rules
// of ParseStructured. Problems name the event by its index ("/3/data/x"), and
// the problems of every event are reported, so that a client can fix a batch
// in one round trip.
func ParseBatch(b []byte) ([]cloudevents.Event, error) {
	// One more level than a single event: the array holds the events.
	sps, members := jsonscan.CheckElements(b, "", MaxDepth+1)
	if len(sps) > 0 {
		return nil, malformed(problemsOf(sps))
	}
	if jsonscan.FirstByte(b) != '[' {
		return nil, malformed([]Problem{{Pointer: "", Detail: "a batch must be a JSON array of CloudEvents"}})
	}
	switch {
	case len(members) == 0:
		return nil, malformed([]Problem{{Pointer: "", Detail: "a batch must hold at least one event"}})
	case len(members) > MaxBatch:
		return nil, malformed([]Problem{{Pointer: "", Detail: fmt.Sprintf("a batch holds at most %d events, not %d", MaxBatch, len(members))}})
	}
	evs := make([]cloudevents.Event, len(members))
	var all []Problem
	for i := range members {
		var attrs attrSet
		ev, ps, _ := parseMembers(members[i], "/"+strconv.Itoa(i), &attrs, nil)
		evs[i] = ev
		all = append(all, ps...)
	}
	if len(all) > 0 {
		return nil, malformed(all)
	}
	return evs, nil
}

// Head is what says who may send an event: its type and its source, as
// sent, each empty when it is missing or not a JSON string.
type Head struct {
	Type, Source string
}

// Heads reads the type and source of the events of a structured body, or
// of a batch body (batch), once the body is readable: JSON that passes the
// checks of ParseStructured or ParseBatch that apply to the whole document
// (syntax, UTF-8, duplicate members, nesting depth), a batch an array. ok
// is false when it is not readable. An element that is not an object has an
// empty Head. Nothing else of the events is looked at: ingest asks it
// whether the sender may send the events of a body that does not parse,
// so that a department learns nothing of another one's events.
func Heads(b []byte, batch bool) (heads []Head, ok bool) {
	if batch {
		sps, elements := jsonscan.CheckElements(b, "", MaxDepth+1)
		if len(sps) > 0 || jsonscan.FirstByte(b) != '[' {
			return nil, false
		}
		heads = make([]Head, len(elements))
		for i, members := range elements {
			heads[i] = headOf(members)
		}
		return heads, true
	}
	var c jsonscan.Checker
	sps, members := jsonscan.CheckMembers(&c, b, "", MaxDepth)
	if len(sps) > 0 {
		return nil, false
	}
	return []Head{headOf(members)}, true
}

// BinaryHead is Heads for an event in HTTP binary mode: ce-type and
// ce-source, each when it appears once and is percent-encoded UTF-8, as
// FromBinary reads them. The body is not looked at.
func BinaryHead(h http.Header) Head {
	var head Head
	var n [2]int
	for k, vs := range h {
		var dst *string
		var i int
		switch strings.ToLower(k) {
		case "ce-" + attrType:
			dst, i = &head.Type, 0
		case "ce-" + attrSource:
			dst, i = &head.Source, 1
		default:
			continue
		}
		n[i] += len(vs)
		if len(vs) == 1 {
			if v, err := url.PathUnescape(vs[0]); err == nil && utf8.ValidString(v) {
				*dst = v
			}
		}
	}
	if n[0] != 1 {
		head.Type = ""
	}
	if n[1] != 1 {
		head.Source = ""
	}
	return head
}

func headOf(members []jsonscan.Member) Head {
	var h Head
	for _, m := range members {
		switch m.Name {
		case attrType:
			h.Type, _ = jsonString(m.Raw)
		case attrSource:
			h.Source, _ = jsonString(m.Raw)
		}
	}
	return h
}

// FromBinary reads a CloudEvent in HTTP binary mode: the attributes in ce-*
// headers (percent-encoded as the HTTP binding says), the data as an
// application/json body held to the same rules as data in structured mode.
// Problems use the pointers of the structured form ("/id", "/data/x"), so
// that clients see the same errors whichever mode they use.
func FromBinary(h http.Header, body []byte) (cloudevents.Event, error) {
	var ps []Problem
	var attrs attrSet
	exts := map[string]any{}
	var contentTypes []string
	// Walk every key rather than using h.Get: a hand-built header map may
	// hold keys that are not canonical, and two spellings of one attribute
	// must not let one of them win silently.
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	seen := map[string]bool{}
	for _, k := range keys {
		lk := strings.ToLower(k)
		if lk == "content-type" {
			contentTypes = append(contentTypes, h[k]...)
			continue
		}
		name, ok := strings.CutPrefix(lk, "ce-")
		if !ok {
			continue
		}
		ptr := "/" + jsonscan.EscapeToken(name)
		// A name that holds a CPR number or a control character is
		// refused for that at the event, whatever else is wrong with the
		// header: its pointer and details would repeat it. One that is
		// otherwise acceptable is left to Validate, which refuses it with
		// the event's other problems.
		fail := func(detail string) {
			if d := attrProblem(name); d != "" {
				ps = append(ps, Problem{"", detailExtensionName + d})
				return
			}
			ps = append(ps, Problem{ptr, detail})
		}
		vs := h[k]
		if seen[name] || len(vs) != 1 {
			fail("header ce-" + name + " must appear exactly once")
			seen[name] = true
			continue
		}
		seen[name] = true
		v, err := url.PathUnescape(vs[0])
		if err != nil || !utf8.ValidString(v) {
			fail("header ce-" + name + " is not valid percent-encoded UTF-8")
			continue
		}
		switch name {
		case attrSpecVersion, attrID, attrSource, attrType, attrSubject, attrTime, attrDataSchema:
			attrs.put(name, v)
		case attrDataContentType:
			ps = append(ps, Problem{ptr, "in binary mode the data content type is the Content-Type header, not ce-datacontenttype"})
		default:
			if detail := extensionNameProblem(name); detail != "" {
				fail(detail)
				continue
			}
			if len(v) > maxExtensionLength {
				fail(contentOr(v, fmt.Sprintf("extension value longer than %d bytes", maxExtensionLength)))
				continue
			}
			exts[name] = v
		}
	}
	switch {
	case len(contentTypes) == 0:
		ps = append(ps, Problem{"/" + attrDataContentType, "Content-Type must be application/json"})
	case len(contentTypes) > 1:
		ps = append(ps, Problem{"/" + attrDataContentType, "Content-Type must appear exactly once"})
	case !isJSONContentType(contentTypes[0]):
		ps = append(ps, Problem{"/" + attrDataContentType, "Content-Type must be application/json"})
	}
	data, dps := parseData(body, "", false, false)
	ps = append(ps, dps...)
	ev, aps := assemble("", &attrs, exts, data)
	ps = append(ps, aps...)
	if len(ps) > 0 {
		return cloudevents.Event{}, malformed(ps)
	}
	return ev, nil
}

// parseMembers reads one structured event from its top-level members (nil
// when it is not a JSON object) and leaves its string attributes in attrs,
// which must be empty. A name appears once: checkJSON refuses duplicates.
// op, when not nil, opens the data of an event that carries its
// extension; when its Open fails, parseMembers stops with Open's error.
func parseMembers(members []jsonscan.Member, prefix string, attrs *attrSet, op *opening) (cloudevents.Event, []Problem, error) {
	if members == nil {
		return cloudevents.Event{}, []Problem{{prefix, "a CloudEvent must be a JSON object"}}, nil
	}
	// Each problem of the loop below is about one member; they are
	// reported in the order of the members' names (only a failing event
	// pays for the sort).
	type memberProblem struct {
		name string
		p    Problem
	}
	var found []memberProblem
	problem := func(name string, ps ...Problem) {
		for _, p := range ps {
			found = append(found, memberProblem{name, p})
		}
	}
	var exts map[string]any
	var data []byte
	hasData := false
	// keyed says that the event carries op's extension, whose value is
	// key when it is a JSON string. (Not kept in op: escape analysis
	// would then have op's Open escape with key.)
	var (
		keyed bool
		key   string
	)
	// The attributes that differ from event to event, id, subject and
	// time, are copied out of the document into values, which holds them
	// all in one allocation rather than one each.
	var values strings.Builder
	n := 0
	for _, m := range members {
		switch m.Name {
		case attrID, attrSubject, attrTime:
			n += len(m.Raw)
		}
	}
	// op's extension is not one of the event's: it is taken out of
	// members (the checker's, which nothing reads after this), so that
	// the loop below is the one of every event.
	var keyRaw []byte
	if op != nil {
		for i, m := range members {
			if m.Name == op.Extension {
				keyed, keyRaw = true, m.Raw
				members = slices.Delete(members, i, i+1)
				n += len(keyRaw)
				break
			}
		}
	}
	values.Grow(n)
	if keyed {
		key, _ = valuesString(keyRaw, &values)
	}
	for _, m := range members {
		name, raw := m.Name, m.Raw
		// The pointer is only needed for a problem.
		ptr := func() string { return prefix + "/" + jsonscan.EscapeToken(name) }
		switch name {
		case attrSpecVersion, attrID, attrSource, attrType, attrSubject, attrTime, attrDataSchema, attrDataContentType:
			s, ok := attrString(name, raw, &values)
			if !ok {
				problem(name, Problem{ptr(), "must be a JSON string"})
				continue
			}
			if name == attrDataContentType {
				if !isJSONContentType(s) {
					problem(name, Problem{ptr(), contentOr(s, "must be application/json")})
				}
				continue
			}
			attrs.put(name, s)
		case attrDataBase64:
			problem(name, Problem{ptr(), "data_base64 is not accepted: send data as a JSON object"})
		case attrData:
			hasData = true
			var dps []Problem
			data, dps = parseData(raw, prefix, true, m.Compact)
			problem(name, dps...)
		default:
			v, detail := extensionValue(name, raw)
			if detail != "" {
				if d := attrProblem(name); d != "" {
					// A name that holds a CPR number or a control
					// character is refused for that, at the event: a
					// pointer with the name would repeat it. (One that
					// is otherwise acceptable is Validate's.)
					problem(name, Problem{prefix, detailExtensionName + d})
					continue
				}
				// So is a value that holds one, whatever else is wrong
				// with it (a number beyond 32 bits, a string too long).
				text, ok := jsonString(raw)
				if !ok {
					text = string(raw)
				}
				problem(name, Problem{ptr(), contentOr(text, detail)})
				continue
			}
			if exts == nil {
				exts = map[string]any{}
			}
			exts[name] = v
		}
	}
	// data is nil unless it is an object, and then compacted: as posted
	// unless white space in it was compacted away. The string tokens that
	// Open puts in place of others keep it compact and strict.
	if keyed && data != nil {
		opened, ok, dps, err := op.open(attrs, key, data)
		if err != nil {
			return cloudevents.Event{}, nil, err
		}
		if ok {
			data = opened
			if dps != nil {
				data = nil
				problem(attrData, dps...)
			}
		}
	}
	slices.SortStableFunc(found, func(a, b memberProblem) int { return strings.Compare(a.name, b.name) })
	var ps []Problem
	for _, f := range found {
		ps = append(ps, f.p)
	}
	if !hasData {
		ps = append(ps, Problem{prefix + "/" + attrData, "required: the event's data as a JSON object"})
	}
	ev, aps := assemble(prefix, attrs, exts, data)
	return ev, append(ps, aps...), nil
}

// attrSet holds the string attributes of an event, in the order of their
// names, so that problems are reported in that order.
type attrSet struct {
	val [len(attrNames)]string
	set [len(attrNames)]bool
}

// attrNames are the attributes attrSet holds, sorted.
var attrNames = [...]string{attrDataSchema, attrID, attrSource, attrSpecVersion, attrSubject, attrTime, attrType}

func attrIndex(name string) int {
	switch name {
	case attrDataSchema:
		return 0
	case attrID:
		return 1
	case attrSource:
		return 2
	case attrSpecVersion:
		return 3
	case attrSubject:
		return 4
	case attrTime:
		return 5
	case attrType:
		return 6
	}
	panic("events: " + name + " is not an attribute of attrSet")
}

func (a *attrSet) put(name, v string) {
	i := attrIndex(name)
	a.val[i], a.set[i] = v, true
}

func (a *attrSet) get(name string) (string, bool) {
	i := attrIndex(name)
	return a.val[i], a.set[i]
}

// parseData checks that raw, the event's data, is one strict JSON object and
// returns it compacted: stored events are written one per line (NATS
// messages, JSON Lines exports), so data must not carry newlines. Problems
// point at prefix + "/data", a pointer made only for a problem. checked
// says that raw was held to checkJSON already, compact that it was found
// to be compact then.
func parseData(raw []byte, prefix string, checked, compact bool) ([]byte, []Problem) {
	ptr := func() string {
		if prefix == "" {
			// A constant: data opened by DecodeStoredWith is checked
			// here, and its pointer must not cost an allocation.
			return "/" + attrData
		}
		return prefix + "/" + attrData
	}
	// Data sits one level inside the event; inside a structured event the
	// whole document has been checked already.
	if !checked {
		if ps := checkJSON(raw, ptr(), MaxDepth-1); len(ps) > 0 {
			return nil, ps
		}
	}
	if jsonscan.FirstByte(raw) != '{' {
		return nil, []Problem{{ptr(), "must be a JSON object"}}
	}
	if compact || compactJSON(raw) {
		// As ingest stores it: compacting would only copy it.
		return raw, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, []Problem{{ptr(), "must be a JSON object"}}
	}
	return buf.Bytes(), nil
}

// assemble checks the string attributes common to both modes and builds the
// event. The SDK's setters trim white space and accept values silently, so
// the checks happen on the raw strings first.
func assemble(prefix string, attrs *attrSet, exts map[string]any, data []byte) (cloudevents.Event, []Problem) {
	var ps []Problem
	for _, name := range requiredAttrs {
		if _, ok := attrs.get(name); !ok {
			ps = append(ps, Problem{prefix + "/" + name, "required attribute missing"})
		}
	}
	var (
		t         time.Time
		source    url.URL
		schema    url.URL
		hasSchema bool
	)
	for i, name := range attrNames {
		if !attrs.set[i] {
			continue
		}
		v := attrs.val[i]
		ptr := func() string { return prefix + "/" + name }
		// What an attribute holds is judged before its form, as Validate
		// does: a value that fails a check below for its form is refused
		// for a CPR number or a control character it holds (422), not for
		// its form. A value whose form is right is left to Validate.
		n := len(ps)
		switch {
		case v == "":
			ps = append(ps, Problem{ptr(), "must not be empty"})
		case strings.TrimSpace(v) != v:
			ps = append(ps, Problem{ptr(), "must not begin or end with white space"})
		default:
			switch name {
			case attrSpecVersion:
				if v != cloudevents.VersionV1 {
					ps = append(ps, Problem{ptr(), "must be \"1.0\""})
				}
			case attrTime:
				var err error
				if !rfc3339Shape(v) {
					err = errors.New("not RFC 3339")
				} else {
					t, err = time.Parse(time.RFC3339Nano, upperTime(v))
				}
				switch {
				case err != nil:
					ps = append(ps, Problem{ptr(), "must be an RFC 3339 timestamp, e.g. 2024-05-01T09:30:00Z"})
				case t.IsZero() || t.UTC().Year() < 1:
					// The SDK stores the zero time as "no time", and a time
					// that is before year 1 in UTC cannot be written in RFC
					// 3339 again; Validate would refuse both as too early.
					ps = append(ps, Problem{ptr(), "must not be before " + minTime.Format(time.DateOnly)})
				case t.UTC().Year() > 9999:
					ps = append(ps, Problem{ptr(), "must not be more than 24 hours in the future"})
				}
			case attrSource:
				// The SDK stores the parsed URI and writes it back in its own
				// spelling ("//" becomes ""); a source it would rewrite could
				// not be read back from the stream as it was sent.
				if simplePath(v) {
					source = url.URL{Path: v} // what url.Parse makes of it
					break
				}
				u, err := url.Parse(v)
				if err != nil || u.String() != v {
					ps = append(ps, Problem{ptr(), "must be a URI reference, e.g. /departments/bif"})
					break
				}
				source = *u
			case attrDataSchema:
				u, ok := absoluteURI(v)
				if !ok {
					ps = append(ps, Problem{ptr(), "must be an absolute URI"})
					break
				}
				schema, hasSchema = u, true
			}
		}
		if len(ps) > n && contentRuled(name) {
			if d := attrProblem(v); d != "" {
				ps = append(ps[:n], Problem{ptr(), d})
			}
		}
	}
	if len(ps) > 0 {
		return cloudevents.Event{}, ps
	}

	// What the SDK's setters make of the values checked above (none of
	// them empty or padded with white space), without parsing the URIs
	// again: TestAssembleAsTheSetters holds the two to each other.
	ec := &eventContext{contentType: contentTypeJSON, time: types.Timestamp{Time: t}}
	ec.subject, _ = attrs.get(attrSubject)
	ec.ctx = event.EventContextV1{
		Source:          types.URIRef{URL: source},
		Subject:         &ec.subject,
		Time:            &ec.time,
		DataContentType: &ec.contentType,
	}
	ec.ctx.ID, _ = attrs.get(attrID)
	ec.ctx.Type, _ = attrs.get(attrType)
	if hasSchema {
		ec.schema = types.URI{URL: schema}
		ec.ctx.DataSchema = &ec.schema
	}
	ev := cloudevents.Event{Context: &ec.ctx}
	extNames := make([]string, 0, len(exts))
	for k := range exts {
		extNames = append(extNames, k)
	}
	slices.Sort(extNames)
	for _, k := range extNames {
		ev.SetExtension(k, exts[k])
	}
	ev.DataEncoded = data
	ev.DataBase64 = false
	ps = append(ps, fieldErrors(prefix, ev)...)
	return ev, ps
}

// eventContext is the SDK's context of an event together with the values
// its attribute pointers point to, so that assemble allocates them once,
// not five times: every stored event read is assembled.
type eventContext struct {
	ctx         event.EventContextV1
	subject     string
	contentType string
	time        types.Timestamp
	schema      types.URI
}

// schemaURLs are the catalog's schema URLs, parsed once, each as
// absoluteURI would: nearly every event carries its type's as dataschema,
// and parsing it again for every stored event was a tenth of decoding one.
// Built once and only read, it needs no lock.
var schemaURLs = func() map[string]url.URL {
	m := map[string]url.URL{}
	for _, s := range catalog {
		if u, ok := parseAbsoluteURI(s.SchemaURL()); ok {
			m[s.SchemaURL()] = u
		}
	}
	return m
}()

// absoluteURI parses v, which must be an absolute URI that url.URL writes
// back as it is.
func absoluteURI(v string) (url.URL, bool) {
	if u, ok := schemaURLs[v]; ok {
		return u, true
	}
	return parseAbsoluteURI(v)
}

func parseAbsoluteURI(v string) (url.URL, bool) {
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() || u.String() != v {
		return url.URL{}, false
	}
	return *u, true
}

// fieldErrors reports what the SDK's setters refused, keyed by attribute.
func fieldErrors(prefix string, ev cloudevents.Event) []Problem {
	if len(ev.FieldErrors) == 0 {
		return nil
	}
	keys := make([]string, 0, len(ev.FieldErrors))
	for k := range ev.FieldErrors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var ps []Problem
	for _, k := range keys {
		name := strings.TrimPrefix(k, "extension:")
		ps = append(ps, Problem{prefix + "/" + jsonscan.EscapeToken(name), "not a valid value: " + ev.FieldErrors[k].Error()})
	}
	return ps
}

// extensionNameProblem returns what is wrong with name as the name of an
// extension attribute, or "" when nothing is. Structured mode, binary mode
// and Validate all ask it, so that an event is refused for the same names
// however it arrives. Besides the CloudEvents 1.0 rule for the name, it
// refuses the names of the data (an extension named data would be written
// as a second top-level "data" member, which no reader of the store
// accepts) and the attributes of CloudEvents 0.3, which this API does not
// speak and the readers of the store refuse.
func extensionNameProblem(name string) string {
	switch name {
	case attrData:
		return "data is not an extension attribute: send data as a JSON object (in binary mode, the request body)"
	case attrDataBase64:
		return "data_base64 is not accepted: send data as a JSON object"
	case "schemaurl", "datacontentencoding":
		return "a CloudEvents 0.3 attribute; this API speaks CloudEvents 1.0 only"
	}
	if !extensionName.MatchString(name) {
		return "not a CloudEvents 1.0 attribute; extension names are 1-20 lower-case letters or digits"
	}
	return ""
}

// extensionValue accepts the extension attribute types CloudEvents maps to
// JSON: string, boolean and (32-bit) integer. It returns a problem detail
// when the member is not an acceptable extension.
func extensionValue(name string, raw json.RawMessage) (any, string) {
	if detail := extensionNameProblem(name); detail != "" {
		return nil, detail
	}
	switch c := jsonscan.FirstByte(raw); {
	case c == '"':
		s, _ := jsonString(raw)
		if len(s) > maxExtensionLength {
			return nil, fmt.Sprintf("extension value longer than %d bytes", maxExtensionLength)
		}
		return s, ""
	case c == 't' || c == 'f':
		return c == 't', ""
	case c == '-' || (c >= '0' && c <= '9'):
		if n, err := strconv.ParseInt(string(raw), 10, 32); err == nil {
			return int32(n), ""
		}
	}
	return nil, "an extension attribute must be a string, a boolean or a 32-bit integer"
}

// isJSONContentType accepts application/json, with at most a charset
// parameter of UTF-8 (RFC 8259 allows no other encoding).
func isJSONContentType(s string) bool {
	if s == contentTypeJSON {
		return true
	}
	mt, params, err := mime.ParseMediaType(s)
	if err != nil || mt != contentTypeJSON {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

// commonAttrs are the attribute values that most events share, each
// mapped to itself: the catalog's types and schema URLs and the
// departments' sources.
var commonAttrs = func() map[string]string {
	m := map[string]string{}
	for _, s := range catalog {
		m[s.Type()], m[s.SchemaURL()] = s.Type(), s.SchemaURL()
	}
	for _, d := range Departments {
		src := "/departments/" + string(d)
		m[src] = src
	}
	return m
}()

// attrString is jsonString for the value of the attribute name, which
// allocates less: a value that most events share is a constant's or
// commonAttrs' string rather than a copy of its own, and id, subject and
// time are appended to values, which has room for them, as a part of its
// string. (A Builder only ever appends to its bytes, so a string it
// returned earlier never changes.)
func attrString(name string, raw []byte, values *strings.Builder) (string, bool) {
	// The test of jsonString's own fast way: the document has been held
	// to checkJSON, so a string without a backslash holds its value as it
	// is. Any other (no value of commonAttrs holds a quote or a
	// backslash) is jsonString's.
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' || bytes.IndexByte(raw, '\\') >= 0 {
		return jsonString(raw)
	}
	inner := raw[1 : len(raw)-1]
	switch name {
	case attrSpecVersion:
		if string(inner) == cloudevents.VersionV1 {
			return cloudevents.VersionV1, true
		}
	case attrDataContentType:
		if string(inner) == contentTypeJSON {
			return contentTypeJSON, true
		}
	case attrSource, attrType, attrDataSchema:
		if s, ok := commonAttrs[string(inner)]; ok {
			return s, true
		}
	case attrID, attrSubject, attrTime:
		if values.Cap()-values.Len() >= len(inner) {
			start := values.Len()
			values.Write(inner)
			return values.String()[start:], true
		}
	}
	return jsonString(raw)
}

// valuesString is jsonString that, as attrString does for id, subject
// and time, appends a value without escapes to values when it has room
// for it, rather than allocating a string of its own.
func valuesString(raw []byte, values *strings.Builder) (string, bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 &&
		values.Cap()-values.Len() >= len(raw)-2 {
		start := values.Len()
		values.Write(raw[1 : len(raw)-1])
		return values.String()[start:], true
	}
	return jsonString(raw)
}

func jsonString(raw []byte) (string, bool) {
	if jsonscan.FirstByte(raw) != '"' {
		return "", false
	}
	// Most attributes hold no escapes; checkJSON has vetted their bytes.
	if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// malformed is the error of a parse that found ps: KindMalformed, unless
// every one of them is a content rule's (contentProblem), which refuses
// what the event holds, not its form: KindInvalid, as Validate has it.
func malformed(ps []Problem) *Error {
	if len(ps) > 0 && !slices.ContainsFunc(ps, func(p Problem) bool { return !contentProblem(p) }) {
		return &Error{Kind: KindInvalid, Detail: detailFor(KindInvalid), Problems: ps}
	}
	return &Error{Kind: KindMalformed, Detail: "malformed CloudEvent", Problems: ps}
}

// contentOr is detail, the problem of v's form, unless v holds a CPR
// number or a control character: then that, which the content rules refuse
// (422) whatever else is wrong with it.
func contentOr(v, detail string) string {
	if d := attrProblem(v); d != "" {
		return d
	}
	return detail
}

// contentRuled says whether the content rules (attrProblem) apply to the
// string attribute name, as checkAttrContent applies them.
func contentRuled(name string) bool {
	switch name {
	case attrID, attrSource, attrType, attrSubject, attrDataSchema, attrDataContentType:
		return true
	}
	return false
}

// contentProblem reports whether p is a content rule's refusal of an
// attribute or an extension's name.
func contentProblem(p Problem) bool {
	return p.Detail == detailCPR || p.Detail == detailAttrControl || strings.HasPrefix(p.Detail, detailExtensionName)
}
