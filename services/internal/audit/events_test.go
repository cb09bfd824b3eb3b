package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestReplayEqualsPosted posts events of every department through ingest
// (one with an extension attribute, one backfilled) and replays them: every
// attribute and the data come back with the bytes the department sent,
// each line is the stored message with jfsequence and jfrecordedat added
// and a strict CloudEvent, and
// the filters select what they say, by the read model's index and by the
// CLI's filtered consumer alike.
func TestReplayEqualsPosted(t *testing.T) {
	t.Parallel()
	s := startSystem(t, true)
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	at := func(m int) events.BuildOption { return events.WithTime(base.Add(time.Duration(m) * time.Minute)) }

	var all []posted
	all = append(all, s.Post(events.SOF, "FAM-A", &events.FamilyReferred{Reason: "Skolefravær og ledighed", Note: "æøå \"citat\" \u2028"}, at(0)))
	all = append(all, s.Post(events.SOF, "FAM-B", testenv.Enrolment(), at(1)))
	all = append(all, s.Post(events.BIF, "FAM-A", &events.EmploymentStarted{PersonID: "P1", Kind: "small-job", HoursPerWeek: 12.5}, at(2)))
	// An extension attribute and a system in the source.
	ce, err := events.Build(events.BUF, "FAM-A", &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 14.25}, at(3), events.WithSystem("skolesystem"))
	if err != nil {
		t.Fatal(err)
	}
	ce.SetExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	b, err := events.Marshal(ce)
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, s.PostRaw(events.BUF, b))
	all = append(all, s.Post(events.SUF, "FAM-B", &events.HealthAssessed{PersonID: "P1", BarrierToWork: true}, at(4)))
	// Backfilled: recorded last, happened a year before.
	all = append(all, s.Post(events.BIF, "FAM-A", &events.BenefitGranted{PersonID: "P1", Benefit: "integrationsydelse"}, events.WithTime(base.AddDate(-1, 0, 0))))
	last := all[len(all)-1].Sequence
	s.WaitApplied(last)

	objs, texts := s.lines("/v1/audit/events")
	if len(objs) != len(all) {
		t.Fatalf("replay has %d lines, posted %d", len(objs), len(all))
	}
	stream, err := s.SA.Store.JS.Stream(context.Background(), eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range all {
		got := objs[i]
		if seq := seqOf(t, got); seq != p.Sequence {
			t.Fatalf("line %d: sequence %d, posted at %d (not in stream order)", i+1, seq, p.Sequence)
		}
		// Every member the department sent, byte for byte.
		var sent map[string]json.RawMessage
		if err := json.Unmarshal(p.JSON, &sent); err != nil {
			t.Fatal(err)
		}
		for k, v := range sent {
			if !bytes.Equal(got[k], v) {
				t.Errorf("event %s: %s is %s, posted %s", p.ID, k, got[k], v)
			}
		}
		// Nothing else but what ingest stamps and the two line members.
		for k := range got {
			if _, ok := sent[k]; !ok && k != "dataschema" && k != audit.ExtSequence && k != audit.ExtRecordedAt {
				t.Errorf("event %s: unexpected member %s", p.ID, k)
			}
		}
		// The line is the stored message, its personal fields
		// decrypted in place and its jfkeyid removed, with the members
		// appended.
		msg, err := stream.GetMsg(context.Background(), p.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		plain := asPosted(t, msg.Data, p.JSON)
		if i == 0 && plain == string(msg.Data) {
			t.Fatalf("the personal fields are stored in the clear: %s", msg.Data)
		}
		want := plain[:len(plain)-1] + `,"jfsequence":"` + strconv.FormatUint(p.Sequence, 10) +
			`","jfrecordedat":"` + msg.Time.UTC().Format(time.RFC3339Nano) + `"}`
		if texts[i] != want {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, texts[i], want)
		}
		if _, seq, at := audit.StrictLine(t, []byte(texts[i])); seq != p.Sequence || !at.Equal(msg.Time) {
			t.Errorf("line %d: strict reader sees jfsequence %d, jfrecordedat %v", i+1, seq, at)
		}
	}

	// Filters: the API's (the read model's index for a family) and the
	// CLI's (a filtered consumer without a read model) give the same lines.
	recordedAt := func(i int) time.Time {
		return recordedAtOf(t, objs[i])
	}
	for _, tc := range []struct {
		name  string
		query url.Values
		want  []int // indexes into all
	}{
		{"family", url.Values{"family": {"FAM-A"}}, []int{0, 2, 3, 5}},
		{"family and type", url.Values{"family": {"FAM-A"}, "type": {"employment.started,dk.kk.jobogfamilie.benefit.granted.v1"}}, []int{2, 5}},
		{"type", url.Values{"type": {"health.assessed"}}, []int{4}},
		{"after", url.Values{"after": {strconv.FormatUint(all[3].Sequence, 10)}}, []int{4, 5}},
		{"family after", url.Values{"family": {"FAM-B"}, "after": {strconv.FormatUint(all[1].Sequence, 10)}}, []int{4}},
		{"from", url.Values{"from": {recordedAt(4).Format(time.RFC3339Nano)}}, []int{4, 5}},
		{"family from to", url.Values{"family": {"FAM-A"}, "from": {recordedAt(2).Format(time.RFC3339Nano)}, "to": {recordedAt(5).Format(time.RFC3339Nano)}}, []int{2, 3}},
		{"to", url.Values{"to": {recordedAt(1).Format(time.RFC3339Nano)}}, []int{0}},
		{"unknown family", url.Values{"family": {"FAM-NONE"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, i := range tc.want {
				want = append(want, texts[i])
			}
			_, got := s.lines("/v1/audit/events?" + tc.query.Encode())
			if !slices.Equal(got, want) {
				t.Errorf("API: got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			args := []string{"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.AuditKey,
				"-master-key-file", shred.DevMasterKeyFile(s.SA.Config.DataDir), "-purpose", "Revision 2024"}
			for k, v := range tc.query {
				args = append(args, "-"+k, v[0])
			}
			var out, errOut bytes.Buffer
			if code := audit.Command(context.Background(), "replay", args, func(string) string { return "" }, &out, &errOut); code != 0 {
				t.Fatalf("audit replay %v: exit %d: %s", args, code, errOut.String())
			}
			_, cli := splitLines(t, out.String())
			if !slices.Equal(cli, want) {
				t.Errorf("CLI: got\n%s\nwant\n%s", strings.Join(cli, "\n"), strings.Join(want, "\n"))
			}
		})
	}

	// Without the master key the CLI cannot read an encrypted event: it
	// writes it as an unreadable line that says why, never the
	// ciphertext as the event's text.
	var out, errOut bytes.Buffer
	args := []string{"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.OperatorKey, "-family", "FAM-A"}
	if code := audit.Command(context.Background(), "replay", args, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("audit replay without a master key: exit %d: %s", code, errOut.String())
	}
	nokey, nokeyTexts := splitLines(t, out.String())
	if len(nokey) != 4 || nokeyTexts[1] != texts[2] || nokeyTexts[2] != texts[3] || nokeyTexts[3] != texts[5] {
		t.Fatalf("replay without a master key:\n%s", out.String())
	}
	ev, seq, _ := audit.StrictLine(t, []byte(nokeyTexts[0]))
	if ev.Type() != audit.UnreadableType || seq != all[0].Sequence || !strings.Contains(str(nokey[0], audit.ExtReason), "no master key") ||
		strings.Contains(nokeyTexts[0], "Skolefravær") {
		t.Errorf("an encrypted event without a master key: %s", nokeyTexts[0])
	}
	// A master key that is not the one the keys are wrapped with does not
	// open them either.
	wrong := filepath.Join(t.TempDir(), "wrong.key")
	text, _ := shred.NewMasterKeyText()
	if err := os.WriteFile(wrong, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	wrongArgs := []string{"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.AuditKey, "-family", "FAM-A",
		"-master-key-file", wrong, "-type", "family.referred", "-purpose", "Revision 2024"}
	if code := audit.Command(context.Background(), "replay", wrongArgs, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("audit replay with another master key: exit %d: %s", code, errOut.String())
	}
	if objs, lines := splitLines(t, out.String()); len(objs) != 1 || str(objs[0], "type") != audit.UnreadableType || str(objs[0], audit.ExtReason) == "" || strings.Contains(lines[0], "Skolefravær") {
		t.Errorf("replay with another master key: %s", out.String())
	}

	// The CLI through a running audit API gives the same bytes.
	out.Reset()
	errOut.Reset()
	args = []string{"-url", s.SA.URL(), "-token", "dev-auditor", "-family", "FAM-B", "-purpose", "Revision 2024"}
	if code := audit.Command(context.Background(), "replay", args, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("audit replay -url: exit %d: %s", code, errOut.String())
	}
	if _, got := splitLines(t, out.String()); !slices.Equal(got, []string{texts[1], texts[4]}) {
		t.Errorf("audit replay -url: %s", out.String())
	}

	// Bad parameters are a 400 that names them.
	for _, q := range []string{"family=010190-1234", "type=nope", "after=-1", "from=yesterday", "famliy=FAM-A",
		"from=2024-05-02&to=2024-05-01"} {
		if r := s.Get("/v1/audit/events?"+q, "dev-auditor", nil); r.Status != 400 {
			t.Errorf("%s: %d %s", q, r.Status, r.Raw)
		}
	}
}

// TestReplayStoredAsIs shows what an auditor gets of messages that are not
// valid catalog events (published straight to NATS, quarantined by the
// projector): each is a line of its own, in stream order, also in a
// family's replay through the read model's index, and a strict CloudEvent:
// a stored CloudEvent as it is, anything else as an unreadable message.
func TestReplayStoredAsIs(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	good := s.Post(events.SOF, "FAM-Q", &events.FamilyReferred{Reason: "Henvist"})
	js := s.SA.Store.JS
	ctx := context.Background()
	pub := func(subject string, data []byte) uint64 {
		ack, err := js.Publish(ctx, subject, data)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	notJSON := pub("families.FAM-Q.sof.family.referred", []byte("not json\n"))
	pretty := pub("families.FAM-Q.bif.unknown.type", []byte("{\n  \"specversion\": \"1.0\", \"id\": \"x\", \"source\": \"/x\", \"type\": \"x\"\n}\n"))
	collision := pub("families.FAM-Q.sof.family.referred", []byte(`{"specversion":"1.0","id":"y","source":"/y","type":"y","jfsequence":"7"}`))
	notCE := pub("families.FAM-Q.sof.family.referred", []byte(`{"specversion":"1.0","recordedAt":"2024-01-01T00:00:00Z"}`))
	s.WaitApplied(notCE)

	objs, texts := s.lines("/v1/audit/events?family=FAM-Q")
	if len(objs) != 5 {
		t.Fatalf("family replay: %d lines: %v", len(objs), texts)
	}
	for i, want := range []uint64{good.Sequence, notJSON, pretty, collision, notCE} {
		ev, seq, _ := audit.StrictLine(t, []byte(texts[i]))
		if seq != want {
			t.Errorf("line %d: sequence %d, want %d", i+1, seq, want)
		}
		unreadable := i == 1 || i >= 3
		if unreadable != (ev.Type() == audit.UnreadableType) {
			t.Errorf("line %d: type %s: %s", i+1, ev.Type(), texts[i])
		}
		if unreadable && (ev.ID() != "FAMILY_EVENTS/"+strconv.FormatUint(seq, 10) || ev.Source() != audit.UnreadableSource ||
			str(objs[i], audit.ExtNATSSubject) != "families.FAM-Q.sof.family.referred" || ev.Time().IsZero()) {
			t.Errorf("line %d: unreadable message: %s", i+1, texts[i])
		}
	}
	if got := str(objs[1], "data_base64"); got != "bm90IGpzb24K" {
		t.Errorf("not JSON: %s", texts[1])
	}
	if got := str(objs[2], "id"); got != "x" || strings.Contains(texts[2], "\n") {
		t.Errorf("pretty JSON: %s", texts[2])
	}
	if string(objs[3]["data"]) != `{"specversion":"1.0","id":"y","source":"/y","type":"y","jfsequence":"7"}` {
		t.Errorf("collision: %s", texts[3])
	}
	if string(objs[4]["data"]) != `{"specversion":"1.0","recordedAt":"2024-01-01T00:00:00Z"}` {
		t.Errorf("not a CloudEvent: %s", texts[4])
	}
}

func TestAppendLine(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 1, 9, 30, 0, 120000000, time.UTC)
	const (
		ce   = `"specversion":"1.0","id":"a","source":"/s","type":"t"`
		ext  = `"jfsequence":"7","jfrecordedat":"2024-05-01T09:30:00.12Z"`
		head = `{"specversion":"1.0","id":"FAMILY_EVENTS/7","source":"/audit","type":"dk.kk.jobogfamilie.audit.unreadable.v1",` +
			`"time":"2024-05-01T09:30:00.12Z",` + ext + `,"jfnatssubject":"families.F.sof.x",`
	)
	for _, tc := range []struct {
		name string
		data string
		want string
	}{
		{"event", `{` + ce + `,"data":{"x":1}}`, `{` + ce + `,"data":{"x":1},` + ext + `}`},
		{"white space around", " {" + ce + "} \n", `{` + ce + `,` + ext + `}`},
		{"several lines", "{\n" + ce + "\n}", `{` + ce + `,` + ext + `}`},
		{"extension", `{` + ce + `,"traceparent":"00-1","n":-2147483648,"b":true}`, `{` + ce + `,"traceparent":"00-1","n":-2147483648,"b":true,` + ext + `}`},
		{"base64 data", `{` + ce + `,"data_base64":"eA=="}`, `{` + ce + `,"data_base64":"eA==",` + ext + `}`},
		{"reserved attribute", `{` + ce + `,"jfsequence":"1"}`, head + `"datacontenttype":"application/json","data":{` + ce + `,"jfsequence":"1"}}`},
		{"upper case", `{` + ce + `,"recordedAt":"x"}`, head + `"datacontenttype":"application/json","data":{` + ce + `,"recordedAt":"x"}}`},
		{"integer out of range", `{` + ce + `,"n":2147483648}`, head + `"datacontenttype":"application/json","data":{` + ce + `,"n":2147483648}}`},
		{"no type", `{"specversion":"1.0","id":"a","source":"/s"}`, head + `"datacontenttype":"application/json","data":{"specversion":"1.0","id":"a","source":"/s"}}`},
		{"bad time", `{` + ce + `,"time":"yesterday"}`, head + `"datacontenttype":"application/json","data":{` + ce + `,"time":"yesterday"}}`},
		{"empty object", `{}`, head + `"datacontenttype":"application/json","data":{}}`},
		{"array", `[1]`, head + `"datacontenttype":"application/json","data":[1]}`},
		{"broken", `{"id":`, head + `"datacontenttype":"application/octet-stream","data_base64":"eyJpZCI6"}`},
		{"empty", ``, head + `"datacontenttype":"application/octet-stream","data_base64":""}`},
	} {
		got := string(audit.AppendLine(nil, audit.Stored{Sequence: 7, Subject: "families.F.sof.x", RecordedAt: at, Data: []byte(tc.data)}))
		if got != tc.want+"\n" {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
			continue
		}
		if _, seq, rec := audit.StrictLine(t, []byte(got)); seq != 7 || !rec.Equal(at) {
			t.Errorf("%s: jfsequence %d, jfrecordedat %v", tc.name, seq, rec)
		}
	}
}

// TestAppendRecordLine: access-log lines are records, not CloudEvents,
// with "sequence" and "recordedAt".
func TestAppendRecordLine(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 1, 9, 30, 0, 120000000, time.UTC)
	for _, tc := range []struct {
		name string
		data string
		want string
	}{
		{"record", `{"familyId":"F","kind":"read"}`, `{"familyId":"F","kind":"read","sequence":7,"recordedAt":"2024-05-01T09:30:00.12Z"}`},
		{"empty object", `{}`, `{"sequence":7,"recordedAt":"2024-05-01T09:30:00.12Z"}`},
		{"several lines", "{\n\"a\": 1\n}", `{"a":1,"sequence":7,"recordedAt":"2024-05-01T09:30:00.12Z"}`},
		{"collision", `{"sequence":"1"}`, `{"sequence":7,"recordedAt":"2024-05-01T09:30:00.12Z","natsSubject":"access.F","event":{"sequence":"1"}}`},
		{"broken", `{"id":`, `{"sequence":7,"recordedAt":"2024-05-01T09:30:00.12Z","natsSubject":"access.F","raw":"eyJpZCI6"}`},
	} {
		got := string(audit.AppendRecordLine(nil, audit.Stored{Sequence: 7, Subject: "access.F", RecordedAt: at, Data: []byte(tc.data)}))
		if got != tc.want+"\n" {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
