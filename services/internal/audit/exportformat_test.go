package audit_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/audit"
)

// TestVerifyExportFormat1: archives written before replay lines were strict
// CloudEvents hold the sequence in "sequence"; verify-export still checks
// them, and finds a deleted line in them.
func TestVerifyExportFormat1(t *testing.T) {
	t.Parallel()
	write := func(lines []string, count uint64) string {
		dir := t.TempDir()
		h := make([]byte, 32)
		var chain []string
		for _, l := range lines {
			s := sha256.Sum256(append(h, l...))
			h = s[:]
			chain = append(chain, hex.EncodeToString(h))
		}
		m := audit.Manifest{Format: "jobogfamilie-audit-export/1", Stream: "FAMILY_EVENTS", Count: count, FirstSequence: 1,
			LastSequence: count, CreatedAt: time.Now(), Chain: audit.Chain{Final: hex.EncodeToString(h), Every: 1000, Links: []audit.Link{}}}
		mb, _ := json.Marshal(m)
		for name, b := range map[string]string{
			audit.EventsFile:   strings.Join(lines, "\n") + "\n",
			audit.ChainFile:    strings.Join(chain, "\n") + "\n",
			audit.ManifestFile: string(mb),
		} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	lines := []string{`{"id":"a","sequence":1,"recordedAt":"2024-05-01T09:30:00Z"}`, `{"id":"b","sequence":2,"recordedAt":"2024-05-01T09:31:00Z"}`}
	if c, err := audit.VerifyExport(write(lines, 2)); err != nil || !c.OK || c.Lines != 2 {
		t.Fatalf("format 1 archive: %+v %v", c, err)
	}
	if c, err := audit.VerifyExport(write(lines[1:], 2)); err != nil || c.OK || c.Line != 1 || !strings.Contains(c.Problem, "deleted") {
		t.Fatalf("format 1 archive without its first line: %+v %v", c, err)
	}
}
