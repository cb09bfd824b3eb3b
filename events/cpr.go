package events

// The CPR detector. A CPR number (the Danish personal identification
// number) is DDMMYY-SSSS: a date of birth and four serial digits. The
// stream is immutable, so a CPR number that gets in can never be deleted;
// every text that enters through ingest and every X-Purpose a service
// records is therefore checked with ContainsCPR, the one detector of the
// project.
//
// What it finds, after folding the text:
//
//   - ten digits in a row (0101901234);
//   - six digits, one separator and four digits, the separator being a
//     hyphen or any Unicode dash (general category Pd or the Dash property:
//     U+2010–U+2015, U+2212, U+FF0D, U+058A, U+301C, …), a space (any
//     Unicode white space: tab, line breaks and the no-break and other
//     Unicode spaces included), a slash or a full stop
//     (010190-1234, 010190 1234, 010190/1234, 010190.1234);
//   - the date written with full stops, then a separator and four digits
//     (01.01.90-1234, 01.01.90 1234).
//
// Folding: every Unicode decimal digit counts as its ASCII digit (full-width
// ０１０１９０, Arabic-Indic, mathematical digits, …), and invisible
// characters are ignored, so they cannot split a number that a reader would
// see whole: the format characters (zero-width space, joiners, word joiner,
// byte order mark, soft hyphen: Unicode category Cf) and the other code
// points Unicode declares default-ignorable (combining grapheme joiner,
// variation selectors, the Hangul fillers, …).
//
// What it leaves alone, so that ordinary numbers and ids pass: the first six
// digits must be a real date DDMMYY (month 01–12, a day that month has;
// 29 February only in years divisible by four, since some century makes
// those leap years); a digit run longer than the pattern (a 12-digit
// number, 0101901234 inside 120101901234) is some other number; CVR
// numbers (8 digits), dates (2024-01-15), times and phone numbers do not
// have the shape; nor does a UUID in canonical form (8-4-4-4-12 hex
// digits), which is taken as a whole as the machine-made id it is. The
// modulus-11 check is not applied: CPR numbers issued since 2007 need not
// satisfy it.

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// ContainsCPR reports whether s holds something that reads as a CPR
// number anywhere in it.
func ContainsCPR(s string) bool {
	if !mayHoldCPR(s) {
		return false
	}
	syms := foldCPR(withoutUUIDs(s))
	for i := range syms {
		if n := cprAt(syms, i); n > 0 {
			return true
		}
	}
	return false
}

// LooksLikeCPR reports whether s, as a whole, reads as a CPR number (as
// opposed to holding one within other text).
func LooksLikeCPR(s string) bool {
	if !mayHoldCPR(s) {
		return false
	}
	syms := foldCPR(withoutUUIDs(s))
	return len(syms) > 0 && cprAt(syms, 0) == len(syms)
}

// withoutUUIDs returns s with every UUID in canonical form (8-4-4-4-12 hex
// digits, not part of a longer word) replaced by a letter. A UUID is a
// machine-made id, the kind department systems and Build use as event ids,
// and a random one holds a run that reads as a CPR number about once in two
// thousand (ab010190-1234-…, or ten digits in its last group).
func withoutUUIDs(s string) string {
	if len(s) < 36 || strings.IndexByte(s, '-') < 0 {
		return s
	}
	var b []byte
	for i := 0; i+36 <= len(s); i++ {
		if isUUID(s[i:i+36]) && (i == 0 || !isWordByte(s[i-1])) && (i+36 == len(s) || !isWordByte(s[i+36])) {
			if b == nil {
				b = []byte(s)
			}
			for j := i; j < i+36; j++ {
				b[j] = 'u'
			}
			i += 35
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

func isUUID(s string) bool {
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func isWordByte(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c >= utf8.RuneSelf
}

// mayHoldCPR is the cheap test that lets most strings through unfolded:
// text with fewer than ten ASCII digits and no other Unicode number holds
// no CPR number (letters, marks and the rest never fold to digits).
func mayHoldCPR(s string) bool {
	n, ascii := 0, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if '0' <= c && c <= '9' {
			if n++; n >= 10 {
				return true
			}
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	if ascii {
		return false
	}
	for _, r := range s {
		if r >= utf8.RuneSelf && unicode.IsNumber(r) {
			return true
		}
	}
	return false
}

// Folded symbols: a digit is its value 0–9; the others are classes.
const (
	symDash  = 10 + iota // '-' and the Unicode dashes
	symSpace             // any space
	symSlash             // '/'
	symDot               // '.'
	symOther             // anything else
)

// foldCPR turns s into symbols: digits folded to their value, separators
// to their class, format characters dropped.
func foldCPR(s string) []byte {
	syms := make([]byte, 0, len(s))
	for _, r := range s {
		syms = appendFold(syms, r)
	}
	return syms
}

// appendFold appends the symbols one rune stands for: none for an
// invisible character, one mostly, several where NFKC decomposes a rune (⑽
// is "(10)").
func appendFold(syms []byte, r rune) []byte {
	if r < utf8.RuneSelf {
		switch r {
		case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return append(syms, byte(r-'0'))
		case '-':
			return append(syms, symDash)
		case ' ', '\t', '\n', '\v', '\f', '\r':
			return append(syms, symSpace)
		case '/':
			return append(syms, symSlash)
		case '.':
			return append(syms, symDot)
		}
		return append(syms, symOther)
	}
	switch {
	case invisible(r):
		return syms
	case unicode.Is(unicode.Pd, r), unicode.Is(unicode.Dash, r):
		// Hyphens, dashes and minus signs of every script: U+2010–U+2015,
		// U+2212, U+058A, U+05BE, U+1400, U+1806, U+2E3A, U+301C, U+30A0, …
		return append(syms, symDash)
	case unicode.IsSpace(r):
		return append(syms, symSpace)
	case unicode.Is(unicode.Nd, r):
		return append(syms, digitValue(r))
	case unicode.IsLetter(r), unicode.IsMark(r):
		return append(syms, symOther)
	}
	// Compatibility forms: full-width solidus and full stop, mathematical
	// and circled digits, …
	folded := norm.NFKC.String(string(r))
	if folded == string(r) {
		return append(syms, symOther)
	}
	for _, fr := range folded {
		if fr == r {
			return append(syms, symOther)
		}
		syms = appendFold(syms, fr)
	}
	return syms
}

// invisible reports whether r is drawn as nothing: a format character
// (category Cf: zero-width space U+200B, joiners, word joiner U+2060, byte
// order mark U+FEFF, soft hyphen U+00AD, …) or another code point Unicode
// declares default-ignorable (combining grapheme joiner U+034F, variation
// selectors U+180B–U+180F and U+FE00–U+FE0F, Hangul fillers U+115F, U+1160,
// U+3164, U+FFA0, …). Some of these are letters or marks by category, so
// this is asked before those.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) ||
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
		unicode.Is(unicode.Variation_Selector, r)
}

// digitValue is the value of a Unicode decimal digit: its NFKC form when
// that is an ASCII digit (full-width, mathematical), otherwise its place in
// its script's run of ten, which Unicode lays out from zero to nine.
func digitValue(r rune) byte {
	if nf := norm.NFKC.String(string(r)); len(nf) == 1 && '0' <= nf[0] && nf[0] <= '9' {
		return nf[0] - '0'
	}
	// Walk back to the start of the digits around r: runs of ten that
	// follow each other without a gap keep their values modulo ten.
	start := r
	for unicode.Is(unicode.Nd, start-1) && r-start < 100 {
		start--
	}
	return byte((r - start) % 10)
}

// cprAt returns the length of the CPR number starting at syms[i], or 0.
// The number must not continue a digit run that starts before i nor run on
// into digits after it.
func cprAt(syms []byte, i int) int {
	if i > 0 && isDigit(syms[i-1]) {
		return 0
	}
	// Six digits, then four either at once or after one separator.
	if run(syms, i) >= 6 {
		if date6(syms[i : i+6]) {
			j := i + 6
			if run(syms, j) == 4 {
				return 10
			}
			if j < len(syms) && isSeparator(syms[j]) && run(syms, j+1) == 4 {
				return 11
			}
		}
		return 0
	}
	// DD.MM.YY, a separator, four digits.
	if run(syms, i) == 2 && i+8 < len(syms) && syms[i+2] == symDot && run(syms, i+3) == 2 &&
		syms[i+5] == symDot && run(syms, i+6) == 2 {
		date := []byte{syms[i], syms[i+1], syms[i+3], syms[i+4], syms[i+6], syms[i+7]}
		if j := i + 8; date6(date) && isSeparator(syms[j]) && run(syms, j+1) == 4 {
			return 13
		}
	}
	return 0
}

func isDigit(s byte) bool { return s <= 9 }

func isSeparator(s byte) bool { return s == symDash || s == symSpace || s == symSlash || s == symDot }

// run counts the digits from syms[i] to the first non-digit.
func run(syms []byte, i int) int {
	n := 0
	for i+n < len(syms) && isDigit(syms[i+n]) {
		n++
	}
	return n
}

// date6 reports whether six digits are a date DDMMYY of some century.
func date6(d []byte) bool {
	day := int(d[0])*10 + int(d[1])
	month := int(d[2])*10 + int(d[3])
	year := int(d[4])*10 + int(d[5])
	if month < 1 || month > 12 || day < 1 {
		return false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month]
	if month == 2 && year%4 == 0 {
		days = 29
	}
	return day <= days
}

// ControlIn returns the first control character of free text that is not
// allowed, and whether there is one: the C0 controls but tab and newline,
// DEL and the C1 controls. Such characters have no place in what a
// caseworker writes; they corrupt logs, terminals and exports.
func ControlIn(s string) (rune, bool) {
	for _, r := range s {
		if r == '\t' || r == '\n' {
			continue
		}
		if r < 0x20 || (r >= 0x7F && r <= 0x9F) {
			return r, true
		}
	}
	return 0, false
}

// AttributeControlIn is ControlIn for attributes and headers, where no
// control character at all is allowed, not even tab or newline.
func AttributeControlIn(s string) (rune, bool) {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7F && r <= 0x9F) {
			return r, true
		}
	}
	return 0, false
}
