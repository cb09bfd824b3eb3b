package jsonscan

import (
	"bytes"
	"slices"
)

// Canonical is the canonical form the content hash covers, for documents
// whose strings are all plain (printable ASCII without the characters
// escaping or HTML escaping rewrites) and whose objects have no duplicate
// members; it reports false for anything else, which then takes the
// library way (a decode keeping numbers as written, and json.Marshal).
// Output: members sorted by name, no white space, strings and numbers as
// written, exactly as the library way writes them.
func Canonical(doc []byte) ([]byte, bool) {
	c := canonicalizer{copier{in: doc, out: make([]byte, 0, len(doc))}}
	if !c.value(0) {
		return nil, false
	}
	c.space()
	if c.pos != len(c.in) {
		return nil, false
	}
	return c.out, true
}

type canonicalizer struct{ copier }

// copier is what the readers that write their input out again share: the
// input, where they are in it, the output, and the tokens copied as they
// are.
type copier struct {
	in  []byte
	pos int
	out []byte
}

func (c *copier) space() { c.pos = Space(c.in, c.pos) }

// next copies what follows an element of a container: a comma (more) or
// its closing bracket; anything else is not JSON.
func (c *copier) next(closing byte) (more, ok bool) {
	c.space()
	if c.pos >= len(c.in) {
		return false, false
	}
	switch b := c.in[c.pos]; b {
	case ',', closing:
		c.out = append(c.out, b)
		c.pos++
		return b == ',', true
	}
	return false, false
}

func (c *copier) literal(word string) bool {
	if !Literal(c.in, c.pos, word) {
		return false
	}
	c.pos += len(word)
	c.out = append(c.out, word...)
	return true
}

func (c *copier) number() bool {
	end, _, problem := Number(c.in, c.pos)
	if problem != "" {
		return false
	}
	c.out = append(c.out, c.in[c.pos:end]...)
	c.pos = end
	return true
}

// str reads a plain string and returns it with its quotes.
func (c *canonicalizer) str() ([]byte, bool) {
	if c.pos >= len(c.in) || c.in[c.pos] != '"' {
		return nil, false
	}
	st, problem := String(c.in, c.pos, false)
	if problem != "" || st.Escaped || st.NonASCII {
		return nil, false
	}
	s := c.in[c.pos:st.End]
	if bytes.ContainsAny(s, "<>&\x7f") {
		return nil, false
	}
	c.pos = st.End
	return s, true
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
			if more, ok := c.next(']'); !more {
				return ok
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
