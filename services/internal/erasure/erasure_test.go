package erasure_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/erasure"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/standalone"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

const (
	marker  = "MARKER-zq7Xv-henvisningsgrund"
	marker2 = "MARKER-p3Lk-maal"
	fam     = "F-ERASE"
	coord   = "dev-coordinator"
	dpo     = "dev-dpo"
	auditor = "dev-auditor"
)

// TestMain runs a standalone as a child process when the crash test asks
// for one: it kills itself between the two steps of an erasure.
func TestMain(m *testing.M) {
	if dir := os.Getenv("ERASURE_TEST_CHILD_DATA"); dir != "" {
		child(dir, os.Getenv("ERASURE_TEST_CHILD_HTTP"))
		return
	}
	os.Exit(m.Run())
}

func child(dir, addr string) {
	cfg := config.Defaults()
	cfg.DataDir, cfg.HTTPAddr, cfg.NATSListen = dir, addr, "off"
	sa, err := standalone.Start(context.Background(), cfg, testenv.QuietLog())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sa.Erasure.Eraser.AfterRecord = func() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }
	select {}
}

// post stores a family with personal text: a referral with the marker,
// an enrolment, the coordinator's assignment, a goal with the marker.
func post(t *testing.T, do func(method, path, token string, body []byte) testenv.Reply) uint64 {
	t.Helper()
	at := time.Date(2024, 1, 10, 9, 0, 0, 0, time.UTC)
	var last uint64
	for i, p := range []struct {
		dept events.Department
		data events.Payload
	}{
		{events.SOF, &events.FamilyReferred{Reason: marker, Note: marker + " note"}},
		{events.SOF, testenv.Enrolment()},
		{events.SOF, &events.CaseworkerAssigned{EmployeeID: "E1001"}},
		{events.SOF, &events.GoalSet{GoalID: "G1", PersonID: "P1", Title: marker2, Domain: "family", ExpressedBy: "family"}},
	} {
		ev, err := events.Build(p.dept, fam, p.data, events.WithID(fmt.Sprintf("erase-test-%d", i)), events.WithTime(at.Add(time.Duration(i)*time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := events.Marshal(ev)
		r := do("POST", "/departments/"+string(p.dept)+"/v1/events", "dev-"+string(p.dept), b)
		if r.Status != 201 {
			t.Fatalf("post %d: %d %s", i, r.Status, r.Raw)
		}
		last = uint64(r.Body["position"].(float64))
	}
	return last
}

// grepDir lists the files under dir that hold any of needles.
func grepDir(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				hits = append(hits, path+": "+n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestEraseEndToEnd posts a family with a marker string, reads it on
// every path, erases it, and checks every read path, the whole data
// directory and verify.
func TestEraseEndToEnd(t *testing.T) {
	sa, err := standalone.Start(context.Background(), testenv.Config(t), testenv.QuietLog())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = sa.Stop()
		}
	})
	testenv.WaitReady(t, sa.URL())
	s := &testenv.System{T: t, SA: sa}
	do := func(method, path, token string, body []byte) testenv.Reply {
		return s.Do(method, path, token, body, map[string]string{"Content-Type": "application/cloudevents+json", "X-Purpose": "test"})
	}
	last := post(t, do)
	s.WaitApplied(last)
	dataDir := s.SA.Config.DataDir

	// Before: plaintext on the read paths, ciphertext in the stream.
	if r := s.Get("/v1/families/"+fam+"/timeline", coord, nil); r.Status != 200 || !strings.Contains(r.Raw, marker) || !strings.Contains(r.Raw, marker2) {
		t.Fatalf("timeline before: %d %s", r.Status, r.Raw)
	}
	if r := s.Get("/v1/audit/events?family="+fam, auditor, nil); r.Status != 200 || !strings.Contains(r.Raw, marker) {
		t.Fatalf("audit replay before: %d %s", r.Status, r.Raw)
	}
	if hits := grepDir(t, filepath.Join(dataDir, "nats"), marker, marker2); len(hits) > 0 {
		t.Fatalf("plaintext in the stream's files: %v", hits)
	}

	// Erase, as the DPO only; twice is safe.
	if r := s.Do("POST", "/v1/privacy/families/"+fam+"/erase", coord, []byte(`{"reason":"Art. 17"}`), nil); r.Status != 403 {
		t.Fatalf("coordinator erase: %d", r.Status)
	}
	if r := s.Do("POST", "/v1/privacy/families/"+fam+"/erase", dpo, []byte(`{}`), nil); r.Status != 400 {
		t.Fatalf("erase without a reason: %d", r.Status)
	}
	if r := s.Do("POST", "/v1/privacy/families/NOPE/erase", dpo, []byte(`{"reason":"Art. 17"}`), nil); r.Status != 404 {
		t.Fatalf("erase of an unknown family: %d", r.Status)
	}
	beforeErase := time.Now().UTC()
	r := s.Do("POST", "/v1/privacy/families/"+fam+"/erase", dpo, []byte(`{"reason":"Anmodning efter GDPR art. 17"}`), nil)
	if r.Status != 201 || r.Body["keyDestroyed"] != true {
		t.Fatalf("erase: %d %s", r.Status, r.Raw)
	}
	erasedAt := uint64(r.Body["sequence"].(float64))
	if r := s.Do("POST", "/v1/privacy/families/"+fam+"/erase", dpo, []byte(`{"reason":"igen"}`), nil); r.Status != 200 || uint64(r.Body["sequence"].(float64)) != erasedAt {
		t.Fatalf("erase again: %d %s", r.Status, r.Raw)
	}
	s.WaitApplied(erasedAt)

	// Every read path: the tombstone, typed, and no marker.
	check := func(what, body string, wantTyped string) {
		t.Helper()
		if strings.Contains(body, marker) || strings.Contains(body, marker2) {
			t.Errorf("%s: the marker is still there: %s", what, body)
		}
		if !strings.Contains(body, shred.Tombstone) || (wantTyped != "" && !strings.Contains(body, wantTyped)) {
			t.Errorf("%s: no tombstone %q: %s", what, wantTyped, body)
		}
	}
	tl := s.Get("/v1/families/"+fam+"/timeline", coord, nil)
	check("timeline", tl.Raw, `"erased":true,"erasedFields":["reason","note"]`)
	if !strings.Contains(tl.Raw, `"erasedFields":["title"]`) {
		t.Errorf("timeline: goal.set's title not named erased: %s", tl.Raw)
	}
	check("overview", s.Get("/v1/families/"+fam, coord, nil).Raw, `"erased":true`)
	check("audit replay", s.Get("/v1/audit/events?family="+fam, auditor, nil).Raw, `"jferased":"reason,note"`)
	check("as-of", s.Get("/v1/audit/families/"+fam+"/timeline?asOf="+time.Now().UTC().Format(time.RFC3339Nano), auditor, nil).Raw, `"erased":true`)
	// The as-of overview says so too, also as of a moment before the
	// erasure: its text fields read as the tombstone as well.
	for what, u := range map[string]string{
		"as-of overview now":    "/v1/audit/families/" + fam + "/timeline",
		"as-of overview before": "/v1/audit/families/" + fam + "/timeline?asOf=" + url.QueryEscape(beforeErase.Format(time.RFC3339Nano)),
	} {
		r := s.Get(u, auditor, nil)
		ov, _ := r.Body["overview"].(map[string]any)
		if r.Status != 200 || ov["erased"] != true {
			t.Errorf("%s: overview not marked erased: %d %v", what, r.Status, ov)
		}
	}
	if r := s.Do("POST", "/v1/audit/verify", auditor, nil, nil); r.Status != 200 || r.Body["match"] != true {
		t.Fatalf("verify after erasure: %d %s", r.Status, r.Raw)
	}
	exp := t.TempDir() + "/archive"
	if _, err := audit.Export(context.Background(), s.SA.Running.Store.JS, exp, audit.ExportOptions{Keys: s.SA.Running.Keys}); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.VerifyExport(exp); err != nil {
		t.Fatalf("export's chain: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(exp, audit.EventsFile))
	check("export", string(b), `"jferased":"reason,note"`)

	// Structured data stays: the counts and ids.
	if ov := s.Get("/v1/families/"+fam, coord, nil); ov.Body["totalEvents"] == nil || ov.Body["status"] != "enrolled" {
		t.Errorf("overview lost structured data: %s", ov.Raw)
	}
	// Nothing more is written about the family.
	ev, _ := events.Build(events.SOF, fam, &events.FamilyReferred{Reason: "again"})
	eb, _ := events.Marshal(ev)
	if r := do("POST", "/departments/sof/v1/events", "dev-sof", eb); r.Status != 409 {
		t.Errorf("post after erasure: %d %s", r.Status, r.Raw)
	}

	// No byte of the text anywhere in the data directory, once stopped.
	stopped = true
	if err := s.SA.Stop(); err != nil {
		t.Fatal(err)
	}
	if hits := grepDir(t, dataDir, marker, marker2); len(hits) > 0 {
		t.Fatalf("erased text left in the data directory: %v", hits)
	}
}

// TestEraseResumesAfterKill kills a standalone between the two steps of
// an erasure (family.erased stored, key not destroyed) and restarts it:
// the start finishes the erasure.
func TestEraseResumesAfterKill(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ERASURE_TEST_CHILD_DATA="+dir, "ERASURE_TEST_CHILD_HTTP="+addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	testenv.WaitReady(t, base)
	do := func(method, path, token string, body []byte) testenv.Reply {
		return testenv.Do(t, base, method, path, token, body, map[string]string{"Content-Type": "application/cloudevents+json"})
	}
	post(t, do)
	// The request dies with the process.
	req := func() error {
		_, err := httpPost(base+"/v1/privacy/families/"+fam+"/erase", dpo, `{"reason":"Art. 17"}`)
		return err
	}
	if err := req(); err == nil {
		t.Fatal("the erase request answered: the child was not killed")
	}
	werr := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not SIGKILL", werr)
	}

	cfg := testenv.Config(t, func(c *config.Config) { c.DataDir = dir })
	sa := testenv.Start(t, cfg)
	keys := sa.Running.Keys
	testenv.CheckFor(t, 20*time.Second, func() error {
		ok, err := keys.KeyExists(context.Background(), fam)
		if err != nil || ok {
			return fmt.Errorf("key still exists (%v)", err)
		}
		return nil
	})
	testenv.CheckFor(t, 20*time.Second, func() error {
		r := testenv.Do(t, sa.URL(), "GET", "/v1/families/"+fam+"/timeline", coord, nil, nil)
		if r.Status != 200 || strings.Contains(r.Raw, marker) || !strings.Contains(r.Raw, `"erased":true`) {
			return fmt.Errorf("timeline: %d %s", r.Status, r.Raw)
		}
		return nil
	})
	// Repeating the request now finds the erasure recorded.
	r := testenv.Do(t, sa.URL(), "POST", "/v1/privacy/families/"+fam+"/erase", dpo, []byte(`{"reason":"Art. 17"}`), nil)
	if r.Status != 200 || r.Body["keyDestroyed"] != true || r.Body["recorded"] != false {
		t.Fatalf("erase after restart: %d %s", r.Status, r.Raw)
	}
	if r := testenv.Do(t, sa.URL(), "POST", "/v1/audit/verify", auditor, nil, nil); r.Status != 200 || r.Body["match"] != true {
		t.Fatalf("verify: %d %s", r.Status, r.Raw)
	}
}

// TestDue lists a family whose last event is older than the retention
// period, and not one in a course.
func TestDue(t *testing.T) {
	s := testenv.StartSystem(t, func(c *config.Config) { c.RetentionYears = 1 })
	old := time.Now().UTC().AddDate(-2, 0, 0)
	p := s.Post(events.SOF, "F-OLD", &events.FamilyReferred{Reason: "gammel"}, events.WithTime(old))
	q := s.Post(events.SOF, "F-NEW", &events.FamilyReferred{Reason: "ny"})
	s.Post(events.SOF, "F-IN", &events.FamilyReferred{Reason: "i forløb"}, events.WithTime(old))
	r := s.Post(events.SOF, "F-IN", testenv.Enrolment(), events.WithTime(old.Add(time.Hour)))
	s.WaitApplied(max(p.Sequence, q.Sequence, r.Sequence))
	if r := s.Get("/v1/privacy/due", coord, nil); r.Status != 403 {
		t.Fatalf("due as coordinator: %d", r.Status)
	}
	got := s.Get("/v1/privacy/due", dpo, nil)
	if got.Status != 200 {
		t.Fatalf("due: %d %s", got.Status, got.Raw)
	}
	fams := got.Body["families"].([]any)
	if len(fams) != 1 || fams[0].(map[string]any)["familyId"] != "F-OLD" || fams[0].(map[string]any)["basis"] != "last-event" {
		t.Fatalf("due: %s", got.Raw)
	}
	_ = erasure.ErasedID
}

// TestDueListLogged: GET /v1/privacy/due names families with their status
// and dates, so each family listed has an access-log entry for it before
// the list is sent, with the dpo's X-Purpose or, without one, the fixed
// purpose that names the retention list; a family not listed has none.
// The citizen's access report of a listed family then lists those reads.
func TestDueListLogged(t *testing.T) {
	s := testenv.StartSystem(t, func(c *config.Config) { c.RetentionYears = 1 })
	old := time.Now().UTC().AddDate(-2, 0, 0)
	p := s.Post(events.SOF, "F-OLD", &events.FamilyReferred{Reason: "gammel"}, events.WithTime(old))
	q := s.Post(events.SOF, "F-NEW", &events.FamilyReferred{Reason: "ny"})
	s.WaitApplied(max(p.Sequence, q.Sequence))
	if r := s.Get("/v1/privacy/due", dpo, nil); r.Status != 200 || !strings.Contains(r.Raw, `"F-OLD"`) {
		t.Fatalf("due: %d %s", r.Status, r.Raw)
	}
	if r := s.Get("/v1/privacy/due", dpo, map[string]string{"X-Purpose": "Årlig gennemgang"}); r.Status != 200 {
		t.Fatalf("due with a purpose: %d %s", r.Status, r.Raw)
	}
	if r := s.Get("/v1/privacy/due", dpo, map[string]string{"X-Purpose": "Anmodning fra 010101-1234"}); r.Status != 422 {
		t.Errorf("due with a CPR number in X-Purpose: %d %s", r.Status, r.Raw)
	}
	logOf := func(fam string) []map[string]any {
		t.Helper()
		r := s.Get("/v1/audit/access-log?family="+fam, auditor, nil)
		if r.Status != 200 {
			t.Fatalf("access log of %s: %d %s", fam, r.Status, r.Raw)
		}
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(r.Raw), "\n") {
			if line == "" {
				continue
			}
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			out = append(out, e)
		}
		return out
	}
	got := logOf("F-OLD")
	if len(got) != 2 {
		t.Fatalf("F-OLD's access log: %v, want the two reads of the due list", got)
	}
	for i, purpose := range []string{erasure.DuePurpose, "Årlig gennemgang"} {
		if e := got[i]; e["familyId"] != "F-OLD" || e["kind"] != "dpo" || e["endpoint"] != "GET /v1/privacy/due" || e["purpose"] != purpose {
			t.Errorf("entry %d: %v, want the dpo's read with purpose %q", i, e, purpose)
		}
	}
	if got := logOf("F-NEW"); len(got) != 0 {
		t.Errorf("a family the list does not name is logged: %v", got)
	}
	r := s.Get("/v1/privacy/families/F-OLD/access-report", dpo, map[string]string{"X-Purpose": "Anmodning om indsigt"})
	if r.Status != 200 {
		t.Fatalf("access report: %d %s", r.Status, r.Raw)
	}
	var rep struct {
		Reads []struct{ Purpose, ReaderKind string }
	}
	if err := json.Unmarshal([]byte(r.Raw), &rep); err != nil {
		t.Fatal(err)
	}
	var purposes []string
	for _, rd := range rep.Reads {
		if rd.ReaderKind == "dpo" {
			purposes = append(purposes, rd.Purpose)
		}
	}
	if want := []string{erasure.DuePurpose, "Årlig gennemgang", "Anmodning om indsigt"}; !slices.Equal(purposes, want) {
		t.Errorf("the access report lists the dpo's reads with purposes %q, want %q", purposes, want)
	}
}

// TestEraseWithLastSequence: an erase request that names the last
// sequence archived erases only while that is still the family's last
// event; else it answers 409 family-changed and erases nothing.
func TestEraseWithLastSequence(t *testing.T) {
	s := testenv.StartSystem(t)
	first := s.Post(events.SOF, "F-ARCH", &events.FamilyReferred{Reason: "først"})
	second := s.Post(events.SOF, "F-ARCH", &events.FamilyReferred{Reason: "siden"})
	s.WaitApplied(second.Sequence)
	erase := func(body string) testenv.Reply {
		return s.Do("POST", "/v1/privacy/families/F-ARCH/erase", dpo, []byte(body), map[string]string{"Content-Type": "application/json"})
	}
	for _, c := range []struct {
		last   uint64
		detail string
	}{
		{first.Sequence, fmt.Sprintf("has events after sequence %d (its last is at %d)", first.Sequence, second.Sequence)},
		{second.Sequence + 1, fmt.Sprintf("last event is at sequence %d, not %d", second.Sequence, second.Sequence+1)},
	} {
		r := erase(fmt.Sprintf(`{"reason":"Art. 17","lastSequence":%d}`, c.last))
		if r.Status != 409 || r.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.HasSuffix(fmt.Sprint(r.Body["type"]), "/family-changed") || !strings.Contains(fmt.Sprint(r.Body["detail"]), c.detail) {
			t.Errorf("erase with lastSequence %d: %d %s", c.last, r.Status, r.Raw)
		}
	}
	if r := erase(`{"reason":"Art. 17","lastSequence":0}`); r.Status != 400 {
		t.Errorf("erase with lastSequence 0: %d %s", r.Status, r.Raw)
	}
	if ok, err := s.SA.Keys.KeyExists(context.Background(), "F-ARCH"); err != nil || !ok {
		t.Fatalf("a refused erasure destroyed the key (%v)", err)
	}
	if got := s.Get("/v1/audit/events?family=F-ARCH", auditor, nil).Raw; strings.Contains(got, "family.erased") || !strings.Contains(got, "siden") {
		t.Fatalf("a refused erasure recorded family.erased: %s", got)
	}
	r := erase(fmt.Sprintf(`{"reason":"Art. 17","lastSequence":%d}`, second.Sequence))
	if r.Status != 201 || r.Body["keyDestroyed"] != true {
		t.Fatalf("erase with the last sequence: %d %s", r.Status, r.Raw)
	}
	// Erased before: the erasure is answered whatever lastSequence says.
	if r := erase(fmt.Sprintf(`{"reason":"Art. 17","lastSequence":%d}`, first.Sequence)); r.Status != 200 {
		t.Errorf("erase again: %d %s", r.Status, r.Raw)
	}
}

// TestEraseWithLastSequenceRace: an event stored after the erasure
// looked up the family's last sequence and before it stores family.erased
// fails the write (JetStream's expected last sequence of the family's
// subjects): 409, and nothing is erased.
func TestEraseWithLastSequenceRace(t *testing.T) {
	s := testenv.StartSystem(t)
	p := s.Post(events.SOF, "F-RACE", &events.FamilyReferred{Reason: "først"})
	s.WaitApplied(p.Sequence)
	var late testenv.Posted
	s.SA.Erasure.Eraser.BeforeRecord = func() {
		late = s.Post(events.SOF, "F-RACE", &events.FamilyReferred{Reason: "imellem"})
	}
	r := s.Do("POST", "/v1/privacy/families/F-RACE/erase", dpo, []byte(fmt.Sprintf(`{"reason":"Art. 17","lastSequence":%d}`, p.Sequence)),
		map[string]string{"Content-Type": "application/json"})
	want := fmt.Sprintf("has events after sequence %d (its last is at %d)", p.Sequence, late.Sequence)
	if r.Status != 409 || !strings.Contains(fmt.Sprint(r.Body["detail"]), want) {
		t.Fatalf("erase with an event stored during it: %d %s, want 409 %q", r.Status, r.Raw, want)
	}
	if ok, err := s.SA.Keys.KeyExists(context.Background(), "F-RACE"); err != nil || !ok {
		t.Fatalf("a refused erasure destroyed the key (%v)", err)
	}
	st, err := s.SA.Store.JS.Stream(context.Background(), "FAMILY_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetLastMsgForSubject(context.Background(), shred.ErasedSubject("F-RACE")); err == nil {
		t.Fatal("a refused erasure stored family.erased")
	}
}

func httpPost(url, token, body string) (int, error) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestResumeWithNothingToResume: on a stream without erasures, resuming
// finds nothing and says so at once; it is not an error (which the start
// would log, and retry every few seconds for as long as the process runs).
// "At once" is that no fetch is made, which would wait out its expiry
// for messages that are not there: the consumers Resume makes are counted,
// and so is every read through them.
func TestResumeWithNothingToResume(t *testing.T) {
	s := testenv.StartSystem(t)
	s.WaitApplied(s.Post(events.SOF, "F-KEEP", &events.FamilyReferred{Reason: "bliver"}).Sequence)
	js := &countingJS{JetStream: s.SA.Erasure.Eraser.JS}
	e := *s.SA.Erasure.Eraser
	e.JS = js
	n, err := e.Resume(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("Resume = %d, %v; want 0 and no error", n, err)
	}
	if c := js.consumers.Load(); c != 1 {
		t.Fatalf("Resume made %d consumers, want 1: the count below does not see its reads", c)
	}
	if r := js.reads.Load(); r != 0 {
		t.Errorf("Resume read %d times from a consumer with nothing pending; want it to return at once", r)
	}
}

// TestEraseRefusesAmbiguousBody: an erasure cannot be undone, so its body
// is one JSON object and nothing after it, within the limit: a second
// object, trailing text or a body cut off at the limit is refused as a
// whole, and nothing is erased.
func TestEraseRefusesAmbiguousBody(t *testing.T) {
	s := testenv.StartSystem(t)
	p := s.Post(events.SOF, "F-BODY", &events.FamilyReferred{Reason: "bliver"})
	s.WaitApplied(p.Sequence)
	long := `{"reason":"Art. 17"}` + strings.Repeat(" ", 8<<10) + `{"reason":"x"}`
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"reason":"Art. 17"} {"reason":"Art. 6"}`, 400},
		{`{"reason":"Art. 17"} x`, 400},
		{`{"reason":"Art. 17"}]`, 400},
		{long, 413},
	} {
		r := s.Do("POST", "/v1/privacy/families/F-BODY/erase", dpo, []byte(c.body), map[string]string{"Content-Type": "application/json"})
		if r.Status != c.status || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("erase with body %.40q: %d %s, want %d", c.body, r.Status, r.Raw, c.status)
		}
	}
	if ok, err := s.SA.Keys.KeyExists(context.Background(), "F-BODY"); err != nil || !ok {
		t.Fatalf("a refused request destroyed the key (%v)", err)
	}
	// One object, white space after it: erased.
	if r := s.Do("POST", "/v1/privacy/families/F-BODY/erase", dpo, []byte("{\"reason\":\"Art. 17\"}\n"), nil); r.Status != 201 {
		t.Fatalf("erase: %d %s", r.Status, r.Raw)
	}
}

// countingJS counts the ordered consumers made through it and the reads
// from them.
type countingJS struct {
	jetstream.JetStream
	consumers, reads atomic.Int32
}

func (j *countingJS) OrderedConsumer(ctx context.Context, stream string, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	c, err := j.JetStream.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, err
	}
	j.consumers.Add(1)
	return countingConsumer{Consumer: c, reads: &j.reads}, nil
}

type countingConsumer struct {
	jetstream.Consumer
	reads *atomic.Int32
}

func (c countingConsumer) Next(opts ...jetstream.FetchOpt) (jetstream.Msg, error) {
	c.reads.Add(1)
	return c.Consumer.Next(opts...)
}

func (c countingConsumer) Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	c.reads.Add(1)
	return c.Consumer.Fetch(batch, opts...)
}

func (c countingConsumer) FetchBytes(maxBytes int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	c.reads.Add(1)
	return c.Consumer.FetchBytes(maxBytes, opts...)
}

func (c countingConsumer) FetchNoWait(batch int) (jetstream.MessageBatch, error) {
	c.reads.Add(1)
	return c.Consumer.FetchNoWait(batch)
}

func (c countingConsumer) Consume(h jetstream.MessageHandler, opts ...jetstream.PullConsumeOpt) (jetstream.ConsumeContext, error) {
	c.reads.Add(1)
	return c.Consumer.Consume(h, opts...)
}

func (c countingConsumer) Messages(opts ...jetstream.PullMessagesOpt) (jetstream.MessagesContext, error) {
	c.reads.Add(1)
	return c.Consumer.Messages(opts...)
}
