package webapp_test

import (
	"html"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/webapp"
)

// anchor is the id of a timeline entry on the family page.
func anchor(seq uint64) string { return `id="e` + strconv.FormatUint(seq, 10) + `"` }

// TestDateFilterCopenhagenDays: the family page shows times in
// Copenhagen, so its date filter's days are Copenhagen days. An entry at
// 00.30 on 1 May (summer time, 22.30 UTC the day before) is in the filter
// 1 May–1 May and not in 30 April–30 April, and the goal history's link to
// it, built from its day, leads to a page that has it.
func TestDateFilterCopenhagenDays(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-D", "E1001")
	at := time.Date(2024, 5, 1, 0, 30, 0, 0, time.FixedZone("CEST", 2*3600))
	seq := e.post(events.SOF, "FAM-D", &events.GoalSet{GoalID: "G9", Title: "Natmål", Domain: "education", ExpressedBy: "family"}, events.WithTime(at))
	e.waitApplied(seq)
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	fp := b.open("FAM-D", "Akut henvendelse")
	if !strings.Contains(fp.Body, "1. maj 2024 kl. 00.30") {
		t.Fatalf("the family page does not show the entry at 1. maj 2024 kl. 00.30")
	}
	for _, tc := range []struct {
		query string
		shown bool
	}{
		{"from=2024-05-01&to=2024-05-01", true},
		{"from=2024-05-01", true},
		{"to=2024-05-01", true},
		{"from=2024-04-30&to=2024-04-30", false},
		{"to=2024-04-30", false},
		{"from=2024-05-02", false},
	} {
		r := b.get("/app/families/FAM-D?" + tc.query)
		if r.Status != 200 {
			t.Fatalf("%s: %d %.300s", tc.query, r.Status, r.Body)
		}
		if got := strings.Contains(r.Body, anchor(seq)); got != tc.shown {
			t.Errorf("%s: entry of 1. maj 2024 kl. 00.30 shown %v, want %v", tc.query, got, tc.shown)
		}
	}
	link := "/app/families/FAM-D?from=2024-05-01&to=2024-05-01#e" + strconv.FormatUint(seq, 10)
	if !strings.Contains(html.UnescapeString(fp.Body), `href="`+link+`"`) {
		t.Fatalf("the goal's history has no link %s", link)
	}
	if r := b.get(strings.Split(link, "#")[0]); !strings.Contains(r.Body, anchor(seq)) {
		t.Errorf("the goal history's link leads to a page without the entry")
	}
}

var nextPage = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)

// TestDateFilterAcrossDST: 27 October 2024, when summer time ends, is 25
// hours long in Copenhagen; the filter for that day holds every entry of
// it, from 00.10 summer time to 23.20 winter time, and none of the days
// around it. More entries than a page holds: the next page's link keeps
// the filter, its cursor agrees with it, and the two pages hold them all.
func TestDateFilterAcrossDST(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-W", "E1001")
	first := time.Date(2024, 10, 27, 0, 10, 0, 0, time.FixedZone("CEST", 2*3600))
	var seqs []uint64
	for i := range webapp.PageSize + 1 {
		at := first.Add(time.Duration(i) * 29 * time.Minute) // the last at 23.20 CET
		seqs = append(seqs, e.post(events.SOF, "FAM-W", &events.GoalSet{GoalID: "GW" + strconv.Itoa(i), Title: "Mål " + strconv.Itoa(i),
			Domain: "education", ExpressedBy: "family"}, events.WithTime(at)))
	}
	e.waitApplied(seqs[len(seqs)-1])
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	b.open("FAM-W", "Akut henvendelse")

	p1 := b.get("/app/families/FAM-W?from=2024-10-27&to=2024-10-27")
	if p1.Status != 200 {
		t.Fatalf("filter 27. okt.: %d %.300s", p1.Status, p1.Body)
	}
	m := nextPage.FindStringSubmatch(p1.Body)
	if m == nil {
		t.Fatalf("filter 27. okt.: no link to the next page with %d entries", len(seqs))
	}
	next := html.UnescapeString(m[1])
	if !strings.Contains(next, "from=2024-10-27") || !strings.Contains(next, "to=2024-10-27") || !strings.Contains(next, "cursor=") {
		t.Errorf("next page's link %q does not keep the filter", next)
	}
	p2 := b.get(next)
	if p2.Status != 200 {
		t.Fatalf("next page %s: %d %.300s", next, p2.Status, p2.Body)
	}
	for i, s := range seqs {
		if !strings.Contains(p1.Body, anchor(s)) && !strings.Contains(p2.Body, anchor(s)) {
			t.Errorf("entry %d of 27. okt. (%s) is on neither page", i, dateOf(first, i))
		}
	}
	for _, day := range []string{"2024-10-26", "2024-10-28"} {
		r := b.get("/app/families/FAM-W?from=" + day + "&to=" + day)
		for i, s := range seqs {
			if strings.Contains(r.Body, anchor(s)) {
				t.Errorf("filter %s shows entry %d of 27. okt. (%s)", day, i, dateOf(first, i))
			}
		}
	}
}

func dateOf(first time.Time, i int) string {
	l, _ := time.LoadLocation("Europe/Copenhagen")
	return first.Add(time.Duration(i) * 29 * time.Minute).In(l).Format(time.RFC3339)
}
