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

// TestConfigNames: the access log records a static principal by its
// name, so every principal has one, and no two share it.
func TestConfigNames(t *testing.T) {
	t.Parallel()
	a, b := auth.Hash("secret-a"), auth.Hash("secret-b")
	for name, cfg := range map[string]string{
		"empty name": `{"principals":[{"name":"","kind":"auditor","tokenSha256":"` + a + `"}]}`,
		"blank name": `{"principals":[{"name":"  ","kind":"auditor","tokenSha256":"` + a + `"}]}`,
		"same name twice": `{"principals":[{"name":"auditor","kind":"auditor","tokenSha256":"` + a + `"},
			{"name":"auditor","kind":"dpo","tokenSha256":"` + b + `"}]}`,
		"same name, other case and spaces": `{"principals":[{"name":"Auditor","kind":"auditor","tokenSha256":"` + a + `"},
			{"name":" auditor ","kind":"auditor","tokenSha256":"` + b + `"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := auth.Parse([]byte(cfg)); err == nil {
				t.Fatalf("accepted %s", cfg)
			}
		})
	}
}

// TestConfigFieldsOfKind: a field that belongs to another kind of
// principal is refused: the access log would record an auditor's stray
// employeeId as the employee who read.
func TestConfigFieldsOfKind(t *testing.T) {
	t.Parallel()
	h := auth.Hash("secret")
	for name, cfg := range map[string]string{
		"auditor with employeeId":     `{"principals":[{"name":"x","kind":"auditor","employeeId":"E1001","tokenSha256":"` + h + `"}]}`,
		"department with employeeId":  `{"principals":[{"name":"x","kind":"department","department":"sof","employeeId":"E1001","tokenSha256":"` + h + `"}]}`,
		"coordinator with department": `{"principals":[{"name":"x","kind":"coordinator","employeeId":"E1001","department":"sof","tokenSha256":"` + h + `"}]}`,
		"dpo with department":         `{"principals":[{"name":"x","kind":"dpo","department":"sof","tokenSha256":"` + h + `"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := auth.Parse([]byte(cfg)); err == nil {
				t.Fatalf("accepted %s", cfg)
			}
		})
	}
}
