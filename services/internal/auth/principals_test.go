package auth_test

import (
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/auth"
)

// TestConfigHashCase: a hash is 64 hex digits in either case, and the
// same hash written in the other case is the same token's, used twice.
func TestConfigHashCase(t *testing.T) {
	t.Parallel()
	h := auth.Hash("secret")
	cfg := `{"principals":[
		{"name":"auditor","kind":"auditor","tokenSha256":"` + h + `"},
		{"name":"coordinator E1001","kind":"coordinator","employeeId":"E1001","tokenSha256":"` + strings.ToUpper(h) + `"}]}`
	if _, err := auth.Parse([]byte(cfg)); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Fatalf("one hash in two cases: %v", err)
	}
}
