// Package fastschema is the fast path of the catalog's JSON Schema
// validation: a type's schema compiled into a small tree that walks the raw
// data once and answers "certainly valid" or "not sure".
package fastschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"kk.dk/jobogfamilie/events/internal/jsonscan"
)

// The fast path of schema validation.
//
// jsonschema decodes the data into maps and json.Numbers and walks them,
// which costs more than everything else Validate does. Nearly all events
// are valid, so a cheaper proof of validity pays: fastSchema is a type's
// JSON Schema compiled from the same embedded bytes into a small tree that
// walks the raw data once, without decoding it, and answers "certainly
// valid" or "not sure". Only "certainly valid" skips jsonschema; "not sure"
// runs jsonschema as before, so every problem report stays jsonschema's.
//
// The fast path must therefore never say valid where jsonschema would not.
// It is conservative twice over: a schema that uses any keyword or form the
// fast compiler does not fully understand gets no fast path at all, and the
// walk gives up on anything unusual in the data (exponents, long numbers,
// escapes where a string's value matters, repeated members, invalid
// UTF-8), leaving it to jsonschema.

// Schema is the fast validator of one type's data.
type Schema struct {
	root *fastNode
}

// Types of a JSON value, as a set; the zero set means any type.
type fastTypes uint8

const (
	fastNull fastTypes = 1 << iota
	fastBoolean
	fastObject
	fastArray
	fastString
	fastNumber
	fastInteger
)

var fastTypeNames = map[string]fastTypes{
	"null": fastNull, "boolean": fastBoolean, "object": fastObject, "array": fastArray,
	"string": fastString, "number": fastNumber, "integer": fastInteger,
}

// fastNode is one compiled (sub)schema. Each keyword applies only to values
// of its own JSON type, as in JSON Schema.
type fastNode struct {
	// never is the schema false: no value is certainly valid.
	never bool
	types fastTypes

	// strings
	minLength, maxLength int // -1: none
	pattern              func([]byte) bool
	notPatterns          []func([]byte) bool // "not": {"pattern": ...}
	hasEnum              bool
	enum                 []string
	date                 bool // "format": "date", asserted

	// numbers; the bounds are integers
	hasMin, hasMax bool
	min, max       int64

	// objects
	props      []fastProp
	required   uint64 // bit i: props[i] is required
	addlDenied bool   // "additionalProperties": false
	addl       *fastNode
	// keyCount is how many uniqueness keys a value of this schema has when
	// it is an item of an array with uniqueItems: 1 for a string, and for
	// an object the props with keySlot >= 0.
	keyCount int

	// arrays
	items              *fastNode
	minItems, maxItems int // -1: none
	uniqueItems        bool
}

type fastProp struct {
	name string
	node *fastNode
	// keySlot is where this property's value goes among the object's
	// uniqueness keys, or -1.
	keySlot int
}

// maxFastProps is how many properties an object schema may have for the
// walk to track the required ones in one uint64.
const maxFastProps = 64

// maxFastKeys bounds the uniqueness keys of one object.
const maxFastKeys = 4

// fastIntDigits is the most digits of a number's integer part the walk
// reads; longer numbers are jsonschema's. 15 digits fit an int64 exactly.
const fastIntDigits = 15

// fastBound is the largest bound (minimum, maximum) the compiler accepts,
// so that the walk's integer arithmetic cannot overflow.
const fastBound = 1e15

// annotations are keywords that do not assert anything.
var fastAnnotations = map[string]bool{
	"title": true, "description": true, "$comment": true, "examples": true, "default": true,
	"deprecated": true, "readOnly": true, "writeOnly": true,
	// The catalog's own data in the schemas (owners, terms, titles,
	// personal fields), which no validator asserts.
	"x-jf": true,
}

const draft2020 = "https://json-schema.org/draft/2020-12/schema"

// Compile compiles the JSON Schema of a type, as held in the embedded
// files, into its fast validator, or says why it cannot. The schema is read
// by jsonschema.UnmarshalJSON, as jsonschema's loader reads it, so that both
// see the same schema. matchers are hand-written matchers of patterns,
// each equivalent to the pattern's regexp; other patterns use the regexp.
func Compile(schema []byte, matchers map[string]func([]byte) bool) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, err
	}
	c := compiler{matchers: matchers}
	root, err := c.node(doc, "", true)
	if err != nil {
		return nil, err
	}
	return &Schema{root: root}, nil
}

type compiler struct {
	matchers map[string]func([]byte) bool
}

var regexps sync.Map // pattern → func([]byte) bool

// regexp compiles a pattern as jsonschema v6 does by default, with
// regexp.Compile of the standard library, and returns its matcher (the
// hand-written one when c has one).
func (c compiler) regexp(v any) (func([]byte) bool, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("pattern %v is not a string", v)
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, err
	}
	if m, ok := c.matchers[s]; ok {
		return m, nil
	}
	if m, ok := regexps.Load(s); ok {
		return m.(func([]byte) bool), nil
	}
	regexps.Store(s, re.Match)
	return re.Match, nil
}

// fastCount reads a non-negative integer keyword value (minLength, ...).
func fastCount(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(string(n))
	return i, err == nil && i >= 0 && i <= 1<<30
}

// fastInt reads an integer bound (minimum, maximum).
func fastInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil && i >= -fastBound && i <= fastBound
}

func (c compiler) node(v any, at string, root bool) (*fastNode, error) {
	switch v := v.(type) {
	case bool:
		return &fastNode{never: !v, minLength: -1, maxLength: -1, minItems: -1, maxItems: -1}, nil
	case map[string]any:
		return c.object(v, at, root)
	}
	return nil, fmt.Errorf("%s: a schema must be an object or a boolean", at)
}

func (c compiler) object(s map[string]any, at string, root bool) (*fastNode, error) {
	n := &fastNode{minLength: -1, maxLength: -1, minItems: -1, maxItems: -1}
	unsupported := func(kw string) error {
		return fmt.Errorf("%s: the fast path does not support %s: %v", at, kw, s[kw])
	}
	var props map[string]any
	var required []any
	for kw, val := range s {
		switch kw {
		case "$schema":
			if !root || val != draft2020 {
				return nil, unsupported(kw)
			}
		case "$id":
			if _, ok := val.(string); !ok || !root {
				return nil, unsupported(kw)
			}
		case "type":
			switch t := val.(type) {
			case string:
				n.types = fastTypeNames[t]
				if n.types == 0 {
					return nil, unsupported(kw)
				}
			case []any:
				for _, e := range t {
					name, _ := e.(string)
					if fastTypeNames[name] == 0 {
						return nil, unsupported(kw)
					}
					n.types |= fastTypeNames[name]
				}
				if n.types == 0 {
					return nil, unsupported(kw)
				}
			default:
				return nil, unsupported(kw)
			}
		case "properties":
			var ok bool
			if props, ok = val.(map[string]any); !ok {
				return nil, unsupported(kw)
			}
		case "required":
			var ok bool
			if required, ok = val.([]any); !ok {
				return nil, unsupported(kw)
			}
		case "additionalProperties":
			if b, ok := val.(bool); ok && !b {
				n.addlDenied = true
				break
			}
			addl, err := c.node(val, at+"/additionalProperties", false)
			if err != nil {
				return nil, err
			}
			n.addl = addl
		case "pattern":
			re, err := c.regexp(val)
			if err != nil {
				return nil, unsupported(kw)
			}
			n.pattern = re
		case "not":
			// Only "not": {"pattern": ...}, the form the schemas use to keep
			// CPR numbers out: for it the fast path can tell "certainly
			// invalid" of the inner schema, which "not" needs.
			inner, ok := val.(map[string]any)
			if !ok {
				return nil, unsupported(kw)
			}
			var re func([]byte) bool
			for ikw, ival := range inner {
				switch {
				case ikw == "pattern":
					var err error
					if re, err = c.regexp(ival); err != nil {
						return nil, unsupported(kw)
					}
				case fastAnnotations[ikw]:
				default:
					return nil, unsupported(kw)
				}
			}
			if re == nil {
				return nil, unsupported(kw)
			}
			n.notPatterns = append(n.notPatterns, re)
		case "enum":
			vals, ok := val.([]any)
			if !ok || len(vals) == 0 {
				return nil, unsupported(kw)
			}
			n.hasEnum = true
			for _, e := range vals {
				str, ok := e.(string)
				if !ok {
					return nil, unsupported(kw)
				}
				n.enum = append(n.enum, str)
			}
		case "minLength", "maxLength", "minItems", "maxItems":
			c, ok := fastCount(val)
			if !ok {
				return nil, unsupported(kw)
			}
			switch kw {
			case "minLength":
				n.minLength = c
			case "maxLength":
				n.maxLength = c
			case "minItems":
				n.minItems = c
			case "maxItems":
				n.maxItems = c
			}
		case "minimum", "maximum":
			b, ok := fastInt(val)
			if !ok {
				return nil, unsupported(kw)
			}
			if kw == "minimum" {
				n.hasMin, n.min = true, b
			} else {
				n.hasMax, n.max = true, b
			}
		case "format":
			if val != "date" {
				return nil, unsupported(kw)
			}
			n.date = true
		case "items":
			items, err := c.node(val, at+"/items", false)
			if err != nil {
				return nil, err
			}
			n.items = items
		case "uniqueItems":
			b, ok := val.(bool)
			if !ok {
				return nil, unsupported(kw)
			}
			n.uniqueItems = b
		default:
			if !fastAnnotations[kw] {
				return nil, unsupported(kw)
			}
		}
	}

	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	slices.Sort(names) // a stable layout, whatever the map order
	if len(names) > maxFastProps {
		return nil, fmt.Errorf("%s: more than %d properties", at, maxFastProps)
	}
	for _, name := range names {
		pn, err := c.node(props[name], at+"/properties/"+jsonscan.EscapeToken(name), false)
		if err != nil {
			return nil, err
		}
		n.props = append(n.props, fastProp{name: name, node: pn, keySlot: -1})
	}
	for _, r := range required {
		name, ok := r.(string)
		i := slices.IndexFunc(n.props, func(p fastProp) bool { return p.name == name })
		if !ok || i < 0 {
			// A required member without a schema of its own: not worth
			// tracking for the schemas of the catalog.
			return nil, fmt.Errorf("%s: required %v is not among the properties", at, r)
		}
		n.required |= 1 << i
	}

	// Uniqueness keys: a string is its own key; an object is told apart
	// from another by its required string members.
	switch n.types {
	case fastString:
		n.keyCount = 1
	case fastObject:
		for i := range n.props {
			p := &n.props[i]
			if n.required&(1<<i) != 0 && p.node.types == fastString && !p.node.never && n.keyCount < maxFastKeys {
				p.keySlot = n.keyCount
				n.keyCount++
			}
		}
	}
	if n.uniqueItems && (n.items == nil || n.items.keyCount == 0) {
		return nil, fmt.Errorf("%s: uniqueItems on items the fast path cannot tell apart", at)
	}
	return n, nil
}

// Valid reports whether data is certainly valid against the schema; false
// means "not sure".
func (f *Schema) Valid(data []byte) bool {
	w := fastWalker{b: data}
	w.ws()
	if !w.value(f.root, nil) {
		return false
	}
	w.ws()
	return w.i == len(w.b)
}

// fastWalker reads one JSON value against a fastNode. Every method returns
// false for "not sure", whether the data is invalid or only unusual.
type fastWalker struct {
	b     []byte
	i     int
	depth int
	// scratch holds a string's value with its escapes decoded.
	scratch []byte
}

// span is a range of the data: an unescaped string's contents.
type span struct{ start, end int32 }

// maxFastDepth bounds the nesting the walk follows; jsonscan.Check has
// refused anything deeper before the data is validated.
const maxFastDepth = jsonscan.MaxDepth + 1

func (w *fastWalker) ws() { w.i = jsonscan.Space(w.b, w.i) }

// value reads the value at w.i. When key is not nil the value is an item
// of an array with uniqueItems, and it writes its uniqueness keys there.
func (w *fastWalker) value(n *fastNode, key []span) bool {
	if n.never || w.i >= len(w.b) {
		return false
	}
	switch c := w.b[w.i]; {
	case c == '"':
		return w.string(n, key)
	case c == '{':
		return w.object(n, key)
	case c == '[':
		return w.array(n)
	case c == '-' || (c >= '0' && c <= '9'):
		return w.number(n)
	case c == 't':
		return w.literal("true", n, fastBoolean)
	case c == 'f':
		return w.literal("false", n, fastBoolean)
	case c == 'n':
		return w.literal("null", n, fastNull)
	}
	return false
}

// scalarOK applies what a schema says to a value that is neither a string
// nor a number: its type, and that enum and not (only ever strings and
// patterns here) refuse it.
func (n *fastNode) scalarOK(t fastTypes) bool {
	return (n.types == 0 || n.types&t != 0) && !n.hasEnum && len(n.notPatterns) == 0
}

func (w *fastWalker) literal(word string, n *fastNode, t fastTypes) bool {
	if !jsonscan.Literal(w.b, w.i, word) {
		return false
	}
	w.i += len(word)
	return n.scalarOK(t)
}

func (w *fastWalker) number(n *fastNode) bool {
	neg := false
	if w.b[w.i] == '-' {
		neg = true
		w.i++
	}
	var v int64
	digits := 0
	for w.i < len(w.b) && w.b[w.i] >= '0' && w.b[w.i] <= '9' {
		if digits > 0 && v == 0 {
			return false // a leading zero
		}
		v = v*10 + int64(w.b[w.i]-'0')
		digits++
		if digits > fastIntDigits {
			return false
		}
		w.i++
	}
	if digits == 0 {
		return false
	}
	hasFrac, fracNonZero := false, false
	if w.i < len(w.b) && w.b[w.i] == '.' {
		hasFrac = true
		w.i++
		start := w.i
		for w.i < len(w.b) && w.b[w.i] >= '0' && w.b[w.i] <= '9' {
			fracNonZero = fracNonZero || w.b[w.i] != '0'
			w.i++
		}
		if w.i == start {
			return false
		}
	}
	if w.i < len(w.b) && (w.b[w.i] == 'e' || w.b[w.i] == 'E') {
		return false // exponents are jsonschema's
	}
	if n.hasEnum || len(n.notPatterns) > 0 {
		return false
	}
	// A number with a fraction part, even .0, is left to jsonschema where
	// only integers are allowed.
	if n.types != 0 && n.types&fastNumber == 0 && (n.types&fastInteger == 0 || hasFrac) {
		return false
	}
	// For an integer bound m, x >= m iff floor(x) >= m, and x <= m iff
	// ceil(x) <= m.
	if neg {
		v = -v
	}
	floor, ceil := v, v
	if fracNonZero {
		if neg {
			floor--
		} else {
			ceil++
		}
	}
	return (!n.hasMin || floor >= n.min) && (!n.hasMax || ceil <= n.max)
}

// str reads a string at w.i (on its opening quote) and returns its raw
// contents, whether they hold escapes, and whether they are ASCII. It
// gives up where jsonscan.Check would refuse the string.
func (w *fastWalker) str() (start, end int, escaped, ascii, ok bool) {
	st, problem := jsonscan.String(w.b, w.i, true)
	if problem != "" {
		return 0, 0, false, false, false
	}
	start, end = w.i+1, st.End-1
	w.i = st.End
	return start, end, st.Escaped, !st.NonASCII, true
}

// unescape decodes the escapes of a string's raw contents into w.scratch as
// encoding/json does, except that it gives up on an unpaired surrogate,
// which encoding/json would turn into U+FFFD.
func (w *fastWalker) unescape(s []byte) ([]byte, bool) {
	out := w.scratch[:0]
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return nil, false
		}
		switch s[i+1] {
		case '"', '\\', '/':
			out = append(out, s[i+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := jsonscan.Hex4(s[i+2:])
			if !ok {
				return nil, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if i+1 >= len(s) || s[i] != '\\' || s[i+1] != 'u' {
					return nil, false
				}
				lo, ok := jsonscan.Hex4(s[i+2:])
				if !ok {
					return nil, false
				}
				r = utf16.DecodeRune(r, lo)
				if r == utf8.RuneError {
					return nil, false
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, false
		}
		i += 2
	}
	w.scratch = out
	return out, true
}

func (w *fastWalker) string(n *fastNode, key []span) bool {
	start, end, escaped, ascii, ok := w.str()
	if !ok || (n.types != 0 && n.types&fastString == 0) {
		return false
	}
	if key != nil {
		if escaped {
			return false
		}
		key[0] = span{int32(start), int32(end)}
	}
	if n.minLength < 0 && n.maxLength < 0 && n.pattern == nil && len(n.notPatterns) == 0 && !n.hasEnum && !n.date {
		return true
	}
	s := w.b[start:end]
	if escaped {
		if s, ok = w.unescape(s); !ok {
			return false
		}
	}
	if n.minLength >= 0 || n.maxLength >= 0 {
		// JSON Schema counts code points.
		count := len(s)
		if !ascii || escaped {
			count = runeCount(s)
		}
		if count < n.minLength || (n.maxLength >= 0 && count > n.maxLength) {
			return false
		}
	}
	if n.hasEnum && !slices.ContainsFunc(n.enum, func(e string) bool { return string(s) == e }) {
		return false
	}
	if n.date && !IsDate(s) {
		return false
	}
	if n.pattern != nil && !n.pattern(s) {
		return false
	}
	for _, match := range n.notPatterns {
		if match(s) {
			return false
		}
	}
	return true
}

// runeCount is utf8.RuneCount(s) for s that is valid UTF-8, as str and
// unescape make sure: the bytes that begin a code point. utf8.RuneCount
// copies an s of more than 32 bytes into a new string first.
func runeCount(s []byte) int {
	n := 0
	for _, c := range s {
		if c&0xC0 != 0x80 {
			n++
		}
	}
	return n
}

// IsDate reports whether s is a date as jsonschema v6 checks format
// "date": time.Parse("2006-01-02", s) succeeds exactly for YYYY-MM-DD with a
// month of 01-12 and a day that month has (TestIsDateIsTimeParse holds it
// to that).
func IsDate(s []byte) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s[:4]) || !digits(s[5:7]) || !digits(s[8:]) {
		return false
	}
	year := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	month := int(s[5]-'0')*10 + int(s[6]-'0')
	day := int(s[8]-'0')*10 + int(s[9]-'0')
	if month < 1 || month > 12 || day < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month-1]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		days = 29
	}
	return day <= days
}

func digits(s []byte) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (w *fastWalker) object(n *fastNode, key []span) bool {
	if n.types != 0 && n.types&fastObject == 0 || n.hasEnum || len(n.notPatterns) > 0 {
		return false
	}
	if w.depth++; w.depth > maxFastDepth {
		return false
	}
	w.i++ // {
	w.ws()
	var seen uint64
	if w.i < len(w.b) && w.b[w.i] == '}' {
		w.i++
	} else {
		for {
			w.ws()
			if w.i >= len(w.b) || w.b[w.i] != '"' {
				return false
			}
			start, end, escaped, _, ok := w.str()
			if !ok || escaped {
				return false
			}
			name := w.b[start:end]
			w.ws()
			if w.i >= len(w.b) || w.b[w.i] != ':' {
				return false
			}
			w.i++
			w.ws()
			pi := -1
			for j := range n.props {
				if string(name) == n.props[j].name {
					pi = j
					break
				}
			}
			switch {
			case pi >= 0:
				if seen&(1<<pi) != 0 {
					return false // a repeated member
				}
				seen |= 1 << pi
				p := &n.props[pi]
				var pkey []span
				if key != nil && p.keySlot >= 0 {
					pkey = key[p.keySlot : p.keySlot+1]
				}
				if !w.value(p.node, pkey) {
					return false
				}
			case n.addlDenied:
				return false
			case n.addl != nil:
				if !w.value(n.addl, nil) {
					return false
				}
			default:
				if !w.value(&anyValue, nil) {
					return false
				}
			}
			w.ws()
			if w.i >= len(w.b) {
				return false
			}
			if w.b[w.i] == '}' {
				w.i++
				break
			}
			if w.b[w.i] != ',' {
				return false
			}
			w.i++
		}
	}
	w.depth--
	return n.required&^seen == 0
}

// anyValue is the schema true.
var anyValue = fastNode{minLength: -1, maxLength: -1, minItems: -1, maxItems: -1}

// maxFastKeySpans is how many uniqueness keys of one array the walk keeps.
const maxFastKeySpans = 128

func (w *fastWalker) array(n *fastNode) bool {
	if n.types != 0 && n.types&fastArray == 0 || n.hasEnum || len(n.notPatterns) > 0 {
		return false
	}
	if w.depth++; w.depth > maxFastDepth {
		return false
	}
	items := n.items
	if items == nil {
		items = &anyValue
	}
	var ok bool
	if n.uniqueItems {
		var keys [maxFastKeySpans]span
		ok = w.items(n, items, keys[:])
	} else {
		ok = w.items(n, items, nil)
	}
	w.depth--
	return ok
}

// items reads the items of an array at w.i (on its '['). With uniqueItems,
// keys has room for the items' uniqueness keys.
func (w *fastWalker) items(n, items *fastNode, keys []span) bool {
	k := 0
	if keys != nil {
		k = items.keyCount
	}
	w.i++ // [
	w.ws()
	count := 0
	if w.i < len(w.b) && w.b[w.i] == ']' {
		w.i++
	} else {
		for {
			w.ws()
			var key []span
			if k > 0 {
				if (count+1)*k > len(keys) {
					return false
				}
				key = keys[count*k : (count+1)*k]
			}
			if !w.value(items, key) {
				return false
			}
			count++
			w.ws()
			if w.i >= len(w.b) {
				return false
			}
			if w.b[w.i] == ']' {
				w.i++
				break
			}
			if w.b[w.i] != ',' {
				return false
			}
			w.i++
		}
	}
	if count < n.minItems || (n.maxItems >= 0 && count > n.maxItems) {
		return false
	}
	for i := 1; i < count && k > 0; i++ {
		for j := 0; j < i; j++ {
			if !w.differ(keys[i*k:(i+1)*k], keys[j*k:(j+1)*k]) {
				return false
			}
		}
	}
	return true
}

// differ reports whether two items are certainly different: whether one of
// their keys, unescaped strings, differs.
func (w *fastWalker) differ(a, b []span) bool {
	for i := range a {
		if !bytes.Equal(w.b[a[i].start:a[i].end], w.b[b[i].start:b[i].end]) {
			return true
		}
	}
	return false
}
