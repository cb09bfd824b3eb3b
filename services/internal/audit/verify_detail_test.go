package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestVerifyDifferenceHoldsNoPersonalText: verify's answer is "not family
// data and not logged", so a difference in a column of personal data (here
// a timeline title, which quotes family.referred's reason) names the
// table, the row and the column, but not the values: not through the API
// and not in the CLI's output.
func TestVerifyDifferenceHoldsNoPersonalText(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam = "FAM-VLEAK"
	const reason = "Bekymring fra skolen om barnets trivsel"
	const tampered = "Henvist af skolen, anden ordlyd"
	ref := s.Post(events.SOF, fam, &events.FamilyReferred{Reason: reason})
	s.WaitApplied(s.Post(events.SOF, fam, testenv.Enrolment()).Sequence)

	s.tamper(`UPDATE timeline SET title = ? WHERE sequence = ?`, tampered, ref.Sequence)
	r := s.Do("POST", "/v1/audit/verify", "dev-auditor", nil, nil)
	if r.Status != 200 {
		t.Fatalf("verify: %d %s", r.Status, r.Raw)
	}
	var v struct {
		FirstDifference *readmodel.Difference `json:"firstDifference"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &v); err != nil {
		t.Fatal(err)
	}
	d := v.FirstDifference
	if d == nil || d.Table != "timeline" || d.FamilyID != fam || d.Sequence != ref.Sequence || d.EventID == "" ||
		!strings.Contains(d.Detail, "title differs: live 31 bytes #") || !strings.Contains(d.Detail, "personal data, values not shown") {
		t.Errorf("first difference: %+v", d)
	}
	for _, text := range []string{reason, tampered, "Bekymring", "ordlyd"} {
		if strings.Contains(r.Raw, text) {
			t.Errorf("verify's answer quotes the family's personal text %q: %s", text, r.Raw)
		}
	}

	var out, errOut bytes.Buffer
	code := audit.Command(context.Background(), "verify", []string{"-url", s.SA.URL(), "-token", "dev-auditor"}, func(string) string { return "" }, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "title differs") {
		t.Fatalf("audit verify: exit %d: %s %s", code, out.String(), errOut.String())
	}
	for _, text := range []string{reason, tampered} {
		if strings.Contains(out.String()+errOut.String(), text) {
			t.Errorf("audit verify prints the family's personal text %q: %s %s", text, out.String(), errOut.String())
		}
	}
}
