package audit

import (
	"bytes"
	"encoding/json"
)

// shape is what AppendLine needs to know of a stored message.
type shape struct {
	valid     bool // one JSON value, as json.Valid decides
	object    bool // ... and it is an object
	multiline bool // ... with a line break in its white space
	// recordCollides: the object has a member named sequence or
	// recordedAt (AppendRecordLine adds them).
	recordCollides bool
	// cloudEvent: the object is a CloudEvent that the SDKs' strict readers
	// accept, without attributes named jf… (AppendLine adds them).
	cloudEvent bool
}

// maxDepth is encoding/json's nesting limit, so that scanJSON and
// json.Valid agree on every input.
const maxDepth = 10000

// scanJSON validates b in one pass and tells its shape. It decides
// validity exactly as json.Valid does (a fuzz test holds it to that) at a
// fraction of the cost, which matters because a replay checks every
// message of the stream before splicing it into a line.
func scanJSON(b []byte) shape {
	s := scanner{b: b}
	s.ws()
	if s.i < len(b) && b[s.i] == '{' {
		s.top = true
	}
	ok := s.value(0)
	s.ws()
	if !ok || s.i != len(b) {
		return shape{}
	}
	return shape{valid: true, object: s.top, multiline: s.multiline,
		recordCollides: s.recordCollides, cloudEvent: s.top && s.ce.ok()}
}

type scanner struct {
	b              []byte
	i              int
	top            bool // the value is an object
	recordCollides bool
	multiline      bool
	ce             ceCheck // the top-level members, when top
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t':
		case '\n', '\r':
			s.multiline = true
		default:
			return
		}
		s.i++
	}
}

func (s *scanner) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *scanner) literal(w string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(w)) {
		return false
	}
	s.i += len(w)
	return true
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *scanner) number() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.b) {
		return false
	}
	if s.b[s.i] == '0' {
		s.i++
	} else if s.digits() == 0 {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// str reads a string and returns its raw content (between the quotes)
// and whether it had escapes, folded into raw being nil.
func (s *scanner) str() (raw []byte, ok bool) {
	s.i++ // "
	start := s.i
	escaped := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			if escaped {
				return nil, true
			}
			return raw, true
		case c == '\\':
			escaped = true
			s.i++
			if s.i >= len(s.b) {
				return nil, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+4 >= len(s.b) {
					return nil, false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return nil, false
					}
				}
				s.i += 5
			default:
				return nil, false
			}
		case c < 0x20:
			return nil, false
		default:
			s.i++
		}
	}
	return nil, false
}

func (s *scanner) object(depth int) bool {
	if depth > maxDepth {
		return false
	}
	s.i++ // {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		start := s.i
		raw, ok := s.str()
		if !ok {
			return false
		}
		top := depth == 1 && s.top
		if top {
			if raw == nil {
				// Escapes: decode the name to compare it.
				var name string
				_ = json.Unmarshal(s.b[start:s.i], &name)
				raw = []byte(name)
			}
			if string(raw) == "sequence" || string(raw) == "recordedAt" {
				s.recordCollides = true
			}
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		vstart := s.i
		if !s.value(depth) {
			return false
		}
		if top {
			s.ce.member(raw, s.b[vstart:s.i])
		}
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

func (s *scanner) array(depth int) bool {
	if depth > maxDepth {
		return false
	}
	s.i++ // [
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return true
	}
	for {
		s.ws()
		if !s.value(depth) {
			return false
		}
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}
