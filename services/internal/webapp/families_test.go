package webapp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestFamilyListLogged: the list pages show each listed family's course,
// caseworker and goals, so every view of them is in the access log before
// it is shown, without a purpose (none is asked for a list): a
// coordinator's list as one entry per listed family, an auditor's (which
// covers every family) as one entry on the bulk subject that every
// family's access log includes. A family the coordinator is not assigned
// to, or that the status filter leaves out, gets no entry.
func TestFamilyListLogged(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-L", "E1001")
	e.enrol("FAM-O", "E1002") // dev-coordinator-2's, not dev-coordinator's
	coord := e.browser()
	coord.login("dev-coordinator", "")
	for _, path := range []string{"/app/", "/app/families?status=enrolled&sort=start", "/app/families?status=ended"} {
		r := coord.get(path)
		if r.Status != 200 || strings.Contains(r.Body, "Hvorfor åbner du") {
			t.Fatalf("%s: %d %.300s", path, r.Status, r.Body)
		}
		if strings.Contains(r.shown(), "FAM-O") {
			t.Fatalf("%s lists another coordinator's family", path)
		}
	}
	log := e.accessLog("FAM-L")
	if len(log) != 2 {
		t.Fatalf("FAM-L has %d access log entries after two lists that show it and one that does not: %v", len(log), log)
	}
	for i, endpoint := range []string{"GET /app/", "GET /app/families?status=enrolled&sort=start"} {
		got := log[i]
		if got["endpoint"] != endpoint || got["purpose"] != "" || got["familyId"] != "FAM-L" ||
			got["principal"] != "coordinator E1001" || got["kind"] != "coordinator" || got["employeeId"] != "E1001" {
			t.Errorf("entry %d: %v, want the list %s by coordinator E1001", i, got, endpoint)
		}
	}
	if n := len(e.accessLog("FAM-O")); n != 0 {
		t.Errorf("a coordinator's list recorded a read of a family not assigned to them: %d entries", n)
	}
	if n := len(e.accessLog("bulk.>")); n != 0 {
		t.Errorf("a coordinator's list recorded a bulk read: %d entries", n)
	}

	aud := e.browser()
	aud.login("dev-auditor", "")
	for _, path := range []string{"/app/families", "/app/families?q=fam-l"} {
		r := aud.get(path)
		if r.Status != 200 || !strings.Contains(r.shown(), "FAM-L") || !strings.Contains(r.shown(), "E1001") ||
			!strings.Contains(r.shown(), "15. jan. 2024") || strings.Contains(r.Body, "Hvorfor åbner du") {
			t.Fatalf("%s: %d %.300s", path, r.Status, r.Body)
		}
	}
	bulk := e.accessLog("bulk.audit")
	if len(bulk) != 2 || bulk[0]["endpoint"] != "GET /app/families" || bulk[1]["endpoint"] != "GET /app/families?q=fam-l" ||
		bulk[0]["familyId"] != "*" || bulk[0]["kind"] != "auditor" || bulk[0]["purpose"] != "" {
		t.Fatalf("bulk entries after an auditor's two lists: %v", bulk)
	}
	if n := len(e.accessLog("FAM-L")); n != 2 {
		t.Errorf("an auditor's list wrote %d entries on FAM-L's own subject", n-2)
	}
	// The family's access log page shows the auditor's list with the
	// coordinator's.
	page := aud.open("FAM-L", "Tilsyn og revision")
	if page.Status != 200 {
		t.Fatal(page.Status)
	}
	r := aud.get("/app/families/FAM-L/access-log")
	if r.Status != 200 || !strings.Contains(r.Body, "GET /app/families?q=fam-l") || !strings.Contains(r.Body, "GET /app/families?status=enrolled&amp;sort=start") {
		t.Errorf("access-log page: %d %.600s", r.Status, r.Body)
	}

	// A search that would store a CPR number in the log is refused, and
	// nothing is recorded.
	if r := aud.get("/app/families?q=010190-1234"); r.Status != http.StatusUnprocessableEntity || strings.Contains(r.shown(), "FAM-L") {
		t.Errorf("search for a CPR number: %d %.300s", r.Status, r.Body)
	}
	if n := len(e.accessLog("bulk.audit")); n != 2 {
		t.Errorf("the refused search was recorded: %d bulk entries", n)
	}
}

// TestFamilyListUnlogged: when the access log cannot be written the list
// is a 503 error page without family data, for a coordinator and an
// auditor.
func TestFamilyListUnlogged(t *testing.T) {
	t.Parallel()
	// An operator's damage: only an admin outside the services may do it.
	n := testenv.StartNATS(t)
	e := start(t, false, func(cfg *config.Config) { n.Use(t, cfg) })
	e.enrol("FAM-U", "E1001")
	if err := n.Admin.DeleteStream(context.Background(), eventstore.AccessLogStream); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"dev-coordinator", "dev-auditor"} {
		b := e.browser()
		b.login(tok, "")
		r := b.get("/app/families")
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "Adgangsloggen kunne ikke skrives") {
			t.Fatalf("%s: %d %.400s", tok, r.Status, r.Body)
		}
		for _, leak := range []string{"FAM-U", "15. jan. 2024", "I forløb"} {
			if strings.Contains(r.shown(), leak) {
				t.Errorf("%s: 503 page shows %q", tok, leak)
			}
		}
	}
}

// TestFamilyListEmpty: a coordinator assigned to no family is told so,
// not that no family matches a filter they did not set; with a filter
// that leaves every family out, the page says that.
func TestFamilyListEmpty(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-E", "E1001") // dev-coordinator's, not dev-coordinator-2's
	other := e.browser()
	other.login("dev-coordinator-2", "")
	r := other.get("/app/")
	if r.Status != 200 || strings.Contains(r.Body, "passer til filteret") || !strings.Contains(r.Body, "Du er ikke tilknyttet nogen familie") {
		t.Errorf("a coordinator without families: %d %.800s", r.Status, r.shown())
	}
	coord := e.browser()
	coord.login("dev-coordinator", "")
	if r := coord.get("/app/families?status=ended"); r.Status != 200 || !strings.Contains(r.Body, "Ingen familier passer til filteret.") {
		t.Errorf("a filter that leaves every family out: %d %.800s", r.Status, r.shown())
	}
}
