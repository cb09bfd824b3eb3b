package audit_test

import (
	"strings"
	"testing"
)

// TestRefusedFamilyIDIsNotRepeated: a family id that looks like a CPR
// number is refused wherever an id is expected; the 404 says so without
// repeating it, as every refusal of a CPR number does.
func TestRefusedFamilyIDIsNotRepeated(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	for _, c := range []struct{ path, token string }{
		{"/v1/audit/families/0101901234/timeline", "dev-auditor"},
		{"/v1/privacy/families/010190-1234/access-report", "dev-dpo"},
	} {
		r := s.Get(c.path, c.token, map[string]string{"X-Purpose": "Tilsyn"})
		if r.Status != 404 {
			t.Errorf("GET %s: %d %s", c.path, r.Status, r.Raw)
		}
		if strings.Contains(r.Raw, "1234") {
			t.Errorf("GET %s repeats the refused id: %s", c.path, r.Raw)
		}
	}
}
