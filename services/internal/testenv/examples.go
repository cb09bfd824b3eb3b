package testenv

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"kk.dk/jobogfamilie/events"
)

// ExampleFiles are the paths of the valid examples of spec's data in the
// schemas' testdata (schemas/testdata/<name>[.v<version>]/valid-*.json),
// in name order; none fails t.
func ExampleFiles(t testing.TB, spec events.Spec) []string {
	t.Helper()
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: no source path")
	}
	dir := spec.Name
	if spec.Version > 1 {
		dir += fmt.Sprintf(".v%d", spec.Version)
	}
	files, err := filepath.Glob(filepath.Join(filepath.Dir(here), "..", "..", "..", "schemas", "testdata", dir, "valid-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example of %s: %v", spec.Type(), err)
	}
	return files
}
