package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// checkCompact holds AppendCompact to encoding/json's treatment of a
// json.Marshaler's output (json.RawMessage is one): the same bytes when
// both accept src, and a refusal where encoding/json refuses it.
func checkCompact(t *testing.T, src []byte) {
	t.Helper()
	prefix := []byte("kept")
	got, ok := AppendCompact(bytes.Clone(prefix), src)
	want, err := json.Marshal(json.RawMessage(src))
	switch {
	case ok && err != nil:
		t.Fatalf("AppendCompact(%q) accepted what encoding/json refuses (%v): %q", src, err, got)
	case ok && !bytes.Equal(got, append(prefix, want...)):
		t.Fatalf("AppendCompact(%q)\n got %q\nwant %q", src, got[len(prefix):], want)
	case !ok && !bytes.Equal(got, prefix):
		t.Fatalf("AppendCompact(%q) refused it but changed dst to %q", src, got)
	case !ok && err == nil && depth(src) <= MaxDepth:
		t.Fatalf("AppendCompact(%q) refused what encoding/json takes (as %q)", src, want)
	}
}

// depth is how deeply src nests, counting brackets outside strings.
func depth(src []byte) int {
	d, most, in := 0, 0, false
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && (c == '{' || c == '['):
			d++
			most = max(most, d)
		case !in && (c == '}' || c == ']'):
			d--
		}
	}
	return most
}

var compactCases = []string{
	`{}`, `[]`, ` { } `, `[ ]`, `0`, `-0.5e+10`, `"x"`, `true`, `false`, `null`,
	"{\n  \"name\": \"Anna <b>&amp;</b>\",\n  \"n\": [1, 2.5, -3e7, true, false, null],\n  \"o\": {\"a\": {}}\n}",
	`{"escaped":"\u003c\"\\\/\b\f\n\r\t\u00e6\ud83d\ude00","raw":"æø` + "\u2028\u2029\u2027\u202a" + `"}`,
	"\t[\r\n\"abcdefghijklmnopqrstuvwxyz<>&abcdefgh\" ,{\"k\" : \"v\"}]\n",
	`{"jf":"jfenc:v2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}`,
	"\"\xff\xfe invalid UTF-8 is copied\"", "\"\xe2\x80\"", "\"\xe2\x80\xa8\"",
	strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
	strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
	// Refused by both.
	``, ` `, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{"a":1}{`, `01`, `1.`, `-`, `tru`, `nul`,
	`"unterminated`, "\"control \x01\"", `"\x"`, `"\u12"`, `{1:2}`, `{"a" 1}`, `[}`, `{]`, `"a" "b"`,
}

func TestAppendCompact(t *testing.T) {
	for _, c := range compactCases {
		checkCompact(t, []byte(c))
	}
}

func FuzzAppendCompact(f *testing.F) {
	for _, c := range compactCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		checkCompact(t, src)
	})
}
