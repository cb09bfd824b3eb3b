package audit_test

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// asOf is the body of the as-of timeline.
type asOf struct {
	FamilyID string          `json:"familyId"`
	AsOf     time.Time       `json:"asOf"`
	Position uint64          `json:"position"`
	Overview family.Overview `json:"overview"`
	Entries  []struct {
		ID         string    `json:"id"`
		Sequence   uint64    `json:"sequence"`
		Time       time.Time `json:"time"`
		RecordedAt time.Time `json:"recordedAt"`
		Type       string    `json:"type"`
		Title      string    `json:"title"`
	} `json:"entries"`
}

func (s *system) asOf(fam string, t time.Time) asOf {
	s.T.Helper()
	path := "/v1/audit/families/" + fam + "/timeline?asOf=" + url.QueryEscape(t.Format(time.RFC3339Nano))
	r := s.Get(path, "dev-auditor", nil)
	if r.Status != 200 {
		s.T.Fatalf("GET %s: %d %s", path, r.Status, r.Raw)
	}
	var v asOf
	if err := json.Unmarshal([]byte(r.Raw), &v); err != nil {
		s.T.Fatal(err)
	}
	return v
}

// TestAsOfBackfill: event A is recorded at T1; at T2 a department
// backfills event B whose time lies before A's. As of a moment between T1
// and T2 the auditor sees what the municipality knew then (A only); as of
// T2 and after, B too, sorted first by when it happened, and the overview
// folds it in.
func TestAsOfBackfill(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam = "FAM-ASOF"
	happened := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second)
	a := s.Post(events.SOF, fam, testenv.Enrolment(), events.WithTime(happened))
	s.WaitApplied(a.Sequence)
	objs, _ := s.lines("/v1/audit/events?family=" + fam)
	t1 := recordedAtOf(t, objs[0])
	// Make sure T2 lies strictly after T1 (timestamps are nanoseconds).
	checkFor(t, time.Second, func() error {
		if time.Now().After(t1.Add(time.Millisecond)) {
			return nil
		}
		return errNotYet
	})
	b := s.Post(events.BIF, fam, &events.BenefitGranted{PersonID: "P1", Benefit: "integrationsydelse"}, events.WithTime(happened.AddDate(0, -3, 0)))
	s.WaitApplied(b.Sequence)
	objs, _ = s.lines("/v1/audit/events?family=" + fam)
	t2 := recordedAtOf(t, objs[1])
	if !t2.After(t1) {
		t.Fatalf("T2 %s is not after T1 %s", t2, t1)
	}

	// Before anything was recorded: the family was not known yet.
	v := s.asOf(fam, t1.Add(-time.Nanosecond))
	if len(v.Entries) != 0 || v.Overview.TotalEvents != 0 || v.Overview.Status != family.StatusKnown {
		t.Errorf("before T1: %+v", v)
	}
	// At T1 and between T1 and T2: A only.
	for _, at := range []time.Time{t1, t1.Add(t2.Sub(t1) / 2), t2.Add(-time.Nanosecond)} {
		v := s.asOf(fam, at)
		if len(v.Entries) != 1 || v.Entries[0].Sequence != a.Sequence {
			t.Fatalf("as of %s: %+v", at, v.Entries)
		}
		if v.Overview.TotalEvents != 1 || v.Overview.Status != family.StatusEnrolled || len(v.Overview.Benefits) != 1 {
			t.Errorf("as of %s: overview %+v", at, v.Overview)
		}
		if v.FamilyID != fam || !v.AsOf.Equal(at) {
			t.Errorf("as of %s: %s %s", at, v.FamilyID, v.AsOf)
		}
	}
	// At T2 and later: B too, sorted first because it happened first.
	for _, at := range []time.Time{t2, time.Now().UTC()} {
		v := s.asOf(fam, at)
		if len(v.Entries) != 2 || v.Entries[0].Sequence != b.Sequence || v.Entries[1].Sequence != a.Sequence {
			t.Fatalf("as of %s: %+v", at, v.Entries)
		}
		if e := v.Entries[0]; !e.Time.Equal(happened.AddDate(0, -3, 0)) || !e.RecordedAt.Equal(t2) || e.Title == "" {
			t.Errorf("backfilled entry: %+v", e)
		}
		if v.Overview.TotalEvents != 2 || len(v.Overview.Benefits) != 2 {
			t.Errorf("as of %s: overview %+v", at, v.Overview)
		}
	}
	// The as-of overview of the present is the coordinators' overview.
	now := s.asOf(fam, time.Now().UTC())
	live := s.Get("/v1/families/"+fam, "dev-auditor", nil)
	var ov family.Overview
	if err := json.Unmarshal([]byte(live.Raw), &ov); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(now.Overview)
	want, _ := json.Marshal(ov)
	if string(got) != string(want) {
		t.Errorf("as-of overview of now:\n%s\nlive overview:\n%s", got, want)
	}

	// The hand-written JSON is the JSON of the view.
	view, err := s.SA.Projector.AuditView().AsOf(context.Background(), fam, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hand, err := view.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	reflected, _ := json.Marshal(view)
	var x, y any
	if err := json.Unmarshal(hand, &x); err != nil {
		t.Fatalf("AppendJSON: %v: %s", err, hand)
	}
	_ = json.Unmarshal(reflected, &y)
	if !reflect.DeepEqual(x, y) {
		t.Errorf("AppendJSON:\n%s\njson.Marshal:\n%s", hand, reflected)
	}

	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/v1/audit/families/FAM-NONE/timeline", 404},
		{"/v1/audit/families/" + fam + "/timeline?asOf=yesterday", 400},
		// Past 2262 a time has no nanoseconds since 1970 in 64 bits.
		{"/v1/audit/families/" + fam + "/timeline?asOf=2300-01-01T00:00:00Z", 400},
		{"/v1/audit/families/" + fam + "/timeline?asOf=1899-12-31T00:00:00Z", 400},
		{"/v1/audit/families/" + fam + "/timeline?asOf=2200-01-01T00:00:00Z", 200},
		{"/v1/audit/families/" + fam + "/timeline?order=asc", 400},
		{"/v1/audit/families/" + fam + "/timeline", 200},
	} {
		if r := s.Get(tc.path, "dev-auditor", nil); r.Status != tc.status {
			t.Errorf("%s: %d %s", tc.path, r.Status, r.Raw)
		}
	}
}

type notYet struct{}

func (notYet) Error() string { return "not yet" }

var errNotYet error = notYet{}
