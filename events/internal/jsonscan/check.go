package jsonscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Problem is what is wrong at a JSON pointer.
type Problem struct{ Pointer, Detail string }

// Check is the strict pass that encoding/json and the SDK's lenient
// parser leave out. It reports invalid JSON, invalid UTF-8 and lone
// surrogate escapes (which decoders silently turn into U+FFFD), duplicate
// object members (which decoders resolve as "last one wins", so two readers
// could see different events), nesting deeper than limit (at most
// maxCheckDepth), and data after the value. Pointers are prefixed with base.
//
// It is a single pass over the bytes that allocates only for the pointer of
// a problem: every stored event goes through it when ingest and the
// projector read the stream, so it must cost little next to the I/O.
func Check(b []byte, base string, limit int) []Problem {
	c := Checker{b: b, base: base, limit: limit}
	return c.run()
}

// CheckMembers is Check that also returns the members of the
// top-level value when it is an object (nil otherwise), in the same pass.
// c is a zero Checker of the caller's: the members of a typical event
// are held in it and so need no allocation (a checker of checkJSONMembers'
// own could not be returned from).
func CheckMembers(c *Checker, b []byte, base string, limit int) ([]Problem, []Member) {
	c.b, c.base, c.limit, c.collectTop = b, base, limit, true
	ps := c.run()
	if FirstByte(b) != '{' {
		return ps, nil
	}
	return ps, c.collected()
}

// CheckElements is Check that also returns, when the top-level
// value is an array, one entry per element: the element's members when it
// is an object, nil otherwise. It returns nil for anything but an array.
func CheckElements(b []byte, base string, limit int) ([]Problem, [][]Member) {
	c := Checker{b: b, base: base, limit: limit, collecting: true}
	ps := c.run()
	if FirstByte(b) != '[' {
		return ps, nil
	}
	return ps, c.members
}

// MaxCheckDepth is the deepest limit Check takes: a batch's, one level
// more than an event's.
const MaxCheckDepth = MaxDepth + 1

// Checker is the state of one Check, which CheckMembers keeps in the
// caller's memory.
type Checker struct {
	b     []byte
	i     int
	base  string
	limit int
	// path[:npath] leads to the value being read; it becomes a pointer
	// only when a problem is reported. Each level of nesting adds one
	// element, so limit bounds npath. An array in place, not a slice that
	// grows, so that the checker needs no allocation of its own.
	path  [MaxCheckDepth]PathElem
	npath int
	ps    []Problem
	// spaces counts the bytes of white space skipped so far.
	spaces int
	// collectTop says to collect the members of the object at topDepth
	// (in a batch, of the element being read): into top while they fit
	// (ntop counts them), then into more, which holds them all. An array
	// in place again: escape analysis does not tell the checker's fields
	// apart, so any slice or pointer it held to the caller's memory would
	// move that memory to the heap.
	collectTop bool
	top        [topMembers]Member
	ntop       int
	more       []Member
	// members, when collecting is set, collects for each element of the
	// top-level array its members when it is an object (nil otherwise).
	collecting bool
	members    [][]Member
}

// Member is one member of an object: its name and its value as written.
type Member struct {
	Name string
	Raw  []byte
	// Compact says that Raw has no white space outside its strings: the
	// checker skipped none inside it.
	Compact bool
}

// memberName is string(key), without a copy for the names every
// CloudEvent has.
func memberName(key []byte) string {
	for _, n := range eventAttributes {
		if string(key) == n {
			return n
		}
	}
	return string(key)
}

var eventAttributes = [...]string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data"}

// topMembers is room for the members of a typical event.
const topMembers = 12

// topDepth is the depth of the object whose members top collects: the
// top-level value, or each element of the top-level array.
func (c *Checker) topDepth() int {
	if c.collecting {
		return 1
	}
	return 0
}

// addTop records a member of the object at topDepth.
func (c *Checker) addTop(m Member) {
	if c.more == nil && c.ntop < len(c.top) {
		c.top[c.ntop] = m
		c.ntop++
		return
	}
	if c.more == nil {
		c.more = append(make([]Member, 0, 2*len(c.top)), c.top[:]...)
	}
	c.more = append(c.more, m)
}

// collected returns the members addTop recorded, not nil.
func (c *Checker) collected() []Member {
	if c.more != nil {
		return c.more
	}
	return c.top[:c.ntop]
}

// run checks the whole of c.b, as Check does.
func (c *Checker) run() []Problem {
	c.ws()
	if c.i >= len(c.b) {
		return []Problem{{c.base, "unexpected end of JSON input"}}
	}
	if !c.value(0) {
		return c.ps
	}
	c.ws()
	if c.i < len(c.b) {
		return append(c.ps, Problem{c.base, "unexpected data after the JSON value"})
	}
	return c.ps
}

func (c *Checker) ptr() string { return Pointer(c.base, c.path[:c.npath]) }

// fail records a fatal problem at the current value and stops the scan.
func (c *Checker) fail(detail string) bool {
	c.ps = append(c.ps, Problem{c.ptr(), detail})
	return false
}

func (c *Checker) syntax(what string) bool {
	if c.i >= len(c.b) {
		return c.fail("unexpected end of JSON input")
	}
	return c.fail(fmt.Sprintf("invalid JSON at byte %d: %s", c.i+1, what))
}

func (c *Checker) ws() {
	i := Space(c.b, c.i)
	c.spaces += i - c.i
	c.i = i
}

func (c *Checker) value(depth int) bool {
	if c.i >= len(c.b) {
		return c.syntax("")
	}
	switch ch := c.b[c.i]; {
	case ch == '{':
		if depth >= c.limit {
			return c.fail(fmt.Sprintf("nested deeper than %d levels", MaxDepth))
		}
		return c.object(depth)
	case ch == '[':
		if depth >= c.limit {
			return c.fail(fmt.Sprintf("nested deeper than %d levels", MaxDepth))
		}
		return c.array(depth)
	case ch == '"':
		_, ok := c.str(false)
		return ok
	case ch == 't':
		return c.literal("true")
	case ch == 'f':
		return c.literal("false")
	case ch == 'n':
		return c.literal("null")
	case ch == '-' || (ch >= '0' && ch <= '9'):
		return c.number()
	default:
		return c.syntax(fmt.Sprintf("invalid character %s looking for beginning of value", quoteByte(ch)))
	}
}

func quoteByte(ch byte) string {
	if ch < utf8.RuneSelf {
		return strconv.QuoteRune(rune(ch))
	}
	return fmt.Sprintf("byte 0x%02x", ch)
}

func (c *Checker) literal(word string) bool {
	if !Literal(c.b, c.i, word) {
		return c.syntax("invalid literal, expected " + word)
	}
	c.i += len(word)
	return true
}

func (c *Checker) number() bool {
	end, _, problem := Number(c.b, c.i)
	c.i = end
	if problem != "" {
		return c.syntax(problem)
	}
	return true
}

// str reads a string at c.i (on its opening quote). When key is set it
// returns the string's bytes, decoded if it holds escapes, for the
// duplicate-member check; otherwise it returns nil.
func (c *Checker) str(key bool) ([]byte, bool) {
	start := c.i
	st, problem := String(c.b, c.i, true)
	c.i = st.End
	switch problem {
	case "":
	case ProblemUTF8:
		return nil, c.fail(problem)
	case ProblemEnd:
		return nil, c.syntax("")
	default:
		return nil, c.syntax(problem)
	}
	if !key {
		return nil, true
	}
	if !st.Escaped {
		return st.Contents(c.b, start), true
	}
	var s string
	if err := json.Unmarshal(c.b[start:c.i], &s); err != nil {
		return nil, c.syntax("invalid string")
	}
	return []byte(s), true
}

func (c *Checker) object(depth int) bool {
	c.i++ // {
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == '}' {
		c.i++
		return true
	}
	// Objects in events are small: a linear search beats a map, and the
	// names of a typical one fit on the stack.
	var names [16][]byte
	keys := names[:0]
	for {
		c.ws()
		if c.i >= len(c.b) || c.b[c.i] != '"' {
			return c.syntax("object member name expected")
		}
		key, ok := c.str(true)
		if !ok {
			return false
		}
		if key == nil {
			key = []byte{}
		}
		c.path[c.npath] = PathElem{Key: key}
		c.npath++
		for _, k := range keys {
			if bytes.Equal(k, key) {
				c.ps = append(c.ps, Problem{c.ptr(), "duplicate member " + strconv.Quote(string(key))})
				break
			}
		}
		keys = append(keys, key)
		c.ws()
		if c.i >= len(c.b) || c.b[c.i] != ':' {
			return c.syntax("':' expected after object member name")
		}
		c.i++
		c.ws()
		start, spaces := c.i, c.spaces
		if !c.value(depth + 1) {
			return false
		}
		if c.collectTop && depth == c.topDepth() {
			c.addTop(Member{memberName(key), c.b[start:c.i], c.spaces == spaces})
		}
		c.npath--
		c.ws()
		if c.i >= len(c.b) {
			return c.syntax("")
		}
		switch c.b[c.i] {
		case ',':
			c.i++
		case '}':
			c.i++
			return true
		default:
			return c.syntax("',' or '}' expected after object member")
		}
	}
}

func (c *Checker) array(depth int) bool {
	c.i++ // [
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == ']' {
		c.i++
		return true
	}
	for idx := 0; ; idx++ {
		c.path[c.npath] = PathElem{Idx: idx}
		c.npath++
		c.ws()
		collect := depth == 0 && c.collecting
		if collect {
			c.collectTop = c.i < len(c.b) && c.b[c.i] == '{'
			c.ntop, c.more = 0, nil
		}
		if !c.value(depth + 1) {
			return false
		}
		if collect {
			// The element's own copy: the next one reuses the buffer.
			var ms []Member
			if c.collectTop {
				ms = make([]Member, len(c.collected()))
				copy(ms, c.collected())
			}
			c.members = append(c.members, ms)
			c.collectTop = false
		}
		c.npath--
		c.ws()
		if c.i >= len(c.b) {
			return c.syntax("")
		}
		switch c.b[c.i] {
		case ',':
			c.i++
		case ']':
			c.i++
			return true
		default:
			return c.syntax("',' or ']' expected after array element")
		}
	}
}
