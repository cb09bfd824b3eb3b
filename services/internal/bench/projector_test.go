package bench_test

import (
	"bytes"
	"context"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/bench"
)

// TestBenchSmall runs `jfbench projector` at a small size against the real
// projector binary and checks that it measures what docs/PERFORMANCE.md
// says: every figure is printed, and the catch-up's ratios are to the
// right rates (the limit is the lower of the raw fetch and the raw insert
// into the indexed timeline).
func TestBenchSmall(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "projector")
	build := exec.Command("go", "build", "-o", bin, "kk.dk/jobogfamilie/services/cmd/projector")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the projector: %v\n%s", err, out)
	}
	var out bytes.Buffer
	o := bench.ProjectorOptions{Events: 3000, Families: 30, BigFamily: 300, Queries: 5, Writes: 2,
		Projector: bin, Dir: filepath.Join(dir, "bench"), Out: &out}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := bench.Projector(ctx, o); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	t.Log(text)
	num := func(pattern string) []float64 {
		t.Helper()
		m := regexp.MustCompile(pattern).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no line matches %q in:\n%s", pattern, text)
		}
		var fs []float64
		for _, s := range m[1:] {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
		}
		return fs
	}
	fetch := num(`raw JetStream fetch \(limit\): (\d+) msg/s`)[0]
	indexed := num(`raw batched SQLite insert into the read model's timeline, its secondary indexes in place \(limit\): (\d+) rows/s`)[0]
	plain := num(`primary key only: (\d+) rows/s; then the secondary indexes built: (\d+) rows/s`)
	c := num(`catch-up of 3000 events .*: [^=]+ = (\d+) events/s = ([\d.]+) x the lower raw limit \(target >= 0.7\); ([\d.]+) x the primary-key-only insert then the index build, ([\d.]+) x the primary-key-only insert`)
	rate := c[0]
	for _, r := range []struct {
		name       string
		got, limit float64
	}{
		{"the lower raw limit", c[1], min(fetch, indexed)},
		{"the insert then the index build", c[2], plain[1]},
		{"the primary-key-only insert", c[3], plain[0]},
	} {
		// Rates are printed rounded to whole units, ratios to 0.01.
		if want := rate / r.limit; math.Abs(r.got-want) > 0.01+want*0.01 {
			t.Errorf("catch-up to %s: printed %.2f, but %.0f / %.0f = %.3f", r.name, r.got, rate, r.limit, want)
		}
	}
	if plain[1] >= plain[0] {
		t.Errorf("the insert followed by the index build (%.0f rows/s) is not slower than the insert alone (%.0f rows/s)", plain[1], plain[0])
	}
	num(`projector peak RSS while catching up: (\d+) MB`)
	num(`timeline query \(latest 100 of 300, 5 sequential GETs\): p50 [^,]+, p99 ([\d.]+)`)
	num(`read-your-writes .*2 times\): p50 [^,]+, p99 ([\d.]+)`)
}

// TestEvaluationBenchSmall runs `jfbench evaluation` at a small size
// against the real projector binary: the demo families published straight
// onto the stream are applied (the evaluation finds them enrolled), and
// every figure is printed.
func TestEvaluationBenchSmall(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "projector")
	build := exec.Command("go", "build", "-o", bin, "kk.dk/jobogfamilie/services/cmd/projector")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the projector: %v\n%s", err, out)
	}
	var out bytes.Buffer
	o := bench.EvaluationOptions{Families: 20, Events: 5000, Runs: 2, Projector: bin, Dir: filepath.Join(dir, "bench"), Out: &out}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := bench.Evaluation(ctx, o); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	t.Log(text)
	for _, pattern := range []string{
		`preloaded 5000 events over 20 families \((\d+) of the demo's kind, (\d+) filling\)`,
		`one asOf +cold \(first after ready\) [^;]+; warm 2 runs: p50 [^,]+, max \S+ \(target <= 2s\)`,
		`24-month series +cold \(first after ready\) [^;]+; warm 2 runs: p50 [^,]+, max \S+ \(target <= 10s\)`,
		`projector RSS (\d+) MB, peak (\d+) MB`,
		`restarted on its read model: ready in \S+; one asOf first \S+ \(waits for the index kept at the stop to be read\), then \S+; RSS (\d+) MB`,
	} {
		if !regexp.MustCompile(pattern).MatchString(text) {
			t.Errorf("no line matches %q", pattern)
		}
	}
	m := regexp.MustCompile(`families enrolled by 2024-12-31: (\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no count of enrolled families (or it was suppressed) in:\n%s", text)
	}
	if n, _ := strconv.Atoi(m[1]); n < 10 {
		t.Errorf("the evaluation found %d of 20 demo families enrolled: the bench's events were not applied", n)
	}
}
