package webapp

import (
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/auth"
)

// TestDecimalComma: pages and chart labels write decimals in Danish, with
// a comma; a whole number has none.
func TestDecimalComma(t *testing.T) {
	t.Parallel()
	v, whole := 2.5, 12.0
	for _, tc := range []struct{ name, got, want string }{
		{"percent(0.125)", percent(0.125), "12,5 %"},
		{"percent(1/12)", percent(1.0 / 12), "8,3 %"},
		{"percent(0.15)", percent(0.15), "15 %"},
		{"formatValue(2.5)", formatValue(&v, false, false), "2,5"},
		{"formatValue(12)", formatValue(&whole, false, false), "12"},
		{"formatValue(0.125, share)", formatValue(ptr(0.125), false, true), "12,5 %"},
		{"axisLabel(7.5)", axisLabel(7.5, false), "7,5"},
		{"axisLabel(0.05, share)", axisLabel(0.05, true), "5 %"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func ptr(f float64) *float64 { return &f }

// TestKindNames: the access log names every kind of principal in Danish,
// not by its code; an unknown kind keeps its code beside words that say
// what it is.
func TestKindNames(t *testing.T) {
	t.Parallel()
	seen := map[string]auth.Kind{}
	for _, k := range []auth.Kind{auth.Department, auth.Coordinator, auth.Auditor, auth.Operator, auth.Analyst, auth.DPO} {
		n := kindName(string(k))
		if n == string(k) || strings.Contains(n, string(k)) || strings.HasPrefix(n, "Anden rolle") {
			t.Errorf("kindName(%q) = %q", k, n)
		}
		if o, ok := seen[n]; ok {
			t.Errorf("%q and %q are both %q", o, k, n)
		}
		seen[n] = k
	}
	if n := kindName("steward"); n != "Anden rolle (steward)" {
		t.Errorf("kindName(steward) = %q", n)
	}
	if n := kindName(""); n != "Ikke angivet" {
		t.Errorf("kindName(\"\") = %q", n)
	}
}
