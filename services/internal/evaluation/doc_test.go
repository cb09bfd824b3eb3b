package evaluation_test

import (
	"os"
	"testing"

	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// TestDocMatchesCatalog holds docs/EVALUATION.md to the catalog;
// UPDATE_EVALUATION_DOC=1 writes it.
func TestDocMatchesCatalog(t *testing.T) {
	const path = "../../../docs/EVALUATION.md"
	want := evaluation.Markdown()
	if os.Getenv("UPDATE_EVALUATION_DOC") != "" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("docs/EVALUATION.md differs from the catalog; run UPDATE_EVALUATION_DOC=1 go test ./internal/evaluation/")
	}
}
