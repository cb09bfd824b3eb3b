package jsonscan

// AppendCompact appends the JSON document src to dst as encoding/json
// writes the output of a json.Marshaler: without white space between
// tokens, and with <, >, & and U+2028, U+2029 in strings written as \u
// escapes; everything else, escapes and numbers included, as written. It
// reports false, with dst as it was, when src is not one JSON value as
// json.Valid judges it, or nests deeper than MaxDepth.
//
// encoding/json runs its byte-at-a-time state machine over the whole
// document; this reads strings eight bytes at a time (String) and copies
// them whole.
func AppendCompact(dst, src []byte) ([]byte, bool) {
	c := compactor{copier{in: src, out: dst}}
	if !c.value(0) {
		return dst, false
	}
	if Space(src, c.pos) != len(src) {
		return dst, false
	}
	return c.out, true
}

type compactor struct{ copier }

func (c *compactor) value(depth int) bool {
	c.space()
	if c.pos >= len(c.in) {
		return false
	}
	switch b := c.in[c.pos]; {
	case b == '"':
		return c.str()
	case b == '{':
		return c.container(depth, '}', true)
	case b == '[':
		return c.container(depth, ']', false)
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	default:
		return c.number()
	}
}

// str copies the string at c.pos, escaping what HTML escaping rewrites.
func (c *compactor) str() bool {
	st, problem := String(c.in, c.pos, false)
	if problem != "" {
		return false
	}
	s := c.in[c.pos:st.End]
	c.pos = st.End
	start := 0
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b == '<' || b == '>' || b == '&':
			c.out = append(c.out, s[start:i]...)
			c.out = append(c.out, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			start = i + 1
		case b == 0xE2 && st.NonASCII && i+2 < len(s) && s[i+1] == 0x80 && s[i+2]&^1 == 0xA8:
			// U+2028 or U+2029.
			c.out = append(c.out, s[start:i]...)
			c.out = append(c.out, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xF])
			i += 2
			start = i + 1
		}
	}
	c.out = append(c.out, s[start:]...)
	return true
}

// container copies an object (members: true) or an array.
func (c *compactor) container(depth int, closing byte, members bool) bool {
	if depth >= MaxDepth {
		return false
	}
	c.out = append(c.out, c.in[c.pos])
	c.pos = Space(c.in, c.pos+1)
	if c.pos < len(c.in) && c.in[c.pos] == closing {
		c.out = append(c.out, closing)
		c.pos++
		return true
	}
	for {
		if members {
			c.space()
			if c.pos >= len(c.in) || c.in[c.pos] != '"' || !c.str() {
				return false
			}
			c.space()
			if c.pos >= len(c.in) || c.in[c.pos] != ':' {
				return false
			}
			c.out = append(c.out, ':')
			c.pos++
		}
		if !c.value(depth + 1) {
			return false
		}
		if more, ok := c.next(closing); !more {
			return ok
		}
	}
}

const hexDigits = "0123456789abcdef"
