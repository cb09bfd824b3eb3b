package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// checkJSON is the strict pass that encoding/json and the SDK's lenient
// parser leave out. It reports invalid JSON, invalid UTF-8 and lone
// surrogate escapes (which decoders silently turn into U+FFFD), duplicate
// object members (which decoders resolve as "last one wins", so two readers
// could see different events), nesting deeper than limit (at most
// maxCheckDepth), and data after the value. Pointers are prefixed with base.
//
// It is a single pass over the bytes that allocates only for the pointer of
// a problem: every stored event goes through it when ingest and the
// projector read the stream, so it must cost little next to the I/O.
func checkJSON(b []byte, base string, limit int) []Problem {
	c := jsonChecker{b: b, base: base, limit: limit}
	return c.run()
}

// checkJSONMembers is checkJSON that also returns the members of the
// top-level value when it is an object (nil otherwise), in the same pass.
// c is a zero jsonChecker of the caller's: the members of a typical event
// are held in it and so need no allocation (a checker of checkJSONMembers'
// own could not be returned from).
func checkJSONMembers(c *jsonChecker, b []byte, base string, limit int) ([]Problem, []member) {
	c.b, c.base, c.limit, c.collectTop = b, base, limit, true
	ps := c.run()
	if firstByte(b) != '{' {
		return ps, nil
	}
	return ps, c.collected()
}

// checkJSONElements is checkJSON that also returns, when the top-level
// value is an array, one entry per element: the element's members when it
// is an object, nil otherwise. It returns nil for anything but an array.
func checkJSONElements(b []byte, base string, limit int) ([]Problem, [][]member) {
	c := jsonChecker{b: b, base: base, limit: limit, collecting: true}
	ps := c.run()
	if firstByte(b) != '[' {
		return ps, nil
	}
	return ps, c.members
}

// maxCheckDepth is the deepest limit checkJSON takes: a batch's, one level
// more than an event's.
const maxCheckDepth = MaxDepth + 1

type jsonChecker struct {
	b     []byte
	i     int
	base  string
	limit int
	// path[:npath] leads to the value being read; it becomes a pointer
	// only when a problem is reported. Each level of nesting adds one
	// element, so limit bounds npath. An array in place, not a slice that
	// grows, so that the checker needs no allocation of its own.
	path  [maxCheckDepth]pathElem
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
	top        [topMembers]member
	ntop       int
	more       []member
	// members, when collecting is set, collects for each element of the
	// top-level array its members when it is an object (nil otherwise).
	collecting bool
	members    [][]member
}

// member is one member of an object: its name and its value as written.
type member struct {
	name string
	raw  []byte
	// compact says that raw has no white space outside its strings, as
	// compactJSON would find: the checker skipped none inside it.
	compact bool
}

// memberName is string(key), without a copy for the names every event has.
func memberName(key []byte) string {
	switch string(key) {
	case attrSpecVersion:
		return attrSpecVersion
	case attrID:
		return attrID
	case attrSource:
		return attrSource
	case attrType:
		return attrType
	case attrSubject:
		return attrSubject
	case attrTime:
		return attrTime
	case attrDataContentType:
		return attrDataContentType
	case attrDataSchema:
		return attrDataSchema
	case attrData:
		return attrData
	}
	return string(key)
}

// topMembers is room for the members of a typical event.
const topMembers = 12

// topDepth is the depth of the object whose members top collects: the
// top-level value, or each element of the top-level array.
func (c *jsonChecker) topDepth() int {
	if c.collecting {
		return 1
	}
	return 0
}

// addTop records a member of the object at topDepth.
func (c *jsonChecker) addTop(m member) {
	if c.more == nil && c.ntop < len(c.top) {
		c.top[c.ntop] = m
		c.ntop++
		return
	}
	if c.more == nil {
		c.more = append(make([]member, 0, 2*len(c.top)), c.top[:]...)
	}
	c.more = append(c.more, m)
}

// collected returns the members addTop recorded, not nil.
func (c *jsonChecker) collected() []member {
	if c.more != nil {
		return c.more
	}
	return c.top[:c.ntop]
}

// run checks the whole of c.b, as checkJSON does.
func (c *jsonChecker) run() []Problem {
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

// pathElem is an object member name, or an array index when key is nil.
type pathElem struct {
	key []byte
	idx int
}

func (c *jsonChecker) ptr() string {
	var sb strings.Builder
	sb.WriteString(c.base)
	for _, e := range c.path[:c.npath] {
		sb.WriteByte('/')
		if e.key == nil {
			sb.WriteString(strconv.Itoa(e.idx))
		} else {
			sb.WriteString(escapeToken(string(e.key)))
		}
	}
	return sb.String()
}

// fail records a fatal problem at the current value and stops the scan.
func (c *jsonChecker) fail(detail string) bool {
	c.ps = append(c.ps, Problem{c.ptr(), detail})
	return false
}

func (c *jsonChecker) syntax(what string) bool {
	if c.i >= len(c.b) {
		return c.fail("unexpected end of JSON input")
	}
	return c.fail(fmt.Sprintf("invalid JSON at byte %d: %s", c.i+1, what))
}

func (c *jsonChecker) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
			c.spaces++
		default:
			return
		}
	}
}

func (c *jsonChecker) value(depth int) bool {
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

func (c *jsonChecker) literal(word string) bool {
	if !bytes.HasPrefix(c.b[c.i:], []byte(word)) {
		return c.syntax("invalid literal, expected " + word)
	}
	c.i += len(word)
	return true
}

func (c *jsonChecker) number() bool {
	end, _, problem := scanNumber(c.b, c.i)
	c.i = end
	if problem != "" {
		return c.syntax(problem)
	}
	return true
}

// scanNumber reads the JSON number at b[i:]. It returns where the number
// ends and whether it is written as an integer (no fraction, no exponent),
// or where it stops being a number and why.
func scanNumber(b []byte, i int) (end int, isInt bool, problem string) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	default:
		start := i
		if i = skipDigits(b, i); i == start {
			return i, false, "invalid number"
		}
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		isInt = false
		start := i + 1
		if i = skipDigits(b, start); i == start {
			return i, false, "invalid number: digits expected after the decimal point"
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		if i = skipDigits(b, i); i == start {
			return i, false, "invalid number: digits expected in the exponent"
		}
	}
	return i, isInt, ""
}

// skipDigits returns the index of the first byte at or after i that is not
// a decimal digit.
func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// str reads a string at c.i (on its opening quote). When key is set it
// returns the string's bytes, decoded if it holds escapes, for the
// duplicate-member check; otherwise it returns nil.
func (c *jsonChecker) str(key bool) ([]byte, bool) {
	start := c.i
	c.i++
	escaped := false
	for c.i < len(c.b) {
		// Most of a string is printable ASCII, which needs no more than
		// a look in plainASCII, and a local index (c.i is memory).
		i := c.i
		for i < len(c.b) && plainASCII[c.b[i]] {
			i++
		}
		c.i = i
		if c.i >= len(c.b) {
			break
		}
		ch := c.b[c.i]
		switch {
		case ch == '"':
			c.i++
			if !key {
				return nil, true
			}
			raw := c.b[start+1 : c.i-1]
			if !escaped {
				return raw, true
			}
			var s string
			if err := json.Unmarshal(c.b[start:c.i], &s); err != nil {
				return nil, c.syntax("invalid string")
			}
			return []byte(s), true
		case ch == '\\':
			escaped = true
			if !c.escape() {
				return nil, false
			}
		case ch < 0x20:
			return nil, c.syntax("control character in string")
		case ch < utf8.RuneSelf:
			c.i++
		default:
			r, size := utf8.DecodeRune(c.b[c.i:])
			if r == utf8.RuneError && size <= 1 {
				return nil, c.fail("invalid UTF-8 or unpaired surrogate escape in a JSON string")
			}
			c.i += size
		}
	}
	return nil, c.syntax("")
}

// plainASCII holds the bytes that stand for themselves in a JSON string:
// printable ASCII but the quote and the backslash.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// escape reads one escape sequence at c.i (on its backslash), including a
// whole surrogate pair; a surrogate that is not part of a pair is refused.
func (c *jsonChecker) escape() bool {
	if c.i+1 >= len(c.b) {
		c.i = len(c.b)
		return c.syntax("")
	}
	switch c.b[c.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		c.i += 2
		return true
	case 'u':
	default:
		c.i++
		return c.syntax("invalid escape in string")
	}
	r, ok := hex4(c.b[c.i+2:])
	if !ok {
		c.i += 2
		return c.syntax("invalid \\u escape in string")
	}
	c.i += 6
	switch {
	case r >= 0xD800 && r < 0xDC00:
		if c.i+1 < len(c.b) && c.b[c.i] == '\\' && c.b[c.i+1] == 'u' {
			if lo, ok := hex4(c.b[c.i+2:]); ok && lo >= 0xDC00 && lo < 0xE000 {
				c.i += 6
				return true
			}
		}
		return c.fail("invalid UTF-8 or unpaired surrogate escape in a JSON string")
	case r >= 0xDC00 && r < 0xE000:
		return c.fail("invalid UTF-8 or unpaired surrogate escape in a JSON string")
	}
	return true
}

func (c *jsonChecker) object(depth int) bool {
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
		c.path[c.npath] = pathElem{key: key}
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
			c.addTop(member{memberName(key), c.b[start:c.i], c.spaces == spaces})
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

func (c *jsonChecker) array(depth int) bool {
	c.i++ // [
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == ']' {
		c.i++
		return true
	}
	for idx := 0; ; idx++ {
		c.path[c.npath] = pathElem{idx: idx}
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
			var ms []member
			if c.collectTop {
				ms = make([]member, len(c.collected()))
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
