package webapp_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/webapp"
)

// TestPurposeTextRoom: the logged purpose is the choice, ": " and the
// text, at most accesslog.MaxPurpose characters in all, so the form's
// Uddybning promises (in its label and maxlength, without JavaScript) the
// room left beside the longest choice, and that room is accepted beside
// it. A text too long for its choice is the form again, saying that the
// Uddybning is too long and how long it may be, with the choice and what
// was typed kept.
func TestPurposeTextRoom(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-Q", "E1001")
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	longest := ""
	for _, p := range webapp.Purposes {
		if utf8.RuneCountInString(p) > utf8.RuneCountInString(longest) {
			longest = p
		}
	}
	room := accesslog.MaxPurpose - utf8.RuneCountInString(longest) - len(": ")
	form := b.get("/app/families/FAM-Q")
	for _, want := range []string{"Uddybning (valgfri, højst " + strconv.Itoa(room) + " tegn)", `maxlength="` + strconv.Itoa(room) + `"`} {
		if !strings.Contains(form.Body, want) {
			t.Errorf("purpose form lacks %q", want)
		}
	}

	tooLong := strings.Repeat("ø", room+1)
	r := b.do("POST", "/app/families/FAM-Q/purpose", url.Values{"csrf": {csrf(t, form)}, "choice": {longest}, "text": {tooLong}})
	if r.Status != 400 {
		t.Fatalf("%s + %d characters: %d", longest, room+1, r.Status)
	}
	for _, want := range []string{"Uddybningen er " + strconv.Itoa(room+1) + " tegn", "plads til højst " + strconv.Itoa(room) + " tegn",
		">" + tooLong + "</textarea>", `value="` + longest + `" checked`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("form after a too long text lacks %q", want)
		}
	}

	fits := strings.Repeat("ø", room)
	r = b.do("POST", "/app/families/FAM-Q/purpose", url.Values{"csrf": {csrf(t, form)}, "choice": {longest}, "text": {fits}})
	if r.Status != 303 {
		t.Fatalf("%s + %d characters (the form's room): %d %.300s", longest, room, r.Status, r.Body)
	}
	if fp := b.get(r.Location); fp.Status != 200 {
		t.Fatalf("family page: %d", fp.Status)
	}
	log := e.accessLog("FAM-Q")
	if got := log[len(log)-1]["purpose"]; got != longest+": "+fits {
		t.Errorf("logged purpose %q, want the choice and the whole text", got)
	}

	// Andet has the whole length to itself.
	r = b.do("POST", "/app/families/FAM-Q/purpose", url.Values{"csrf": {csrf(t, form)}, "choice": {"Andet"},
		"text": {strings.Repeat("x", accesslog.MaxPurpose+1)}})
	if r.Status != 400 || !strings.Contains(r.Body, "må højst være "+strconv.Itoa(accesslog.MaxPurpose)+" tegn") {
		t.Errorf("Andet + %d characters: %d", accesslog.MaxPurpose+1, r.Status)
	}
}

// TestPurposeQueryRefusedKeepsText: a ?purpose= that fails the check (one
// carried through the login, say) shows the purpose form again with what
// was typed, split into its choice and text as the form had them, and
// says what is wrong; the form returns to the page without ?purpose=.
func TestPurposeQueryRefusedKeepsText(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-P", "E1001")
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	long := strings.Repeat("x", 190)
	for _, tc := range []struct {
		name, purpose string
		want          []string
	}{
		{"free text", "Møde med skolen " + long, []string{">Møde med skolen " + long + "</textarea>",
			`value="Andet" checked`, "Årsagen er 206 tegn; den må højst være 200 tegn"}},
		{"choice and text", "Akut henvendelse: opkald fra skolen " + long, []string{">opkald fra skolen " + long + "</textarea>",
			`value="Akut henvendelse" checked`, "Uddybningen er 208 tegn; ved siden af årsagen »Akut henvendelse« er der plads til højst 182 tegn"}},
	} {
		r := b.get("/app/families/FAM-P?department=buf&purpose=" + url.QueryEscape(tc.purpose))
		if r.Status != 400 {
			t.Fatalf("%s: status %d", tc.name, r.Status)
		}
		for _, want := range append(tc.want, `name="next" value="/app/families/FAM-P?department=buf"`) {
			if !strings.Contains(r.Body, want) {
				t.Errorf("%s: the form again lacks %q", tc.name, want)
			}
		}
	}
	if log := e.accessLog("FAM-P"); len(log) != 0 {
		t.Errorf("a refused purpose is in the access log: %v", log)
	}
}
