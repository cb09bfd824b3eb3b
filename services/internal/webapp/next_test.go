package webapp

import (
	"strings"
	"testing"
)

// TestSafeNext: only this app's own paths are followed after login.
func TestSafeNext(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                           "/app/",
		"/app/families/F1?purpose=x": "/app/families/F1?purpose=x",
		"/app/families?status=ended": "/app/families?status=ended",
		"https://evil.example/app/":  "/app/",
		"//evil.example/app/":        "/app/",
		"/\\evil.example":            "/app/",
		"/app/\\\\evil.example":      "/app/",
		"/v1/families":               "/app/",
		"/app/../v1/families":        "/app/",
		"javascript:alert(1)":        "/app/",
		"/app/x\r\nSet-Cookie: a=b":  "/app/",
		"https:/app/families":        "/app/",
		"/app/families/F1#e12":       "/app/families/F1",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestComposePurpose(t *testing.T) {
	t.Parallel()
	for _, tc := range [][3]string{
		{"Akut henvendelse", "", "Akut henvendelse"},
		{"Akut henvendelse", "  opkald \n fra skolen ", "Akut henvendelse: opkald fra skolen"},
		{"Andet", "tilsyn", "tilsyn"},
		{"", "", ""},
	} {
		if got := composePurpose(tc[0], tc[1]); got != tc[2] {
			t.Errorf("composePurpose(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

// TestPurposeProblem: the purpose form's error names the part that is too
// long, or else says what the purpose may not hold.
func TestPurposeProblem(t *testing.T) {
	t.Parallel()
	for _, tc := range [][3]string{
		{"Akut henvendelse", strings.Repeat("x", 200), "Uddybningen er 200 tegn; ved siden af årsagen »Akut henvendelse« er der plads til højst 182 tegn. Forkort uddybningen."},
		{"Andet", strings.Repeat("x", 201), "Årsagen er 201 tegn; den må højst være 200 tegn. Forkort den."},
		{"", "  " + strings.Repeat("x ", 101), "Årsagen er 201 tegn; den må højst være 200 tegn. Forkort den."},
		{"Akut henvendelse", "opkald\u200b fra skolen", "Årsagen må kun indeholde almindelig tekst og intet CPR-nummer."},
	} {
		if got := purposeProblem(tc[0], tc[1]); got != tc[2] {
			t.Errorf("purposeProblem(%q, %.20q…) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

// TestSplitPurpose: a purpose shown in the form again is split into the
// choice and text that compose it.
func TestSplitPurpose(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"Akut henvendelse", "Akut henvendelse: opkald fra skolen", "tilsyn", "Akut: henvendelse", ""} {
		c, text := splitPurpose(p)
		if got := composePurpose(c, text); got != p {
			t.Errorf("splitPurpose(%q) = %q, %q, which compose %q", p, c, text, got)
		}
	}
	if c, text := splitPurpose(" Akut henvendelse:   opkald\n fra skolen"); c != "Akut henvendelse" || text != "opkald fra skolen" {
		t.Errorf("splitPurpose: %q, %q", c, text)
	}
}
