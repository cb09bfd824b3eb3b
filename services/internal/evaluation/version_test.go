package evaluation_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/evaluation"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// factsOfVersion is, for each FactsVersion, the SHA-256 of the index of
// the catalog's valid examples (TestFactsVersion) as WriteTo writes it.
var factsOfVersion = map[int]string{
	1: "f34e53cbd1adb89a08d3a4a7290c1b4942e3c8918110394e161ddfbfbc173b1a",
}

// TestFactsVersion: the index of every valid example of every version of
// every type the evaluation reads is written as FactsVersion's is. When
// factOf (or the written form, or an example) changes, it fails: the
// projector would otherwise read back an index written by an older build
// (evaluation.ReadIndex) with facts that this build makes otherwise.
// Raise FactsVersion and record the new sum for it.
func TestFactsVersion(t *testing.T) {
	x := evaluation.NewIndex()
	seq := uint64(0)
	for _, spec := range events.AllVersions() {
		if !evaluation.Relevant(spec.Name) {
			continue
		}
		for _, f := range testenv.ExampleFiles(t, spec) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			d, err := spec.DecodeData(b)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			seq++
			x.Add(evaluation.Event{Sequence: seq, FamilyID: "F-" + spec.Name, Time: int64(seq), Recorded: int64(seq), Data: d})
		}
	}
	if x.Len() != int(seq) {
		t.Fatalf("the index holds %d of %d examples", x.Len(), seq)
	}
	var buf bytes.Buffer
	if _, err := x.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	if got, want := hex.EncodeToString(sum[:]), factsOfVersion[evaluation.FactsVersion]; got != want {
		t.Errorf("the examples' index is %s, FactsVersion %d's is %q: the facts changed; raise FactsVersion and record the new sum",
			got, evaluation.FactsVersion, want)
	}
}
