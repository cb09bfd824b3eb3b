package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// corpusCase is one line of testdata/hostile-http.jsonl: a request and the
// answer the contract promises for it.
type corpusCase struct {
	Name        string            `json:"name"`
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Token       string            `json:"token"`
	ContentType string            `json:"contentType"`
	Headers     map[string]string `json:"headers"`
	// Body is sent byte for byte as the file writes it; Raw is sent as a
	// string, for bodies that are not JSON; Pad replaces "PAD" in Raw
	// with that many bytes.
	Body    json.RawMessage `json:"body"`
	Raw     *string         `json:"raw"`
	Pad     int             `json:"pad"`
	Status  int             `json:"status"`
	Pointer string          `json:"pointer"`
	Index   *int            `json:"index"`
}

// corpusFamily is the family the corpus reads; the test enrols it and
// makes dev-coordinator (E1001) its caseworker first.
const corpusFamily = "F-CORPUS"

func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	f, err := os.Open("testdata/hostile-http.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []corpusCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var c corpusCase
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("hostile-http.jsonl:%d: %v", line, err)
		}
		if c.Name == "" || c.Method == "" || c.Path == "" || c.Status == 0 {
			t.Fatalf("hostile-http.jsonl:%d: name, method, path and status are required", line)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestHostileCorpus runs every request of the corpus, in order, against a
// standalone and checks the status, the problem's pointer and the batch
// index the corpus names. Afterwards neither the event stream nor the
// access log holds anything that reads as a CPR number or a control
// character.
func TestHostileCorpus(t *testing.T) {
	t.Parallel()
	cases := loadCorpus(t)
	if len(cases) < 160 {
		t.Fatalf("the corpus has %d cases, fewer than the 160 it is meant to have", len(cases))
	}
	h := newHarness(t)
	seedCorpusFamily(t, h)

	names := map[string]bool{}
	for _, c := range cases {
		if names[c.Name] {
			t.Fatalf("two cases are named %q", c.Name)
		}
		names[c.Name] = true
		t.Run(c.Name, func(t *testing.T) {
			status, hdr, raw := h.do(t, c)
			if status != c.Status {
				t.Fatalf("status %d, want %d: %.400s", status, c.Status, raw)
			}
			if status < 300 {
				return
			}
			if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q, want application/problem+json", ct)
			}
			var p struct {
				Status int `json:"status"`
				Index  *int
				Errors []struct{ Pointer, Detail string }
			}
			if err := json.Unmarshal([]byte(raw), &p); err != nil {
				t.Fatalf("problem: %v: %s", err, raw)
			}
			if p.Status != c.Status {
				t.Errorf("problem status %d, want %d", p.Status, c.Status)
			}
			if c.Pointer != "" {
				found := false
				for _, e := range p.Errors {
					found = found || e.Pointer == c.Pointer
				}
				if !found {
					t.Errorf("no error at %s: %s", c.Pointer, raw)
				}
			}
			if c.Index != nil && (p.Index == nil || *p.Index != *c.Index) {
				t.Errorf("index %v, want %d: %s", p.Index, *c.Index, raw)
			}
			if events.ContainsCPR(raw) {
				t.Errorf("the answer repeats a CPR number: %s", raw)
			}
		})
	}

	for _, stream := range []string{eventstore.FamilyStream, eventstore.AccessLogStream} {
		assertClean(t, h, stream)
	}
}

// do sends one corpus request.
func (h *harness) do(t *testing.T, c corpusCase) (int, http.Header, string) {
	t.Helper()
	var body io.Reader
	switch {
	case c.Raw != nil:
		body = strings.NewReader(strings.Replace(*c.Raw, "PAD", strings.Repeat("a", c.Pad), 1))
	case c.Body != nil:
		body = bytes.NewReader(c.Body)
	}
	req, err := http.NewRequest(c.Method, h.sa.URL()+c.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.ContentType != "" {
		req.Header.Set("Content-Type", c.ContentType)
	}
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(raw)
}

// seedCorpusFamily enrols corpusFamily, makes E1001 its caseworker and
// waits until the coordinator can read it.
func seedCorpusFamily(t *testing.T, h *harness) {
	t.Helper()
	var pos string
	for _, e := range []string{
		`{"specversion":"1.0","id":"corpus-seed-1","source":"/departments/sof","type":"dk.kk.jobogfamilie.family.enrolled.v1","subject":"` + corpusFamily + `","time":"2024-01-15T09:00:00Z","data":{"members":[{"personId":"P1","role":"parent"},{"personId":"C1","role":"child"}],"courseStart":"2024-01-15","childCaseIds":["CASE1"],"parentBenefits":[{"personId":"P1","benefit":"kontanthjaelp"}]}}`,
		`{"specversion":"1.0","id":"corpus-seed-2","source":"/departments/sof","type":"dk.kk.jobogfamilie.caseworker.assigned.v1","subject":"` + corpusFamily + `","time":"2024-01-15T09:05:00Z","data":{"employeeId":"E1001"}}`,
	} {
		r := h.post("sof", "dev-sof", "application/cloudevents+json", []byte(e), nil)
		if r.Status != 201 {
			t.Fatalf("seeding: %d %s", r.Status, r.Raw)
		}
		pos = r.Header.Get("X-Position")
	}
	status, _, raw := h.do(t, corpusCase{Method: "GET", Path: "/v1/families/" + corpusFamily, Token: "dev-coordinator",
		Headers: map[string]string{"X-Min-Position": pos}})
	if status != 200 {
		t.Fatalf("the seeded family is not readable: %d %s", status, raw)
	}
}

// assertClean reads every message of a stream and fails on one that holds
// a CPR number or a control character.
func assertClean(t *testing.T, h *harness, name string) {
	t.Helper()
	ctx := context.Background()
	s, err := h.js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs == 0 {
		t.Fatalf("%s is empty: the corpus stored nothing, so it proves nothing", name)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("%s %d: %v", name, seq, err)
		}
		var decoded any
		if err := json.Unmarshal(m.Data, &decoded); err != nil {
			t.Fatalf("%s %d: %v", name, seq, err)
		}
		walkStrings(decoded, func(s string) {
			if events.ContainsCPR(s) {
				t.Errorf("%s %d stores a CPR number: %s", name, seq, m.Data)
			}
			if _, bad := events.ControlIn(s); bad {
				t.Errorf("%s %d stores a control character: %s", name, seq, strconv.Quote(string(m.Data)))
			}
		})
	}
}

func walkStrings(v any, f func(string)) {
	switch x := v.(type) {
	case string:
		f(x)
	case map[string]any:
		for k, e := range x {
			f(k)
			walkStrings(e, f)
		}
	case []any:
		for _, e := range x {
			walkStrings(e, f)
		}
	}
}
