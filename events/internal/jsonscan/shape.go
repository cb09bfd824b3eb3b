package jsonscan

import "encoding/json"

// Shape validates b as json.Valid does (a fuzz test in audit holds it to
// that, to json.Valid's nesting limit) and, when b is an object, calls
// member with each top-level member: its name (unescaped) and its value as
// written. It reports whether b is valid and whether it is an object.
//
// A replay checks every stored message this way before splicing it into a
// line; json.Valid and a token decode of the members cost many times more.
func Shape(b []byte, member func(name, value []byte)) (valid, object bool) {
	s := shapeScanner{b: b, member: member}
	s.i = Space(b, 0)
	s.object = s.i < len(b) && b[s.i] == '{'
	ok := s.value(0)
	s.i = Space(b, s.i)
	if !ok || s.i != len(b) {
		return false, false
	}
	return true, s.object
}

// maxShapeDepth is encoding/json's nesting limit, so that Shape and
// json.Valid agree on every input.
const maxShapeDepth = 10000

type shapeScanner struct {
	b      []byte
	i      int
	object bool
	member func(name, value []byte)
	// key is the name of the top-level member being read.
	key []byte
}

// name reads a member name and its colon; a top-level one into s.key.
func (s *shapeScanner) name(depth int) bool {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false
	}
	start := s.i
	st, problem := String(s.b, s.i, false)
	if problem != "" {
		return false
	}
	s.i = st.End
	if depth == 1 && s.object {
		s.key = st.Contents(s.b, start)
		if st.Escaped {
			var name string
			_ = json.Unmarshal(s.b[start:s.i], &name)
			s.key = []byte(name)
		}
	}
	s.i = Space(s.b, s.i)
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return false
	}
	s.i = Space(s.b, s.i+1)
	return true
}

func (s *shapeScanner) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{', c == '[':
		if depth >= maxShapeDepth {
			return false
		}
		return s.container(depth + 1)
	case c == '"':
		st, problem := String(s.b, s.i, false)
		s.i = st.End
		return problem == ""
	case c == '-' || (c >= '0' && c <= '9'):
		end, _, problem := Number(s.b, s.i)
		s.i = end
		return problem == ""
	case c == 't', c == 'f', c == 'n':
		for _, w := range [...]string{"true", "false", "null"} {
			if w[0] == c {
				if !Literal(s.b, s.i, w) {
					return false
				}
				s.i += len(w)
			}
		}
		return true
	}
	return false
}

// container reads an object or an array at s.i, at depth (1 for the
// top-level value).
func (s *shapeScanner) container(depth int) bool {
	closing := byte(']')
	if s.b[s.i] == '{' {
		closing = '}'
	}
	s.i = Space(s.b, s.i+1)
	if s.i < len(s.b) && s.b[s.i] == closing {
		s.i++
		return true
	}
	for {
		s.i = Space(s.b, s.i)
		if closing == '}' && !s.name(depth) {
			return false
		}
		start := s.i
		if !s.value(depth) {
			return false
		}
		if closing == '}' && depth == 1 && s.object {
			s.member(s.key, s.b[start:s.i])
		}
		s.i = Space(s.b, s.i)
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case closing:
			s.i++
			return true
		default:
			return false
		}
	}
}
