package bench_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/bench"
	"kk.dk/jobogfamilie/services/internal/benchdata"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// TestEncryptionBenchSmall runs `jfbench encryption` at a tiny size
// against the real binaries (jfbench as the ingest process, the
// projector), checks that every figure is printed, and greps the stores'
// files: the encrypting side's stream must hold ciphertext and no byte of
// the personal text, the other side's the text itself (so that the grep
// can fail).
func TestEncryptionBenchSmall(t *testing.T) {
	dir := t.TempDir()
	bins := map[string]string{}
	for _, name := range []string{"projector", "jfbench"} {
		bins[name] = filepath.Join(dir, name)
		build := exec.Command("go", "build", "-o", bins[name], "kk.dk/jobogfamilie/services/cmd/"+name)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", name, err, out)
		}
	}
	var out bytes.Buffer
	o := bench.EncryptionDefaults()
	o.Rounds, o.BatchRequests, o.BatchSize, o.BatchClients, o.Singles, o.SingleClients = 2, 4, 10, 2, 20, 2
	o.Events, o.Families, o.BigFamily, o.Queries, o.Live = 2000, 20, 200, 5, 50
	o.Projector, o.Jfbench, o.Dir, o.Out = bins["projector"], bins["jfbench"], filepath.Join(dir, "bench"), &out
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := bench.Encryption(ctx, o); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	t.Log(text)
	for _, pattern := range []string{
		`(?m)ingest round 1, encryption on : batches \(10 a request, 2 clients\) \d+ events/s, p99 \S+; single events \(2 clients\) \d+ events/s, p50 \S+, p99 \S+$`,
		`ingest round 2, encryption off: batches`,
		`ingest round 2: on / off: batches [\d.]+, single events [\d.]+`,
		`  batches: on \d+ events/s, off \d+ events/s: on / off = [\d.]+ \(target >= 0.85\)`,
		`  single events: on \d+ events/s, off \d+ events/s: on / off = [\d.]+ \(target >= 0.85\).*p99 on \S+, off \S+: on / off = [\d.]+ \(target <= 1.15\)`,
		`timeline round 1, encryption on : catch-up of 2000 events \S+ = \d+ events/s; timeline \(latest 100 of BIG, 5 GETs\) p50 \S+, p99 \S+; live apply of 50 events \d+ events/s`,
		`timeline round 2, encryption off: catch-up of 2050 events`,
		`  catch-up \(empty read model to applied and ready\): on \d+ events/s, off \d+ events/s: on / off = [\d.]+ \(target >= 0.85\)`,
		`  live apply .*: on / off = [\d.]+ \(target >= 0.85\)`,
		`  timeline query: p50 on \S+, off \S+: on / off = [\d.]+; p99 on \S+, off \S+: on / off = [\d.]+ \(target <= 1.15\)`,
	} {
		if !regexp.MustCompile(pattern).MatchString(text) {
			t.Errorf("no line matches %q", pattern)
		}
	}
	// grep the streams' files, as an operator would.
	holds := func(root, s string) bool {
		t.Helper()
		found := false
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || found {
				return err
			}
			b, err := os.ReadFile(path)
			found = err == nil && bytes.Contains(b, []byte(s))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	for _, part := range []string{"ingest", "timeline"} {
		on := filepath.Join(o.Dir, part+"-on", "nats")
		off := filepath.Join(o.Dir, part+"-off", "nats")
		if holds(on, benchdata.PersonalMarker) {
			t.Errorf("%s: the encrypting side's stream files hold the personal text %q", part, benchdata.PersonalMarker)
		}
		if !holds(on, shred.Prefix) {
			t.Errorf("%s: the encrypting side's stream files hold no %s ciphertext", part, shred.Prefix)
		}
		if !holds(off, benchdata.PersonalMarker) {
			t.Errorf("%s: the plaintext side's stream files do not hold the personal text %q", part, benchdata.PersonalMarker)
		}
		if holds(off, shred.Prefix) {
			t.Errorf("%s: the plaintext side's stream files hold %s ciphertext", part, shred.Prefix)
		}
	}
}
