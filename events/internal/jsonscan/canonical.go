package events

import (
	"bytes"
	"encoding/json"
	"slices"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
)

// Ingest encodes every event it stores and hashes every event it reads, so
// both run once per event on the hot path. The general encoders (the SDK's
// writer behind encoding/json, a decode into maps and back for the hash)
// cost more than the rest of ingest together. The functions here produce
// the very same bytes for the events the catalog accepts (plain ASCII
// attributes, string extensions) and decline anything else, which then takes
// the general way; tests hold both ways to the same output.

// plainString reports whether s is written the same by every JSON encoder
// involved (jsoniter, encoding/json with HTML escaping): printable ASCII
// without quote, backslash or the characters HTML escaping rewrites.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func appendMember(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':', '"')
	b = append(b, value...)
	return append(b, '"')
}

// fastMarshal writes ev as json.Marshal does (the SDK's structured form,
// compacted, HTML-escaped), or reports false when ev holds anything it does
// not write the same way.
func fastMarshal(ev cloudevents.Event) ([]byte, bool) {
	ec, ok := ev.Context.(*event.EventContextV1)
	if !ok || ec == nil || ev.DataBase64 {
		return nil, false
	}
	if ec.DataContentType != nil && *ec.DataContentType != contentTypeJSON {
		return nil, false
	}
	source := ec.Source.String()
	if !plainString(ec.ID) || !plainString(source) || !plainString(ec.Type) {
		return nil, false
	}
	b := make([]byte, 0, 256+len(ev.DataEncoded))
	b = append(b, `{"specversion":"1.0"`...)
	b = appendMember(b, "id", ec.ID)
	b = appendMember(b, "source", source)
	b = appendMember(b, "type", ec.Type)
	if ec.Subject != nil {
		if !plainString(*ec.Subject) {
			return nil, false
		}
		b = appendMember(b, "subject", *ec.Subject)
	}
	if ec.DataContentType != nil {
		b = appendMember(b, "datacontenttype", *ec.DataContentType)
	}
	if ec.DataSchema != nil {
		ds := ec.DataSchema.String()
		if !plainString(ds) {
			return nil, false
		}
		b = appendMember(b, "dataschema", ds)
	}
	if ec.Time != nil {
		b = appendMember(b, "time", ec.Time.String())
	}
	if ev.DataEncoded != nil {
		b = append(b, `,"data":`...)
		start := len(b)
		buf := bytes.NewBuffer(b)
		if json.Compact(buf, ev.DataEncoded) != nil {
			return nil, false
		}
		b = buf.Bytes()
		for _, c := range b[start:] {
			// HTML escaping and U+2028/U+2029 (which start with 0xE2)
			// would rewrite these.
			if c == '<' || c == '>' || c == '&' || c >= 0x80 {
				return nil, false
			}
		}
	}
	if len(ec.Extensions) > 0 {
		names := make([]string, 0, len(ec.Extensions))
		for name := range ec.Extensions {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			v, ok := ec.Extensions[name].(string)
			if !ok || !plainString(name) || !plainString(v) {
				return nil, false
			}
			b = appendMember(b, name, v)
		}
	}
	return append(b, '}'), true
}

// fastCanonical is canonicalJSON for documents whose strings are all plain
// (see plainString) and whose objects have no duplicate members; it reports
// false for anything else. Output: members sorted by name, no white space,
// strings and numbers as written.
func fastCanonical(doc []byte) ([]byte, bool) {
	c := canonicalizer{in: doc, out: make([]byte, 0, len(doc))}
	if !c.value(0) {
		return nil, false
	}
	c.space()
	if c.pos != len(c.in) {
		return nil, false
	}
	return c.out, true
}

type canonicalizer struct {
	in  []byte
	pos int
	out []byte
}

func (c *canonicalizer) space() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

// str reads a plain string and returns it with its quotes.
func (c *canonicalizer) str() ([]byte, bool) {
	if c.pos >= len(c.in) || c.in[c.pos] != '"' {
		return nil, false
	}
	start := c.pos
	for c.pos++; c.pos < len(c.in); c.pos++ {
		switch ch := c.in[c.pos]; {
		case ch == '"':
			c.pos++
			return c.in[start:c.pos], true
		case ch < 0x20 || ch > 0x7e || ch == '\\' || ch == '<' || ch == '>' || ch == '&':
			return nil, false
		}
	}
	return nil, false
}

func (c *canonicalizer) literal(word string) bool {
	if !bytes.HasPrefix(c.in[c.pos:], []byte(word)) {
		return false
	}
	c.pos += len(word)
	c.out = append(c.out, word...)
	return true
}

func (c *canonicalizer) number() bool {
	start := c.pos
	for c.pos < len(c.in) {
		ch := c.in[c.pos]
		if (ch >= '0' && ch <= '9') || ch == '-' || ch == '+' || ch == '.' || ch == 'e' || ch == 'E' {
			c.pos++
			continue
		}
		break
	}
	num := c.in[start:c.pos]
	// json.Number refuses to marshal what is not a JSON number.
	if !json.Valid(num) {
		return false
	}
	c.out = append(c.out, num...)
	return true
}

func (c *canonicalizer) value(depth int) bool {
	if depth > MaxDepth {
		return false
	}
	c.space()
	if c.pos >= len(c.in) {
		return false
	}
	switch ch := c.in[c.pos]; {
	case ch == '{':
		return c.object(depth)
	case ch == '[':
		c.pos++
		c.out = append(c.out, '[')
		c.space()
		if c.pos < len(c.in) && c.in[c.pos] == ']' {
			c.pos++
			c.out = append(c.out, ']')
			return true
		}
		for {
			if !c.value(depth + 1) {
				return false
			}
			c.space()
			if c.pos >= len(c.in) {
				return false
			}
			switch c.in[c.pos] {
			case ',':
				c.pos++
				c.out = append(c.out, ',')
			case ']':
				c.pos++
				c.out = append(c.out, ']')
				return true
			default:
				return false
			}
		}
	case ch == '"':
		s, ok := c.str()
		c.out = append(c.out, s...)
		return ok
	case ch == 't':
		return c.literal("true")
	case ch == 'f':
		return c.literal("false")
	case ch == 'n':
		return c.literal("null")
	case ch == '-' || (ch >= '0' && ch <= '9'):
		return c.number()
	}
	return false
}

type canonicalMember struct {
	name       []byte // with quotes
	start, end int    // the value's canonical form within out
}

func (c *canonicalizer) object(depth int) bool {
	c.pos++ // {
	objStart := len(c.out)
	var members []canonicalMember
	c.space()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		c.out = append(c.out, '{', '}')
		return true
	}
	for {
		c.space()
		name, ok := c.str()
		if !ok {
			return false
		}
		c.space()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return false
		}
		c.pos++
		start := len(c.out)
		if !c.value(depth + 1) {
			return false
		}
		members = append(members, canonicalMember{name: name, start: start, end: len(c.out)})
		c.space()
		if c.pos >= len(c.in) {
			return false
		}
		if c.in[c.pos] == ',' {
			c.pos++
			continue
		}
		if c.in[c.pos] != '}' {
			return false
		}
		c.pos++
		break
	}
	// Sorted by the names without their quotes, as encoding/json sorts
	// map keys.
	unquoted := func(m canonicalMember) []byte { return m.name[1 : len(m.name)-1] }
	slices.SortFunc(members, func(a, b canonicalMember) int { return bytes.Compare(unquoted(a), unquoted(b)) })
	for i := 1; i < len(members); i++ {
		if bytes.Equal(members[i].name, members[i-1].name) {
			return false
		}
	}
	values := slices.Clone(c.out[objStart:])
	c.out = append(c.out[:objStart], '{')
	for i, m := range members {
		if i > 0 {
			c.out = append(c.out, ',')
		}
		c.out = append(c.out, m.name...)
		c.out = append(c.out, ':')
		c.out = append(c.out, values[m.start-objStart:m.end-objStart]...)
	}
	c.out = append(c.out, '}')
	return true
}
