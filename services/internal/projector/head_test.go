package projector_test

import (
	"testing"
)

// TestHeadRefusedFirst: a HEAD of a family read is refused (405, Allow:
// GET) before anything else is looked at: without a token, and with an
// X-Min-Position the read model has not reached, which a GET would wait
// for.
func TestHeadRefusedFirst(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	for _, path := range []string{"/v1/families", "/v1/families/F1", "/v1/families/F1/timeline", "/v1/families/F1/timeline/stream"} {
		for _, token := range []string{"", "dev-coordinator"} {
			r := s.Do("HEAD", path, token, nil, minPos(1<<40))
			if r.Status != 405 || r.Header.Get("Allow") != "GET" {
				t.Errorf("HEAD %s (token %q): %d, Allow %q; want 405, Allow GET", path, token, r.Status, r.Header.Get("Allow"))
			}
		}
	}
}

// TestWrongMethodAllowsGetAlone: the 405 for another method at a family
// read names GET alone in Allow, since a HEAD there is refused too; where
// HEAD is served, Allow names it.
func TestWrongMethodAllowsGetAlone(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	for path, want := range map[string]string{
		"/v1/families":                    "GET",
		"/v1/families/F1":                 "GET",
		"/v1/families/F1/timeline":        "GET",
		"/v1/families/F1/timeline/stream": "GET",
		"/v1/evaluation/series":           "GET, HEAD",
	} {
		r := s.Do("DELETE", path, "dev-coordinator", nil, nil)
		if r.Status != 405 || r.Header.Get("Allow") != want {
			t.Errorf("DELETE %s: %d, Allow %q; want 405, Allow %q", path, r.Status, r.Header.Get("Allow"), want)
		}
	}
}
