package bench

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestChildProfileWritesTrace checks that a bench child's profile endpoints
// write a CPU profile and, beside it, an execution trace, and that a second
// phase can be profiled after the first. (The bench's Profile also profiles
// its own process, which a test in one process cannot do twice, so the
// endpoints are called directly.)
func TestChildProfileWritesTrace(t *testing.T) {
	srv := childServer(t)
	dir := t.TempDir()
	for _, name := range []string{"single", "peer-single"} {
		file := filepath.Join(dir, name+".pprof")
		if code := call(t, http.MethodPost, srv.URL+"/bench/profile?file="+file); code != http.StatusOK {
			t.Fatalf("starting the profile of %s: %d", name, code)
		}
		for range 200 {
			call(t, http.MethodGet, srv.URL+"/bench/stats")
		}
		if code := call(t, http.MethodDelete, srv.URL+"/bench/profile"); code != http.StatusOK {
			t.Fatalf("stopping the profile of %s: %d", name, code)
		}
		if st, err := os.Stat(file); err != nil || st.Size() == 0 {
			t.Fatalf("CPU profile %s: %v (stat %v)", file, err, st)
		}
		tr, err := os.ReadFile(filepath.Join(dir, name+".trace"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(tr, []byte("go 1.")) || !bytes.Contains(tr[:min(len(tr), 16)], []byte(" trace")) {
			t.Fatalf("%s.trace does not start as an execution trace: %q", name, tr[:min(len(tr), 16)])
		}
	}
}

// TestChildProfileRefusesABadFile checks that a profile that cannot be
// written is an error, not a silent phase without one, and that it leaves
// no profile running.
func TestChildProfileRefusesABadFile(t *testing.T) {
	srv := childServer(t)
	file := filepath.Join(t.TempDir(), "missing", "single.pprof")
	if code := call(t, http.MethodPost, srv.URL+"/bench/profile?file="+file); code != http.StatusInternalServerError {
		t.Fatalf("a profile into a missing directory: %d, want 500", code)
	}
	// Nothing is left running: a good profile starts.
	good := filepath.Join(t.TempDir(), "single.pprof")
	if code := call(t, http.MethodPost, srv.URL+"/bench/profile?file="+good); code != http.StatusOK {
		t.Fatalf("a profile after the refused one: %d", code)
	}
	call(t, http.MethodDelete, srv.URL+"/bench/profile")
}

func childServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mountChildEndpoints(mux, func() childStats { return childStats{} })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, method, url string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
