package projector_test

import (
	"context"
	"strings"
	"testing"
)

// TestRedriveAnswerNamesNoMember: a message published straight onto NATS
// may hold personal text where a member's name goes; its quarantine
// reason points at the member by that name, and the operator's answer to
// a re-drive says the rule and where, without the name.
func TestRedriveAnswerNamesNoMember(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const name = "Mor drikker og slår børnene"
	msg := `{"specversion":"1.0","id":"sof-direct-1","source":"/departments/sof","type":"dk.kk.jobogfamilie.family.referred.v1",` +
		`"subject":"FAM-M","time":"2024-05-01T09:00:00Z","datacontenttype":"application/json","data":{"` + name + `":"x"}}`
	ack, err := s.js.Publish(context.Background(), "families.FAM-M.sof.family.referred", []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	s.WaitApplied(ack.Sequence)
	r := s.Do("POST", "/v1/admin/quarantine/redrive", "dev-operator", nil, nil)
	if r.Status != 200 {
		t.Fatalf("redrive: %d %s", r.Status, r.Raw)
	}
	if !strings.Contains(r.Raw, "is not a field of this event type") {
		t.Fatalf("the answer does not say why the message stays: %s", r.Raw)
	}
	for _, leak := range []string{"Mor", "drikker", "FAM-M"} {
		if strings.Contains(r.Raw, leak) {
			t.Errorf("the operator's answer holds %q: %s", leak, r.Raw)
		}
	}
}

// TestRefusedFamilyIDIsNotRepeated: a family id that looks like a CPR
// number is refused wherever an id is expected; the 404 says so without
// repeating it, as every refusal of a CPR number does.
func TestRefusedFamilyIDIsNotRepeated(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const cpr = "0101901234"
	for _, path := range []string{"/v1/families/" + cpr, "/v1/families/" + cpr + "/timeline", "/v1/families/010190-1234/timeline/stream"} {
		r := s.Do("GET", path, "dev-auditor", nil, map[string]string{"X-Purpose": "Tilsyn"})
		if r.Status != 404 {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Raw)
		}
		if strings.Contains(r.Raw, "1234") {
			t.Errorf("GET %s repeats the refused id: %s", path, r.Raw)
		}
	}
}
