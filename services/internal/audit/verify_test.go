package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// verifyResult is the body of POST /v1/audit/verify.
type verifyResult struct {
	Events          uint64                `json:"events"`
	Live            string                `json:"live"`
	Replay          string                `json:"replay"`
	Match           bool                  `json:"match"`
	FirstDifference *readmodel.Difference `json:"firstDifference"`
}

func (s *system) verify() verifyResult {
	s.T.Helper()
	r := s.Do("POST", "/v1/audit/verify", "dev-auditor", nil, nil)
	if r.Status != 200 {
		s.T.Fatalf("POST /v1/audit/verify: %d %s", r.Status, r.Raw)
	}
	var v verifyResult
	if err := json.Unmarshal([]byte(r.Raw), &v); err != nil {
		s.T.Fatal(err)
	}
	return v
}

// tamper changes the live read model's file behind the projector's back,
// as someone with access to the disk could.
func (s *system) tamper(stmt string, args ...any) {
	s.T.Helper()
	path, err := s.SA.Projector.AuditView().ModelPath()
	if err != nil {
		s.T.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		s.T.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(stmt, args...)
	if err != nil {
		s.T.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		s.T.Fatalf("%s changed %d rows", stmt, n)
	}
}

// TestVerify replays the stream into a fresh projection and compares it
// with the live read model: they agree; then rows of the live model's
// SQLite file are changed or deleted directly, and verify names the first
// family and entry that differ.
func TestVerify(t *testing.T) {
	t.Parallel()
	s := startSystem(t, true)
	var last posted
	for _, fam := range []string{"FAM-V1", "FAM-V2", "FAM-V3"} {
		s.Post(events.SOF, fam, testenv.Enrolment())
		s.Post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"})
		last = s.Post(events.BIF, fam, &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10})
	}
	// A message the projector quarantines is part of what is verified.
	ack, err := s.SA.Store.JS.Publish(context.Background(), "families.FAM-V2.sof.family.referred", []byte(`{"not":"an event"}`))
	if err != nil {
		t.Fatal(err)
	}
	s.WaitApplied(ack.Sequence)

	v := s.verify()
	if !v.Match || v.Events != ack.Sequence || v.Live != v.Replay || v.FirstDifference != nil || len(v.Live) != 64 {
		t.Fatalf("untouched model: %+v", v)
	}
	// The verify digest is the projector's own digest of its model.
	if d, err := s.SA.Projector.Digest(context.Background()); err != nil || d != v.Live {
		t.Errorf("projector digest %s (%v), verify's live digest %s", d, err, v.Live)
	}
	if r := s.Get("/v1/audit/verify", "dev-auditor", nil); r.Status != 200 || r.Body["state"] != "done" {
		t.Errorf("GET /v1/audit/verify: %d %s", r.Status, r.Raw)
	}

	// A changed timeline row (the praktik of FAM-V2).
	praktik := last.Sequence - 3
	s.tamper(`UPDATE timeline SET title = 'Praktik startet hos 87654321, 37 t/uge' WHERE sequence = ?`, praktik)
	v = s.verify()
	if d := v.FirstDifference; v.Match || v.Live == v.Replay || d == nil || d.Table != "timeline" || d.Sequence != praktik ||
		d.FamilyID != "FAM-V2" || !strings.Contains(d.Detail, "title differs") || strings.Contains(d.Detail, "Praktik") {
		t.Fatalf("changed row: %+v %+v", v, v.FirstDifference)
	}

	// A missing row before it: named first.
	enrolled := praktik - 2
	s.tamper(`DELETE FROM timeline WHERE sequence = ?`, enrolled)
	v = s.verify()
	if d := v.FirstDifference; v.Match || d == nil || d.Table != "timeline" || d.Sequence != enrolled || d.FamilyID != "FAM-V2" ||
		!strings.Contains(d.Detail, "missing from the live read model") {
		t.Fatalf("missing row: %+v %+v", v, v.FirstDifference)
	}

	// On a model whose timeline is intact again, a changed overview names
	// the family and where its overview differs, not what it holds there.
	s2 := startSystem(t, false)
	s2.Post(events.SOF, "FAM-O", testenv.Enrolment())
	p := s2.Post(events.SOF, "FAM-O", &events.CaseworkerAssigned{EmployeeID: "E1002"})
	s2.WaitApplied(p.Sequence)
	s2.tamper(`UPDATE families SET overview = replace(overview, '"caseworker":"E1002"', '"caseworker":"E1001"') WHERE family_id = ?`, "FAM-O")
	v = s2.verify()
	if d := v.FirstDifference; v.Match || d == nil || d.Table != "families" || d.FamilyID != "FAM-O" ||
		!strings.Contains(d.Detail, "overview differs at /caseworker: live 7 bytes #") || strings.Contains(d.Detail, "E100") {
		t.Fatalf("changed overview: %+v %+v", v, v.FirstDifference)
	}
	s2.tamper(`DELETE FROM family_access WHERE family_id = ?`, "FAM-O")
	s2.tamper(`UPDATE families SET overview = replace(overview, '"caseworker":"E1001"', '"caseworker":"E1002"') WHERE family_id = ?`, "FAM-O")
	v = s2.verify()
	if d := v.FirstDifference; v.Match || d == nil || d.Table != "access" || d.FamilyID != "FAM-O" || d.EmployeeID != "E1002" {
		t.Fatalf("missing access: %+v %+v", v, v.FirstDifference)
	}

	// The CLI: through the API, and against the model file and NATS.
	for _, args := range [][]string{
		{"-url", s.SA.URL(), "-token", "dev-auditor"},
		{"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.OperatorKey, "-model", s.SA.Config.DataDir, "-tmp", t.TempDir()},
	} {
		var out, errOut bytes.Buffer
		code := audit.Command(context.Background(), "verify", args, func(string) string { return "" }, &out, &errOut)
		var res verifyResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("audit verify %v: %v: %s %s", args, err, out.String(), errOut.String())
		}
		if code != 1 || res.Match || res.FirstDifference == nil || res.FirstDifference.Sequence != enrolled ||
			!strings.Contains(errOut.String(), "MISMATCH") {
			t.Errorf("audit verify %v: exit %d: %s %s", args, code, out.String(), errOut.String())
		}
	}
}

// TestVerifyCLIWithPersonalFields: the CLI against the model file and
// NATS replays with the master key, so a model holding events with
// encrypted personal fields matches.
func TestVerifyCLIWithPersonalFields(t *testing.T) {
	t.Parallel()
	s := startSystem(t, true)
	s.Post(events.SOF, "FAM-P", &events.FamilyReferred{Reason: "Bekymring fra skolen"})
	s.WaitApplied(s.Post(events.SOF, "FAM-P", testenv.Enrolment()).Sequence)
	var out, errOut bytes.Buffer
	args := []string{"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.OperatorKey, "-model", s.SA.Config.DataDir,
		"-tmp", t.TempDir(), "-master-key-file", shred.DevMasterKeyFile(s.SA.Config.DataDir)}
	if code := audit.Command(context.Background(), "verify", args, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Errorf("audit verify of an untouched model: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
}

// TestVerifyWhileWriting verifies while departments keep writing: the live
// model is pinned between two of the projector's batches, and the replay
// stops exactly at the pinned checkpoint, so the two agree.
func TestVerifyWhileWriting(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var batch [][]byte
			for k := range 20 {
				ce, err := events.Build(events.SOF, fmt.Sprintf("FAM-W%d", k), &events.MeetingHeld{Kind: "team", Participants: []string{"E1001"}})
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := events.Marshal(ce)
				batch = append(batch, b)
			}
			body := append(append([]byte("["), bytes.Join(batch, []byte(","))...), ']')
			r, err := s.TryDo("POST", "/departments/sof/v1/events", "dev-sof", body, map[string]string{"Content-Type": "application/cloudevents-batch+json"})
			if err != nil {
				t.Errorf("batch %d: %v", i, err)
				return
			}
			if r.Status != 201 {
				t.Errorf("batch %d: %d %s", i, r.Status, r.Raw)
				return
			}
		}
	}()
	checkFor(t, 10*time.Second, func() error {
		if s.SA.Projector.Position() < 200 {
			return errNotYet
		}
		return nil
	})
	for range 3 {
		v := s.verify()
		if !v.Match || v.Events == 0 {
			t.Errorf("verify while writing: %+v %+v", v, v.FirstDifference)
		}
	}
	close(stop)
	<-done
}
