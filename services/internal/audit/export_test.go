package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
)

// TestExport writes archives of the stream with the CLI, checks them with
// verify-export, and tampers with copies: a changed line, a deleted line,
// an added line, a rewritten chain file and a truncated archive are each
// found, and a line is named where one is to blame.
func TestExport(t *testing.T) {
	t.Parallel()
	s := startSystem(t, true)
	var last posted
	for i := range 7 {
		last = s.Post(events.SOF, fmt.Sprintf("FAM-X%d", i%3), &events.MeetingHeld{Kind: "family", Participants: []string{"E1001"}})
	}
	getenv := func(string) string { return "" }
	run := func(name string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := audit.Command(context.Background(), name, args, getenv, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	// The whole stream; the lines are the replay's, the manifest says so.
	dir := filepath.Join(t.TempDir(), "all")
	if code, out, errOut := run("export", "-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.OperatorKey, "-out", dir, "-link-every", "3"); code != 0 {
		t.Fatalf("export: %d %s %s", code, out, errOut)
	}
	b, err := os.ReadFile(filepath.Join(dir, audit.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	_, replay := s.lines("/v1/audit/events")
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if !slices.Equal(lines, replay) {
		t.Fatalf("export lines differ from the replay:\n%s\n---\n%s", b, strings.Join(replay, "\n"))
	}
	var m audit.Manifest
	mb, _ := os.ReadFile(filepath.Join(dir, audit.ManifestFile))
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	h := make([]byte, 32)
	for _, l := range lines {
		s := sha256.Sum256(append(h, l...))
		h = s[:]
	}
	if m.Count != 7 || m.FirstSequence != 1 || m.LastSequence != last.Sequence || m.Chain.Final != hex.EncodeToString(h) ||
		len(m.Chain.Links) != 2 || m.Chain.Links[1].Line != 6 || m.CreatedAt.IsZero() {
		t.Fatalf("manifest: %s", mb)
	}
	if code, out, errOut := run("verify-export", dir); code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("verify-export of an intact archive: %d %s %s", code, out, errOut)
	}
	// An archive is never overwritten, nor is its directory changed by
	// the export refused.
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("export", "-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.OperatorKey, "-out", dir); code != 1 || !strings.Contains(errOut, "already holds") {
		t.Errorf("export over an archive: %d %s", code, errOut)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("a refused export changed the archive's directory: %v, %v; want 0750 as it was", fi.Mode(), err)
	}

	// A range.
	part := filepath.Join(t.TempDir(), "part")
	if code, out, errOut := run("export", "-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.OperatorKey, "-out", part, "-from-seq", "2", "-to-seq", "5"); code != 0 {
		t.Fatalf("export range: %d %s %s", code, out, errOut)
	}
	pb, _ := os.ReadFile(filepath.Join(part, audit.EventsFile))
	if got := strings.Split(strings.TrimSuffix(string(pb), "\n"), "\n"); !slices.Equal(got, lines[1:5]) {
		t.Errorf("range export: %s", pb)
	}
	if res, err := audit.VerifyExport(part); err != nil || !res.OK || res.Lines != 4 {
		t.Errorf("verify-export of the range: %+v %v", res, err)
	}

	// One family's events: FAM-X1's are lines 2 and 5 of the stream.
	fam := filepath.Join(t.TempDir(), "family")
	if code, out, errOut := run("export", "-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.OperatorKey, "-out", fam, "-family", "FAM-X1"); code != 0 {
		t.Fatalf("export of a family: %d %s %s", code, out, errOut)
	}
	fb, _ := os.ReadFile(filepath.Join(fam, audit.EventsFile))
	famLines := strings.Split(strings.TrimSuffix(string(fb), "\n"), "\n")
	if !slices.Equal(famLines, []string{lines[1], lines[4]}) {
		t.Errorf("family export: %s", fb)
	}
	var fm audit.Manifest
	fmb, _ := os.ReadFile(filepath.Join(fam, audit.ManifestFile))
	if err := json.Unmarshal(fmb, &fm); err != nil || fm.Family != "FAM-X1" || fm.Count != 2 || fm.FirstSequence != 2 || fm.LastSequence != 5 {
		t.Errorf("family manifest: %s %v", fmb, err)
	}
	if res, err := audit.VerifyExport(fam); err != nil || !res.OK || res.Lines != 2 {
		t.Errorf("verify-export of the family: %+v %v", res, err)
	}
	if code, _, errOut := run("export", "-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.OperatorKey, "-out", filepath.Join(t.TempDir(), "none"), "-family", "FAM-NONE"); code != 1 || !strings.Contains(errOut, "no event of family FAM-NONE") {
		t.Errorf("export of a family without events: %d %s", code, errOut)
	}
	tamperFamily := func(ls []string) audit.ExportCheck {
		d := t.TempDir()
		for _, f := range []string{audit.ChainFile, audit.ManifestFile} {
			b, _ := os.ReadFile(filepath.Join(fam, f))
			if err := os.WriteFile(filepath.Join(d, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(d, audit.EventsFile), []byte(strings.Join(ls, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := audit.VerifyExport(d)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := tamperFamily(famLines[:1]); res.OK || !strings.Contains(res.Problem, "missing") {
		t.Errorf("family archive without its last line: %+v", res)
	}
	if res := tamperFamily([]string{famLines[0], lines[2], famLines[1]}); res.OK || res.Line != 2 || !strings.Contains(res.Problem, "changed") {
		t.Errorf("family archive with another family's line: %+v", res)
	}

	// Tampered copies of the whole archive.
	copyArchive := func(edit func(dir string)) string {
		d := t.TempDir()
		for _, f := range []string{audit.EventsFile, audit.ChainFile, audit.ManifestFile} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		edit(d)
		return d
	}
	writeLines := func(d string, ls []string) {
		if err := os.WriteFile(filepath.Join(d, audit.EventsFile), []byte(strings.Join(ls, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	changed := slices.Clone(lines)
	changed[3] = strings.Replace(changed[3], `"family"`, `"network"`, 1)
	if changed[3] == lines[3] {
		t.Fatal("the change changed nothing")
	}
	for _, tc := range []struct {
		name    string
		edit    func(d string)
		line    uint64
		problem string
	}{
		{"changed line", func(d string) { writeLines(d, changed) }, 4, "changed"},
		{"deleted line", func(d string) { writeLines(d, slices.Delete(slices.Clone(lines), 2, 3)) }, 3, "missing (deleted)"},
		{"added line", func(d string) { writeLines(d, slices.Insert(slices.Clone(lines), 5, lines[4])) }, 6, "holds sequence 5 where 6 was expected: added"},
		{"line added at the end", func(d string) { writeLines(d, append(slices.Clone(lines), lines[6])) }, 8, "beyond the 7 lines"},
		{"truncated", func(d string) { writeLines(d, lines[:5]) }, 6, "lines 6..7 are missing"},
		{"changed line and chain file rewritten to match", func(d string) {
			writeLines(d, changed)
			var chain []string
			h := make([]byte, 32)
			for _, l := range changed {
				s := sha256.Sum256(append(h, l...))
				h = s[:]
				chain = append(chain, hex.EncodeToString(h))
			}
			_ = os.WriteFile(filepath.Join(d, audit.ChainFile), []byte(strings.Join(chain, "\n")+"\n"), 0o600)
		}, 6, "link there differs"},
		{"changed line without the chain file", func(d string) {
			writeLines(d, changed)
			_ = os.Remove(filepath.Join(d, audit.ChainFile))
		}, 6, "a line in 4..6 was changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := copyArchive(tc.edit)
			res, err := audit.VerifyExport(d)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.Line != tc.line || !strings.Contains(res.Problem, tc.problem) {
				t.Errorf("got line %d %q, want line %d %q", res.Line, res.Problem, tc.line, tc.problem)
			}
			code, out, errOut := run("verify-export", d)
			if code != 1 || !strings.Contains(errOut, "TAMPERED") || !strings.Contains(out, `"line": `+strconv.FormatUint(tc.line, 10)) {
				t.Errorf("verify-export CLI: %d %s %s", code, out, errOut)
			}
		})
	}
}

// TestExportPlaintext: an export with Plaintext fails at the first event
// whose personal fields do not decrypt, naming its sequence, and writes
// no manifest; without it the event is an unreadable line, which
// FirstCiphertext finds. With the keys every line holds the plaintext.
func TestExportPlaintext(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam, reason = "FAM-PT", "MARKER-plaintext-henvisning"
	s.Post(events.BIF, fam, &events.MeetingHeld{Kind: "family", Participants: []string{"E1001"}})
	enc := s.Post(events.SOF, fam, &events.FamilyReferred{Reason: reason})
	s.WaitApplied(enc.Sequence)
	ctx := context.Background()

	dir := filepath.Join(t.TempDir(), "no-keys")
	_, err := audit.Export(ctx, s.SA.Store.JS, dir, audit.ExportOptions{Family: fam, Plaintext: true})
	if !errors.Is(err, audit.ErrCiphertext) || !strings.Contains(err.Error(), fmt.Sprintf("sequence %d", enc.Sequence)) {
		t.Fatalf("export with Plaintext and no keys: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, audit.ManifestFile)); err == nil {
		t.Error("an export that failed wrote its manifest")
	}

	dir = filepath.Join(t.TempDir(), "as-stored")
	if _, err := audit.Export(ctx, s.SA.Store.JS, dir, audit.ExportOptions{Family: fam}); err != nil {
		t.Fatal(err)
	}
	line, seq, why, err := audit.FirstCiphertext(dir)
	if err != nil || line != 2 || seq != enc.Sequence || why == "" {
		t.Errorf("FirstCiphertext of an archive without keys: line %d, sequence %d, %q, %v", line, seq, why, err)
	}

	dir = filepath.Join(t.TempDir(), "plain")
	if _, err := audit.Export(ctx, s.SA.Store.JS, dir, audit.ExportOptions{Family: fam, Keys: s.SA.Keys, Plaintext: true}); err != nil {
		t.Fatal(err)
	}
	if line, seq, why, err := audit.FirstCiphertext(dir); err != nil || line != 0 {
		t.Errorf("FirstCiphertext of a decrypted archive: line %d, sequence %d, %q, %v", line, seq, why, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, audit.EventsFile)); !strings.Contains(string(b), reason) {
		t.Errorf("the archive lacks the plaintext: %s", b)
	}
	// Whatever the umask, only the archive's owner reads it.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the archive's directory: %v, %v; want 0700", fi.Mode(), err)
	}
	for _, e := range entries {
		if fi, err := e.Info(); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("archive file %s: %v, %v; want 0600", e.Name(), fi.Mode(), err)
		}
	}

	// A directory made beforehand, and a file left in it by an interrupted
	// export, are narrowed to the owner too.
	dir = filepath.Join(t.TempDir(), "made-before")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, audit.EventsFile), []byte("left\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, audit.EventsFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Export(ctx, s.SA.Store.JS, dir, audit.ExportOptions{Family: fam, Keys: s.SA.Keys, Plaintext: true}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("a directory made beforehand: %v, %v; want 0700", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(dir, audit.EventsFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("a file left beforehand: %v, %v; want 0600", fi.Mode(), err)
	}

	// A directory that holds other files (-out . or /tmp) keeps its mode,
	// sticky bit and all; the archive's files are the owner's alone.
	dir = filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Export(ctx, s.SA.Store.JS, dir, audit.ExportOptions{Family: fam, Keys: s.SA.Keys, Plaintext: true}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode()&(os.ModePerm|os.ModeSticky) != 0o777|os.ModeSticky {
		t.Errorf("a directory holding other files: %v, %v; want its mode kept", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(dir, audit.EventsFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the archive's file in a shared directory: %v, %v; want 0600", fi.Mode(), err)
	}
}

// TestFamilyExportOfDirectPublishes: a family's archive of an untouched
// stream verifies whatever the family's subjects hold, here a direct NATS
// publish of a CloudEvent without a subject, and one naming another
// family as its subject.
func TestFamilyExportOfDirectPublishes(t *testing.T) {
	t.Parallel()
	s := startSystem(t, true)
	s.Post(events.SOF, "FAM-D1", &events.MeetingHeld{Kind: "family", Participants: []string{"E1001"}})
	ctx := context.Background()
	var last uint64
	for _, data := range []string{
		`{"specversion":"1.0","id":"d-a","source":"/x","type":"x"}`,
		`{"specversion":"1.0","id":"d-b","source":"/x","type":"x","subject":"FAM-OTHER"}`,
	} {
		ack, err := s.SA.Store.JS.Publish(ctx, "families.FAM-D1.sof.meeting.held", []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		last = ack.Sequence
	}
	s.WaitApplied(last)
	var out, errOut bytes.Buffer
	dir := filepath.Join(t.TempDir(), "fam")
	if code := audit.Command(ctx, "export", []string{"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.OperatorKey, "-out", dir, "-family", "FAM-D1"},
		func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("export: %d %s %s", code, out.String(), errOut.String())
	}
	if res, err := audit.VerifyExport(dir); err != nil || !res.OK || res.Lines != 3 {
		t.Fatalf("verify-export of an untouched family archive: %+v %v", res, err)
	}
}

// TestDirectPlaintextPublishIsUnreadable: a department's direct NATS
// publish that carries a personal field in the clear, which every reader
// refuses (shred.ErrPlaintext), is an unreadable line with its reason in
// the replay (also with upcast=true) and in an export with the keys, as
// docs/PRIVACY.md says ("Direct NATS publishers"), never a readable event.
func TestDirectPlaintextPublishIsUnreadable(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam, marker = "FAM-RV1", "MARKER-klartekst-direkte"
	s.Post(events.SOF, fam, &events.FamilyReferred{Reason: "via ingest"})
	ctx := context.Background()
	var last uint64
	// The second is an earlier version of its type (goal.set.v1), which
	// ?upcast=true presents as the latest.
	for i, data := range []events.Payload{
		&events.FamilyReferred{Reason: marker},
		&events.GoalSet{GoalID: "G1", Title: marker, Domain: "employment", ExpressedBy: "family"},
	} {
		ev, err := events.Build(events.SOF, fam, data, events.WithID("direct-"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := events.Marshal(ev)
		ack, err := s.SA.Store.JS.Publish(ctx, events.Subject(fam, events.SOF, data.EventName()), b)
		if err != nil {
			t.Fatal(err)
		}
		last = ack.Sequence
	}
	s.WaitApplied(last)
	check := func(what string, objs []map[string]json.RawMessage, lines []string) {
		t.Helper()
		found := 0
		for i, l := range lines {
			if !strings.Contains(l, marker) {
				continue
			}
			found++
			if str(objs[i], "type") != audit.UnreadableType || !strings.Contains(str(objs[i], audit.ExtReason), "without encryption") {
				t.Errorf("%s: a direct plaintext publish is a readable event (type %s, jfreason %q): %s", what, str(objs[i], "type"), str(objs[i], audit.ExtReason), l)
			}
		}
		if found != 2 {
			t.Errorf("%s: %d lines hold the direct publishes, not 2: %s", what, found, strings.Join(lines, "\n"))
		}
	}
	for _, q := range []string{"", "&upcast=true"} {
		objs, lines := s.lines("/v1/audit/events?family=" + fam + q)
		check("GET /v1/audit/events"+q, objs, lines)
	}
	dir := filepath.Join(t.TempDir(), "fam")
	if _, err := audit.Export(ctx, s.SA.Store.JS, dir, audit.ExportOptions{Family: fam, Keys: s.SA.Keys}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, audit.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	objs, lines := splitLines(t, string(raw))
	check("export", objs, lines)
	if res, err := audit.VerifyExport(dir); err != nil || !res.OK {
		t.Errorf("verify-export: %+v %v", res, err)
	}
}

// TestDirectPlaintextOnAnotherSubjectIsErased: a department publishes a
// goal.set (personal: title) in the clear on one of its own subjects of
// another name (meeting.held), as CONTRACT.md lets it. docs/PRIVACY.md,
// "Direct NATS publishers": it is an unreadable line of the replay, "and
// once the family is erased its personal fields read as the tombstone
// there too"; the event's type decides, not its subject.
func TestDirectPlaintextOnAnotherSubjectIsErased(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam, marker = "FAM-RV3", "MARKER-maal-klartekst"
	s.Post(events.SOF, fam, &events.FamilyReferred{Reason: "via ingest"})
	ev, err := events.Build(events.SOF, fam, &events.GoalSet{GoalID: "G1", Title: marker, Domain: "employment", ExpressedBy: "family"}, events.WithID("direct-gs"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := events.Marshal(ev)
	ack, err := s.SA.Store.JS.Publish(context.Background(), "families."+fam+".sof.meeting.held", b)
	if err != nil {
		t.Fatal(err)
	}
	s.WaitApplied(ack.Sequence)
	objs, lines := s.lines("/v1/audit/events?family=" + fam)
	for i, l := range lines {
		if strings.Contains(l, marker) && str(objs[i], "type") != audit.UnreadableType {
			t.Errorf("before the erasure the direct publish is a readable event: %s", l)
		}
	}
	if r := s.Do("POST", "/v1/privacy/families/"+fam+"/erase", "dev-dpo", []byte(`{"reason":"Art. 17"}`), nil); r.Status != 201 {
		t.Fatalf("erase: %d %s", r.Status, r.Raw)
	}
	objs, lines = s.lines("/v1/audit/events?family=" + fam)
	for i, l := range lines {
		if strings.Contains(l, marker) {
			t.Errorf("after the erasure the replay still shows the personal text, not as an unreadable line nor as the tombstone: %s", l)
		}
		if seqOf(t, objs[i]) == ack.Sequence && str(objs[i], audit.ExtErased) != "title" {
			t.Errorf("after the erasure the direct publish does not name its erased field: %s", l)
		}
	}
}

// TestExportProgressCountsWhatIsDone: a whole stream's export counts its
// events; a family's counts the family's events it wrote and, apart, the
// stream positions scanned for them, never the stream's size as events.
func TestExportProgressCountsWhatIsDone(t *testing.T) {
	t.Parallel()
	s := startSystem(t, true)
	for i := range 7 {
		s.Post(events.SOF, fmt.Sprintf("FAM-P%d", i%3), &events.MeetingHeld{Kind: "family", Participants: []string{"E1001"}})
	}
	export := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.OperatorKey, "-out", filepath.Join(t.TempDir(), "a")}, args...)
		if code := audit.Command(context.Background(), "export", args, func(string) string { return "" }, &out, &errOut); code != 0 {
			t.Fatalf("export %v: %d %s %s", args, code, out.String(), errOut.String())
		}
		return errOut.String()
	}
	if got := export(); !strings.Contains(got, "export: 7 of 7 events (100%)") {
		t.Errorf("the whole stream's progress: %s", got)
	}
	got := export("-family", "FAM-P1")
	if strings.Contains(got, "7 of 7 events") || !strings.Contains(got, "export: 2 events of family FAM-P1 written; stream positions 7 of 7 scanned (100%)") {
		t.Errorf("a family's progress: %s", got)
	}
}
