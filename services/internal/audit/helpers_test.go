package audit_test

import (
	"bufio"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

var (
	quietLog = testenv.QuietLog
	checkFor = testenv.CheckFor
)

// system is a running standalone: ingest, projector and the audit API on
// one mux over real HTTP, with an embedded NATS (listening on a free port
// when the test drives the CLI).
type system struct{ *testenv.System }

func startSystem(t testing.TB, listen bool) *system {
	t.Helper()
	return &system{testenv.StartSystem(t, func(cfg *config.Config) {
		if listen {
			cfg.NATSListen = "127.0.0.1:0"
		}
	})}
}

type posted = testenv.Posted

// lines reads a JSON Lines answer of the audit API.
func (s *system) lines(path string) ([]map[string]json.RawMessage, []string) {
	s.T.Helper()
	r := s.Get(path, "dev-auditor", nil)
	if r.Status != 200 {
		s.T.Fatalf("GET %s: %d %s", path, r.Status, r.Raw)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		s.T.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	return splitLines(s.T, r.Raw)
}

func splitLines(t testing.TB, raw string) ([]map[string]json.RawMessage, []string) {
	t.Helper()
	var objs []map[string]json.RawMessage
	var texts []string
	sc := bufio.NewScanner(strings.NewReader(raw))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not a JSON object: %v: %s", len(objs)+1, err, sc.Text())
		}
		objs = append(objs, m)
		texts = append(texts, sc.Text())
	}
	return objs, texts
}

// seqOf is the stream sequence of a replay line (jfsequence, a String).
func seqOf(t testing.TB, m map[string]json.RawMessage) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(str(m, audit.ExtSequence), 10, 64)
	if err != nil {
		t.Fatalf("%s %s: %v", audit.ExtSequence, m[audit.ExtSequence], err)
	}
	return n
}

// recordedAtOf is the recording time of a replay line (jfrecordedat).
func recordedAtOf(t testing.TB, m map[string]json.RawMessage) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, str(m, audit.ExtRecordedAt))
	if err != nil {
		t.Fatalf("%s %s: %v", audit.ExtRecordedAt, m[audit.ExtRecordedAt], err)
	}
	return at
}

func str(m map[string]json.RawMessage, k string) string {
	var s string
	_ = json.Unmarshal(m[k], &s)
	return s
}

// asPosted is a stored message as a replay must show it, worked out from
// what the department posted rather than by package shred: each personal
// field, which the stream holds as a jfenc value, holds the posted JSON
// string token again, byte for byte, and the jfkeyid member appended at
// ingest is gone; nothing else changes. It fails the test when a posted
// personal field is stored in the clear.
func asPosted(t testing.TB, stored, posted []byte) string {
	t.Helper()
	var ev struct {
		Type    string                     `json:"type"`
		Subject string                     `json:"subject"`
		Data    map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(posted, &ev); err != nil {
		t.Fatal(err)
	}
	spec, ok := events.ByType(ev.Type)
	if !ok {
		t.Fatalf("posted type %s", ev.Type)
	}
	out, sealed := string(stored), false
	for _, p := range spec.Personal {
		name := strings.TrimPrefix(p, "/")
		tok, ok := ev.Data[name]
		if !ok {
			continue
		}
		re := regexp.MustCompile(`"` + regexp.QuoteMeta(name) + `":"` + regexp.QuoteMeta(shred.Prefix) + `[A-Za-z0-9+/]+"`)
		if n := len(re.FindAllStringIndex(out, -1)); n != 1 {
			t.Fatalf("stored %s holds %d encrypted %s", stored, n, name)
		}
		out = re.ReplaceAllLiteralString(out, `"`+name+`":`+string(tok))
		sealed = true
	}
	if sealed {
		key := `,"` + shred.Extension + `":"` + shred.KeyID(ev.Subject) + `"`
		if strings.Count(out, key) != 1 || !strings.HasSuffix(out, key+"}") {
			t.Fatalf("stored %s: no %s appended", stored, key)
		}
		out = strings.Replace(out, key, "", 1)
	}
	return out
}
