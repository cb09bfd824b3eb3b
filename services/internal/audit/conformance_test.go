package audit_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/demo"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// jsSDKDir holds the official CloudEvents JavaScript SDK, pinned in its
// package-lock.json; `npm ci --prefix services/internal/audit/testdata/cejs`
// installs it (.ci/run does).
const jsSDKDir = "testdata/cejs"

// TestReplayLinesAreStrictCloudEvents replays a stream with events of
// every catalog type (the demo's families, baselines and backfills among
// them, and an erased demo family: family.erased, which the service alone
// writes, and events whose personal fields read as the tombstone), an
// event with an extension attribute, and every form of message
// a direct NATS publish can leave, and holds each line to the Go SDK's
// strict reader and, when node and the pinned SDK are installed, to the
// JavaScript SDK's strict constructor.
func TestReplayLinesAreStrictCloudEvents(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	ctx := context.Background()
	st, err := demo.Load(ctx, demo.Options{BaseURL: s.SA.URL(), Seed: 7, Families: 12})
	if err != nil {
		t.Fatal(err)
	}
	// The data protection officer erases one demo family: the service
	// appends family.erased, and the family's personal fields read as
	// erased from then on.
	erased := demo.FamilyID(7, 4)
	if r := s.Do("POST", "/v1/privacy/families/"+erased+"/erase", "dev-dpo", []byte(`{"reason":"Anmodning efter GDPR art. 17"}`), nil); r.Status != 201 {
		t.Fatalf("erase %s: %d %s", erased, r.Status, r.Raw)
	}
	for _, spec := range events.Catalog() {
		if st.PerType[spec.Name] == 0 && spec.Name != shred.ErasedType {
			t.Errorf("the demo load has no %s", spec.Name)
		}
	}
	backfill := s.Post(events.BIF, demo.FamilyID(7, 1), &events.BenefitGranted{PersonID: "P-BACKFILL", Benefit: "other"},
		events.WithTime(time.Now().AddDate(-3, 0, 0)))
	ce, err := events.Build(events.BUF, demo.FamilyID(7, 2), &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 14.25},
		events.WithSystem("skolesystem"))
	if err != nil {
		t.Fatal(err)
	}
	ce.SetExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	b, err := events.Marshal(ce)
	if err != nil {
		t.Fatal(err)
	}
	s.PostRaw(events.BUF, b)
	var last uint64
	for _, data := range []string{
		"not json\n",
		`[1,2]`,
		`"a string"`,
		"{\n  \"specversion\": \"1.0\", \"id\": \"x\", \"source\": \"/x\", \"type\": \"x\"\n}\n",
		`{"specversion":"1.0","id":"y","source":"/y","type":"y","jfsequence":"1","jfrecordedat":"x"}`,
		`{"specversion":"1.0","id":"z","source":"/z","type":"z","sequence":1,"recordedAt":"2024-01-01T00:00:00Z"}`,
		`{"hello":"world"}`,
	} {
		ack, err := s.SA.Store.JS.Publish(ctx, "families."+demo.FamilyID(7, 3)+".sof.family.referred", []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		last = ack.Sequence
	}
	s.WaitApplied(last)

	r := s.Get("/v1/audit/events", "dev-auditor", nil)
	if r.Status != 200 {
		t.Fatalf("replay: %d %s", r.Status, r.Raw)
	}
	lines := strings.Split(strings.TrimSuffix(r.Raw, "\n"), "\n")
	if uint64(len(lines)) != last {
		t.Fatalf("replay: %d lines, the stream holds %d messages", len(lines), last)
	}
	unreadable, erasedLines, tombstoned := 0, 0, 0
	names := map[string]bool{}
	for i, l := range lines {
		ev, seq, _ := audit.StrictLine(t, []byte(l))
		if spec, ok := events.ByType(ev.Type()); ok {
			names[spec.Name] = true
		}
		if ev.Subject() == erased {
			if ev.Type() == events.TypeOf(shred.ErasedType, 1) {
				erasedLines++
			}
			if f, _ := ev.Extensions()[audit.ExtErased].(string); f != "" && strings.Contains(l, shred.Tombstone) {
				tombstoned++
			}
		}
		if seq != uint64(i+1) {
			t.Fatalf("line %d: jfsequence %d", i+1, seq)
		}
		if seq == backfill.Sequence && !ev.Time().Before(time.Now().AddDate(-2, 0, 0)) {
			t.Errorf("backfill: time %v", ev.Time())
		}
		if ev.Type() == audit.UnreadableType {
			unreadable++
		}
	}
	for _, spec := range events.Catalog() {
		if !names[spec.Name] {
			t.Errorf("the replay has no %s", spec.Name)
		}
	}
	if erasedLines != 1 || tombstoned == 0 {
		t.Errorf("the erased family %s: %d family.erased lines, %d lines with erased fields", erased, erasedLines, tombstoned)
	}
	// All but the CloudEvent spread over several lines.
	if unreadable != 6 {
		t.Errorf("%d unreadable messages, want 6", unreadable)
	}
	// A family's replay (through the read model's index) too.
	fam := s.Get("/v1/audit/events?family="+demo.FamilyID(7, 3), "dev-auditor", nil)
	for _, l := range strings.Split(strings.TrimSuffix(fam.Raw, "\n"), "\n") {
		audit.StrictLine(t, []byte(l))
	}
	// The upcast replay (the demo holds v1 and v2 events): every line as
	// strict, and the upcast ones carry the stored type.
	up := s.Get("/v1/audit/events?upcast=true", "dev-auditor", nil)
	upcast := 0
	for _, l := range strings.Split(strings.TrimSuffix(up.Raw, "\n"), "\n") {
		ev, _, _ := audit.StrictLine(t, []byte(l))
		if _, ok := ev.Extensions()[audit.ExtStoredType]; ok {
			upcast++
		}
	}
	if upcast == 0 {
		t.Error("the upcast replay of the demo upcast nothing")
	}

	t.Run("javascript", func(t *testing.T) {
		dir := t.TempDir()
		replay := filepath.Join(dir, "replay.jsonl")
		if err := os.WriteFile(replay, []byte(r.Raw+fam.Raw+up.Raw), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := strictJS(t, replay)
		if err != nil {
			t.Fatalf("the JavaScript SDK refuses a replay line: %v\n%s", err, out)
		}
		t.Log(strings.TrimSpace(out))
		// The check can fail: the SDK refuses the lines as they were.
		old := filepath.Join(dir, "old.jsonl")
		if err := os.WriteFile(old, []byte(`{"specversion":"1.0","id":"a","source":"/s","type":"t","sequence":1,"recordedAt":"2024-05-01T09:30:00Z"}`+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := strictJS(t, old); err == nil || !strings.Contains(out, "invalid extension name: recordedAt") {
			t.Fatalf("the JavaScript SDK took a line with recordedAt: %v\n%s", err, out)
		}
	})
}

// strictJS runs testdata/cejs/strict.js on a JSON Lines file, or skips
// when node or the pinned SDK is not installed.
func strictJS(t *testing.T, file string) (string, error) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.SkipUnlessCI(t, "node is not installed: the JavaScript SDK's conformance check needs it")
	}
	if _, err := os.Stat(filepath.Join(jsSDKDir, "node_modules", "cloudevents", "package.json")); err != nil {
		testenv.SkipUnlessCI(t, "the CloudEvents JavaScript SDK is not installed: run npm ci --prefix services/internal/audit/"+jsSDKDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(jsSDKDir, "strict.js"), file)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
