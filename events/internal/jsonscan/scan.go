// Package jsonscan is the one JSON scanner of the event catalog: the
// primitives every hand-written reader of event JSON shares (white space,
// strings, numbers, escapes, JSON pointers), and the readers built on them:
// the strict check every event passes (Check), the decoding of plain
// payloads without reflection per value (DecodePlain), the canonical form
// the content hash covers (Canonical), the compaction of an encoded event's
// data (AppendCompact) and the shape of a stored message a replay needs
// (Shape). Each exists because a benchmark beside it shows it
// at least twice as fast as the library way; tests hold each to that way.
package jsonscan

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth is how deeply an event may nest objects and arrays; it is
// events.MaxDepth, and a test there holds the two equal.
const MaxDepth = 32

// Space returns the index of the first byte at or after i that is not JSON
// white space.
func Space(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// FirstByte is the first byte of b after JSON white space, 0 if none.
func FirstByte(b []byte) byte {
	if i := Space(b, 0); i < len(b) {
		return b[i]
	}
	return 0
}

// Literal reports whether b[i:] starts with word.
func Literal(b []byte, i int, word string) bool {
	return len(b)-i >= len(word) && string(b[i:i+len(word)]) == word
}

// Number reads the JSON number at b[i:]. It returns where the number ends
// and whether it is written as an integer (no fraction, no exponent), or
// where it stops being a number and why.
func Number(b []byte, i int) (end int, isInt bool, problem string) {
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

// Str is what String found in a string.
type Str struct {
	// End is the index just after the closing quote; when String reports
	// a problem, where the string stops being one.
	End int
	// Escaped: the string holds escapes; NonASCII: bytes of 0x80 and up.
	Escaped, NonASCII bool
}

// Contents are the string's raw bytes between its quotes, for the start
// String was given.
func (s Str) Contents(b []byte, start int) []byte { return b[start+1 : s.End-1] }

// Problems String reports. ProblemUTF8 is the one a JSON decoder would not
// see: it would take the string, with U+FFFD in place.
const (
	ProblemEnd     = "unexpected end of JSON input"
	ProblemControl = "control character in string"
	ProblemEscape  = "invalid escape in string"
	ProblemHex     = "invalid \\u escape in string"
	ProblemUTF8    = "invalid UTF-8 or unpaired surrogate escape in a JSON string"
)

// String reads the JSON string at b[i] (its opening quote). Strict, it
// refuses invalid UTF-8 and surrogate escapes that are not a pair, as the
// catalog does; otherwise it accepts what json.Valid accepts.
func String(b []byte, i int, strict bool) (Str, string) {
	return scanString(b, i, strict, true)
}

// scanString is String; words says to step over eight plain bytes at a
// time where it can (without, it is the byte-at-a-time reference that
// tests hold the steps to).
func scanString(b []byte, i int, strict, words bool) (Str, string) {
	s := Str{}
	i++
	for i < len(b) {
		// Most of a string is printable ASCII, which needs no more than a
		// look in plainASCII: eight bytes at a time while none of them is
		// special (long runs, such as sealed values' base64, are common).
		for words && i+8 <= len(b) && !special8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && plainASCII[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			s.End = i + 1
			return s, ""
		case c == '\\':
			s.Escaped = true
			end, problem := escape(b, i, strict)
			if problem != "" {
				s.End = end
				return s, problem
			}
			i = end
		case c < 0x20:
			s.End = i
			return s, ProblemControl
		case c < utf8.RuneSelf:
			i++
		case !strict:
			s.NonASCII = true
			i++
		default:
			s.NonASCII = true
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				s.End = i
				return s, ProblemUTF8
			}
			i += size
		}
	}
	s.End = len(b)
	return s, ProblemEnd
}

// special8 reports whether any of the eight bytes of w is not plainASCII:
// a control character (below 0x20), a quote, a backslash or a byte of
// 0x80 and up. Each test is exact for "any byte" (a borrow only runs
// upwards from a byte that matches).
func special8(w uint64) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	q, bs := w^(ones*'"'), w^(ones*'\\')
	return ((q-ones)&^q|(bs-ones)&^bs|(w-ones*0x20)&^w|w)&high != 0
}

// plainASCII holds the bytes that stand for themselves in a JSON string:
// printable ASCII but the quote and the backslash.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// escape reads one escape sequence at b[i] (its backslash), strict: with
// the whole of a surrogate pair, and refusing a surrogate that is not part
// of one. It returns where the escape ends or, with a problem, where it
// went wrong.
func escape(b []byte, i int, strict bool) (int, string) {
	if i+1 >= len(b) {
		return len(b), ProblemEnd
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2, ""
	case 'u':
	default:
		return i + 1, ProblemEscape
	}
	r, ok := Hex4(b[i+2:])
	if !ok {
		return i + 2, ProblemHex
	}
	i += 6
	if !strict {
		return i, ""
	}
	switch {
	case r >= 0xD800 && r < 0xDC00:
		if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
			if lo, ok := Hex4(b[i+2:]); ok && lo >= 0xDC00 && lo < 0xE000 {
				return i + 6, ""
			}
		}
		return i, ProblemUTF8
	case r >= 0xDC00 && r < 0xE000:
		return i, ProblemUTF8
	}
	return i, ""
}

// Hex4 reads the four hex digits of a \u escape.
func Hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 16)
	return rune(n), err == nil
}

var tokenEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// EscapeToken escapes one reference token of a JSON pointer (RFC 6901).
func EscapeToken(s string) string { return tokenEscaper.Replace(s) }

// PathElem is one step of a JSON pointer: an object member name, or an
// array index when Key is nil.
type PathElem struct {
	Key []byte
	Idx int
}

// Pointer is the JSON pointer of path below base.
func Pointer(base string, path []PathElem) string {
	var sb strings.Builder
	sb.WriteString(base)
	for _, e := range path {
		sb.WriteByte('/')
		if e.Key == nil {
			sb.WriteString(strconv.Itoa(e.Idx))
		} else {
			sb.WriteString(EscapeToken(string(e.Key)))
		}
	}
	return sb.String()
}
