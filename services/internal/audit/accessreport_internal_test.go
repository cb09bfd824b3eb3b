package audit

import "testing"

// TestEndpointKinds: every page and endpoint that shows a family's data
// has a kind of its own in the citizen's report, with its Danish name;
// only what matches none is "other".
func TestEndpointKinds(t *testing.T) {
	t.Parallel()
	for endpoint, want := range map[string]string{
		"GET /app/":           "web-app-list",
		"GET /v1/families":    "family-list",
		"GET /v1/privacy/due": "retention-list",
		"GET /app/families?status=enrolled&sort=due": "web-app-list",
		"GET /app/families/F1":                       "web-app",
		"GET /app/families/F1/live":                  "web-app-live",
		"GET /v1/families/F1/timeline?limit=5":       "timeline",
		"GET /v1/audit/events":                       "audit-events",
		"GET /app/evaluation":                        "other",
		"CLI audit replay":                           "audit-cli-replay",
		"CLI audit replay -family F1":                "audit-cli-replay",
		"CLI audit export -family F1 -to-seq 9":      "audit-cli-export",
		"CLI audit erase-due":                        "erasure-archive",
		"CLI audit replayed":                         "other",
	} {
		got := endpointKind(endpoint)
		if got != want {
			t.Errorf("%s: kind %q, want %q", endpoint, got, want)
		}
		if danish := endpointDanish(got); (danish == "Andet opslag") != (want == "other") {
			t.Errorf("%s: Danish name %q", endpoint, danish)
		}
	}
}
