package shred

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"kk.dk/jobogfamilie/events"
)

// The stored form of an event is the posted one with as little changed as
// possible: sealing replaces the value of each personal string member by
// its ciphertext and appends the jfkeyid member; opening puts the posted
// string token back and removes jfkeyid. Every other byte (member order,
// white space, escapes, the other members' values) stays as it is, so that
// the audit replay shows what the department sent, byte for byte.

// member is one member of a JSON object, by byte offsets into the
// document: the name token starts at nameStart, the value is
// doc[valStart:valEnd]. name is the name's text: a slice of the document
// itself unless the name holds an escape, so that reading an event's
// members allocates nothing per member.
type member struct {
	name                        []byte
	nameStart, valStart, valEnd int
}

// is reports whether the member is named s.
func (m member) is(s string) bool { return string(m.name) == s }

var errShape = errors.New("not a JSON object")

// members are the members of the JSON object whose '{' is at or after
// doc[i] (after white space), in the order written. It reads the members'
// names and skips their values; it checks the structure it walks, not
// every byte of the values (the readers validate the event after it).
func members(doc []byte, i int) ([]member, error) {
	// Most objects of the catalog have fewer members than this: one
	// allocation for the slice.
	return appendMembers(make([]member, 0, 12), doc, i)
}

// appendMembers is members appended to out, whose spare capacity it uses.
func appendMembers(out []member, doc []byte, i int) ([]member, error) {
	i = skipSpace(doc, i)
	if i >= len(doc) || doc[i] != '{' {
		return nil, errShape
	}
	i = skipSpace(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		return out, nil
	}
	for {
		if i >= len(doc) || doc[i] != '"' {
			return nil, errShape
		}
		m := member{nameStart: i}
		end, ok := skipString(doc, i)
		if !ok {
			return nil, errShape
		}
		if name := doc[i+1 : end-1]; bytes.IndexByte(name, '\\') < 0 {
			m.name = name
		} else {
			var s string
			if err := json.Unmarshal(doc[i:end], &s); err != nil {
				return nil, errShape
			}
			m.name = []byte(s)
		}
		i = skipSpace(doc, end)
		if i >= len(doc) || doc[i] != ':' {
			return nil, errShape
		}
		m.valStart = skipSpace(doc, i+1)
		if m.valEnd, ok = skipValue(doc, m.valStart); !ok {
			return nil, errShape
		}
		out = append(out, m)
		i = skipSpace(doc, m.valEnd)
		if i >= len(doc) {
			return nil, errShape
		}
		switch doc[i] {
		case ',':
			i = skipSpace(doc, i+1)
		case '}':
			return out, nil
		default:
			return nil, errShape
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString is the end of the JSON string token whose quote is at b[i].
// It looks for the next quote and then for an escape before it, each with
// bytes.IndexByte, as most tokens hold no escape.
func skipString(b []byte, i int) (int, bool) {
	for i++; i < len(b); {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			break
		}
		e := bytes.IndexByte(b[i:i+q], '\\')
		if e < 0 {
			return i + q + 1, true
		}
		// The escape and the byte it escapes (perhaps that quote).
		i += e + 2
	}
	return len(b), false
}

// skipValue is the end of the JSON value that starts at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return end, false
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
		}
		return i, false
	default:
		start := i
	scalar:
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n', '{', '[', '"', ':':
				break scalar
			}
		}
		return i, i > start
	}
}

// find is the one member named name, with false when there is none. Two
// members of the same name are an error: which one a reader takes differs
// between JSON libraries.
func find(ms []member, name string) (member, bool, error) {
	var (
		found member
		ok    bool
	)
	for _, m := range ms {
		if m.is(name) {
			if ok {
				return member{}, false, fmt.Errorf("%w: two members %q", errShape, name)
			}
			found, ok = m, true
		}
	}
	return found, ok, nil
}

// stringAt decodes the value of m when it is a JSON string. A token
// without escapes, control characters or invalid UTF-8 (the key ids, the
// ciphertexts, most ids and types) is its own text.
func stringAt(doc []byte, m member) (string, bool) {
	if doc[m.valStart] != '"' {
		return "", false
	}
	if tok := doc[m.valStart+1 : m.valEnd-1]; plainToken(tok) {
		return string(tok), true
	}
	var s string
	if json.Unmarshal(doc[m.valStart:m.valEnd], &s) != nil {
		return "", false
	}
	return s, true
}

// textAt is stringAt's text as bytes: for a plain token (every sealed
// value) a slice of doc itself.
func textAt(doc []byte, m member) ([]byte, bool) {
	if doc[m.valStart] != '"' {
		return nil, false
	}
	if tok := doc[m.valStart+1 : m.valEnd-1]; plainToken(tok) {
		return tok, true
	}
	s, ok := stringAt(doc, m)
	return []byte(s), ok
}

// checkedTextAt is textAt for a document that events' strict checker
// has passed (the data events.DecodeStoredWith hands its Opener): there
// no string holds a control character or invalid UTF-8, so a token
// without a backslash is its own text, found without plainToken's walk
// over every byte of it.
func checkedTextAt(doc []byte, m member) ([]byte, bool) {
	if doc[m.valStart] == '"' {
		if tok := doc[m.valStart+1 : m.valEnd-1]; bytes.IndexByte(tok, '\\') < 0 {
			return tok, true
		}
	}
	return textAt(doc, m)
}

// edit replaces doc[start:end] by with.
type edit struct {
	start, end int
	with       []byte
}

// apply makes the edits, which do not overlap, in a new document.
func apply(doc []byte, edits []edit) []byte {
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	n := len(doc)
	for _, e := range edits {
		n += len(e.with) - (e.end - e.start)
	}
	out := make([]byte, 0, n)
	at := 0
	for _, e := range edits {
		out = append(out, doc[at:e.start]...)
		out = append(out, e.with...)
		at = e.end
	}
	return append(out, doc[at:]...)
}

// removal is the edit that removes members[i] of an object and the comma
// that separates it from a neighbour: from the end of the previous value,
// or, for the first member, up to the next member's name.
func removal(ms []member, i int) edit {
	switch {
	case i > 0:
		return edit{ms[i-1].valEnd, ms[i].valEnd, nil}
	case len(ms) > 1:
		return edit{ms[0].nameStart, ms[1].nameStart, nil}
	default:
		return edit{ms[0].nameStart, ms[0].valEnd, nil}
	}
}

// event is the parts of a stored event that sealing and opening edit.
type event struct {
	top, data []member
	// dataAt is the data member; keyAt is jfkeyid's index in top, -1
	// when there is none.
	dataAt member
	keyAt  int
}

func parseEvent(doc []byte) (event, error) {
	// One slice for the members of the event and of its data.
	top, err := appendMembers(make([]member, 0, 24), doc, 0)
	if err != nil {
		return event{}, err
	}
	ev := event{top: top[:len(top):len(top)], keyAt: -1}
	if _, _, err := find(top, Extension); err != nil {
		return event{}, err
	}
	for i, m := range top {
		if m.is(Extension) {
			ev.keyAt = i
		}
	}
	d, ok, err := find(top, "data")
	if err != nil {
		return event{}, err
	}
	if !ok || doc[d.valStart] != '{' {
		return ev, nil
	}
	ev.dataAt = d
	if ev.data, err = appendMembers(top[len(top):], doc, d.valStart); err != nil {
		return event{}, err
	}
	for _, m := range ev.data {
		if _, _, err := find(ev.data, string(m.name)); err != nil {
			return event{}, err
		}
	}
	return ev, nil
}

// eraseTokens is the edits that put the tombstone in place of every
// personal field of data, and the fields' names.
func eraseTokens(ms []member, spec events.Spec) ([]edit, []string) {
	var (
		edits []edit
		names []string
	)
	for _, m := range ms {
		if personal(spec, m) {
			edits = append(edits, edit{m.valStart, m.valEnd, tombstoneJSON})
			names = append(names, string(m.name))
		}
	}
	return edits, names
}

// plainToken reports whether the inside of a JSON string token reads as
// it is written: no escape, no control character, valid UTF-8.
func plainToken(tok []byte) bool {
	ascii := true
	for _, c := range tok {
		if c == '\\' || c < 0x20 {
			return false
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	return ascii || utf8.Valid(tok)
}
