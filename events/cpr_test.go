package events

import (
	"regexp"
	"strings"
	"testing"
)

var cprCases = []struct {
	name string
	s    string
	want bool
}{
	// Every notation the detector knows.
	{"ten digits", "0101901234", true},
	{"hyphen", "010190-1234", true},
	{"space", "010190 1234", true},
	{"slash", "010190/1234", true},
	{"full stop", "010190.1234", true},
	{"dotted date", "01.01.90-1234", true},
	{"dotted date, space", "01.01.90 1234", true},
	{"U+2010 hyphen", "010190\u20101234", true},
	{"U+2011 non-breaking hyphen", "010190\u20111234", true},
	{"U+2012 figure dash", "010190\u20121234", true},
	{"U+2013 en dash", "010190\u20131234", true},
	{"U+2014 em dash", "010190\u20141234", true},
	{"U+2015 horizontal bar", "010190\u20151234", true},
	{"U+2212 minus", "010190\u22121234", true},
	{"U+FE63 small hyphen-minus", "010190\uFE631234", true},
	{"U+FF0D full-width hyphen-minus", "010190\uFF0D1234", true},
	{"U+058A Armenian hyphen", "010190\u058a1234", true},
	{"U+05BE Hebrew maqaf", "010190\u05be1234", true},
	{"U+1400 Canadian syllabics hyphen", "010190\u14001234", true},
	{"U+1806 Mongolian todo soft hyphen", "010190\u18061234", true},
	{"U+2053 swung dash", "010190\u20531234", true},
	{"U+2E17 double oblique hyphen", "010190\u2e171234", true},
	{"U+2E1A hyphen with diaeresis", "010190\u2e1a1234", true},
	{"U+2E3A two-em dash", "010190\u2e3a1234", true},
	{"U+2E3B three-em dash", "010190\u2e3b1234", true},
	{"U+2E40 double hyphen", "010190\u2e401234", true},
	{"U+2E5D oblique hyphen", "010190\u2e5d1234", true},
	{"U+301C wave dash", "010190\u301c1234", true},
	{"U+3030 wavy dash", "010190\u30301234", true},
	{"U+30A0 katakana-hiragana double hyphen", "010190\u30a01234", true},
	{"U+FE58 small em dash", "010190\ufe581234", true},
	{"U+10EAD Yezidi hyphenation mark", "010190\U00010ead1234", true},
	{"no-break space", "010190\u00a01234", true},
	{"U+2003 em space", "010190\u20031234", true},
	{"U+3000 ideographic space", "010190\u30001234", true},
	{"U+2028 line separator", "010190\u20281234", true},
	{"tab", "010190\t1234", true},
	{"newline", "010190\n1234", true},
	{"vertical tab", "010190\v1234", true},
	{"form feed", "010190\f1234", true},
	{"carriage return", "010190\r1234", true},
	{"newline in free text", "Ring på\n010190\n1234 i morgen", true},
	{"full-width digits", "０１０１９０１２３４", true},
	{"full-width digits and hyphen", "０１０１９０－１２３４", true},
	{"Arabic-Indic digits", "٠١٠١٩٠١٢٣٤", true},
	{"mathematical digits", "𝟎𝟏𝟎𝟏𝟗𝟎𝟏𝟐𝟑𝟒", true},
	{"zero-width space between digits", "0101\u200b901234", true},
	{"zero-width joiner", "010190\u200d-1234", true},
	{"word joiner", "01019\u20600-1234", true},
	{"byte order mark", "\ufeff0101901234", true},
	{"soft hyphen", "010190\u00ad1234", true},
	{"U+180E Mongolian vowel separator", "010190\u180e1234", true},
	{"U+034F combining grapheme joiner", "0101\u034f901234", true},
	{"U+FE00 variation selector", "0101\ufe00901234", true},
	{"U+FE0F variation selector", "010190\ufe0f-1234", true},
	{"U+180B Mongolian variation selector", "0101\u180b901234", true},
	{"U+180F Mongolian variation selector", "0101\u180f901234", true},
	{"U+115F Hangul choseong filler", "0101\u115f901234", true},
	{"U+1160 Hangul jungseong filler", "0101\u1160901234", true},
	{"U+3164 Hangul filler", "0101\u3164901234", true},
	{"U+FFA0 half-width Hangul filler", "0101\uffa0901234", true},
	{"U+E0100 variation selector", "0101\U000e0100901234", true},
	{"invisibles around a dash", "010190\u034f\u2e3a\ufe001234", true},
	{"in free text", "Opslag 010190-1234 i dag", true},
	{"at the end of text", "cpr:0101901234", true},
	{"in a source path", "/departments/sof/0101901234", true},
	{"letters around", "A0101901234B", true},
	{"29 February of a leap year", "290292-1234", true},
	{"31 December", "311299-9999", true},
	{"year 00", "290200-1234", true},

	// Near misses that must pass.
	{"empty", "", false},
	{"CVR, 8 digits", "12345678", false},
	{"not a date", "9999991234", false},
	{"month 13", "0113901234", false},
	{"day 0", "0001901234", false},
	{"31 April", "310490-1234", false},
	{"29 February of a common year", "290291-1234", false},
	{"12 digits", "120101901234", false},
	{"11 digits", "01019012345", false},
	{"9 digits", "010190123", false},
	{"6+5 digits", "010190-12345", false},
	{"7+4 digits", "0101901-1234", false},
	{"6+3 digits", "010190-123", false},
	{"two separators", "010190--1234", false},
	{"other separator", "010190:1234", false},
	{"two white-space separators", "010190\r\n1234", false},
	{"tab between dash and digits", "010190-\t1234", false},
	{"combining mark between digits", "0101\u0301901234", false},
	{"letter between digits", "0101\u1100901234", false},
	{"tab-separated numbers", "120190\t12345\t2024", false},
	{"ISO dates on lines", "2024-01-15\n2024-02-15", false},
	{"ISO date", "2024-01-15", false},
	{"date and time", "2024-01-15T09:30:00Z", false},
	{"time", "09:30:15", false},
	{"phone", "+45 33 66 33 66", false},
	{"dotted date alone", "01.01.90", false},
	{"dotted date, 4-digit year", "01.01.1990", false},
	{"dotted date not a date", "41.01.90-1234", false},
	{"Danish text", "Forberedelse af netværksmøde", false},
	{"amount", "1.234.567,89 kr.", false},
	{"ids", "TB1-001-P1", false},
	{"UUID with 6+4 digits", "ab010190-1234-4abc-8def-0123456789ab", false},
	{"UUID with ten digits", "019ae6f2-1a2b-7c3d-8e4f-ab0101901234", false},
	{"UUID in text", "ref. 019ae6f2-1a2b-7c3d-8e4f-ab0101901234, ok", false},
	{"UUID-like but longer", "ab010190-1234-4abc-8def-0123456789abc", true},
	{"UUID and a CPR beside it", "019ae6f2-1a2b-7c3d-8e4f-ab0101901234 0101901234", true},
}

func TestContainsCPR(t *testing.T) {
	t.Parallel()
	for _, c := range cprCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := ContainsCPR(c.s); got != c.want {
				t.Errorf("ContainsCPR(%q) = %v, want %v", c.s, got, c.want)
			}
		})
	}
}

func TestLooksLikeCPR(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"0101901234", true}, {"010190-1234", true}, {"01.01.90-1234", true}, {"０１０１９０１２３４", true},
		{"x0101901234", false}, {"0101901234 ", false}, {"9999991234", false}, {"", false},
	} {
		if got := LooksLikeCPR(c.s); got != c.want {
			t.Errorf("LooksLikeCPR(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}

func TestControlIn(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		s          string
		text, attr bool
	}{
		{"plain", false, false},
		{"tab\tand\nnewline", false, true},
		{"nul\x00", true, true},
		{"cr\r", true, true},
		{"esc\x1b[31m", true, true},
		{"del\x7f", true, true},
		{"c1\u0085", true, true},
		{"æøå – ok", false, false},
	} {
		if _, got := ControlIn(c.s); got != c.text {
			t.Errorf("ControlIn(%q) = %v, want %v", c.s, got, c.text)
		}
		if _, got := AttributeControlIn(c.s); got != c.attr {
			t.Errorf("AttributeControlIn(%q) = %v, want %v", c.s, got, c.attr)
		}
	}
}

// asciiCPR is the detector restricted to ASCII text, written as a
// regexp (Go's RE2 has no lookaround, hence the explicit boundaries).
var asciiCPR = regexp.MustCompile(`(^|[^0-9])([0-9]{6}[-/. \t\n\v\f\r]?[0-9]{4}|[0-9]{2}\.[0-9]{2}\.[0-9]{2}[-/. \t\n\v\f\r][0-9]{4})($|[^0-9])`)

var uuidShaped = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// FuzzContainsCPR holds the detector to its description: on ASCII text it
// finds what the regexp finds where the date is real; whatever it finds,
// it still finds with format characters inserted between the characters
// and with the digits written full-width; and it never panics.
func FuzzContainsCPR(f *testing.F) {
	for _, c := range cprCases {
		f.Add(c.s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ContainsCPR(s)
		if LooksLikeCPR(s) && !got {
			t.Fatalf("LooksLikeCPR(%q) but not ContainsCPR", s)
		}
		if isASCII([]byte(s)) && !got && !uuidShaped.MatchString(s) {
			for _, m := range asciiCPR.FindAllStringSubmatch(s, -1) {
				if d := asciiDate(m[2]); d != "" && date6([]byte(d)) {
					t.Fatalf("ContainsCPR(%q) = false, but it holds %q", s, m[2])
				}
			}
		}
		if !got {
			return
		}
		var zw, wide strings.Builder
		for _, r := range s {
			zw.WriteRune(r)
			zw.WriteRune('\u200b')
			if '0' <= r && r <= '9' {
				r += '０' - '0'
			}
			wide.WriteRune(r)
		}
		if !ContainsCPR(zw.String()) {
			t.Fatalf("ContainsCPR(%q) but not with zero-width spaces: %q", s, zw.String())
		}
		if !ContainsCPR(wide.String()) {
			t.Fatalf("ContainsCPR(%q) but not full-width: %q", s, wide.String())
		}
	})
}

// asciiDate returns the six date digits of a match of asciiCPR as digit
// values, or "".
func asciiDate(m string) string {
	var d []byte
	for i := 0; i < len(m) && len(d) < 6; i++ {
		if '0' <= m[i] && m[i] <= '9' {
			d = append(d, m[i]-'0')
		}
	}
	if len(d) < 6 {
		return ""
	}
	return string(d)
}
