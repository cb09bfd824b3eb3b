package jsonscan

import "testing"

// checkString holds String to its byte-at-a-time reference on b.
func checkString(t *testing.T, b []byte) {
	t.Helper()
	if len(b) == 0 || b[0] != '"' {
		return
	}
	for _, strict := range []bool{true, false} {
		got, gp := String(b, 0, strict)
		want, wp := scanString(b, 0, strict, false)
		if got != want || gp != wp {
			t.Fatalf("String(%q, strict %v) = %+v %q, want %+v %q", b, strict, got, gp, want, wp)
		}
	}
}

// TestStringEveryByte puts every byte value at every place of a run of
// plain ASCII long enough for several eight-byte steps.
func TestStringEveryByte(t *testing.T) {
	const run = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh"
	for c := 0; c < 256; c++ {
		for at := 1; at <= len(run); at++ {
			b := []byte(`"` + run + `"`)
			b[at] = byte(c)
			checkString(t, b)
			checkString(t, b[:len(b)-1])
		}
	}
	// Every byte just below and above the edges of the special ranges, in
	// each lane of a word.
	for _, c := range []byte{0x1f, 0x20, 0x21, '"' - 1, '"' + 1, '\\' - 1, '\\' + 1, 0x7e, 0x7f, 0x80, 0xff} {
		for lane := 0; lane < 8; lane++ {
			b := []byte(`"ABCDEFGHIJKLMNOP"`)
			b[1+lane] = c
			checkString(t, b)
		}
	}
}

func FuzzString(f *testing.F) {
	f.Add([]byte(`"jfenc:v2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"`))
	f.Add([]byte("\"abcdefgh\\u00e6ijklmnop\xc3\xa6q\""))
	f.Add([]byte("\"abcdefg\x7fhijklmn\x1fop\""))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkString(t, append([]byte{'"'}, b...))
	})
}
