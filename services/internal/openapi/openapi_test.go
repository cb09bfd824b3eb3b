package openapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/ingest"
	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/service"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// spec is a served OpenAPI document, with its schemas compiled.
type spec struct {
	t     *testing.T
	doc   map[string]any
	comp  *jsonschema.Compiler
	cache map[string]*jsonschema.Schema
}

func loadSpec(t *testing.T, base string) *spec {
	t.Helper()
	r := testenv.Do(t, base, "GET", "/openapi.json", "", nil, nil)
	if r.Status != 200 {
		t.Fatalf("GET /openapi.json: %d %s", r.Status, r.Raw)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(r.Raw))
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.(map[string]any)["openapi"]; v != "3.1.0" {
		t.Fatalf("openapi %v, want 3.1.0", v)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("mem:///openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	return &spec{t: t, doc: doc.(map[string]any), comp: c, cache: map[string]*jsonschema.Schema{}}
}

// operations are the document's operations as "METHOD /pattern".
func (s *spec) operations() []string {
	var out []string
	for path, item := range s.doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			switch method {
			case "get", "post", "put", "patch", "delete", "head", "options":
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}

// deref follows an OpenAPI $ref to components; it returns the object
// and its JSON pointer.
func (s *spec) deref(v any, ptr string) (map[string]any, string) {
	m := v.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		ptr = strings.TrimPrefix(ref, "#")
		var cur any = s.doc
		for _, tok := range strings.Split(ptr, "/")[1:] {
			cur = cur.(map[string]any)[tok]
		}
		return cur.(map[string]any), ptr
	}
	return m, ptr
}

func escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// check asserts that the answer to op is documented: its status, its
// media type, and (for JSON) its body against the documented schema.
func (s *spec) check(name, op string, status int, header http.Header, body []byte) {
	s.t.Helper()
	method, path, _ := strings.Cut(op, " ")
	method = strings.ToLower(method)
	item, ok := s.doc["paths"].(map[string]any)[path].(map[string]any)
	if !ok || item[method] == nil {
		s.t.Errorf("%s: %s is not documented", name, op)
		return
	}
	responses := item[method].(map[string]any)["responses"].(map[string]any)
	code := fmt.Sprint(status)
	raw, ok := responses[code]
	if !ok {
		s.t.Errorf("%s: %s answered %d, not documented (%s)", name, op, status, body)
		return
	}
	resp, ptr := s.deref(raw, "/paths/"+escape(path)+"/"+method+"/responses/"+code)
	// The positions an answer documents are always sent (the others, a
	// deprecation's or a Location, only when they apply).
	documented, _ := resp["headers"].(map[string]any)
	for _, h := range []string{"X-Position", "X-Last-Sequence"} {
		if _, ok := documented[h]; ok && header.Get(h) == "" {
			s.t.Errorf("%s: %s %d: documented header %s missing", name, op, status, h)
		}
	}
	content, _ := resp["content"].(map[string]any)
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	media, ok := content[mt].(map[string]any)
	if !ok {
		s.t.Errorf("%s: %s %d answered %q, documented %v", name, op, status, mt, keys(content))
		return
	}
	if mt != "application/json" && mt != "application/problem+json" {
		return
	}
	if mt == "application/problem+json" {
		// Every problem refers to the one shared schema.
		if ref, _ := media["schema"].(map[string]any)["$ref"].(string); ref != "#/components/schemas/Problem" {
			s.t.Errorf("%s: %s %d: problem schema %v, want the shared Problem", name, op, status, media["schema"])
		}
	}
	loc := "mem:///openapi.json#" + ptr + "/content/" + escape(mt) + "/schema"
	sch, ok := s.cache[loc]
	if !ok {
		var err error
		if sch, err = s.comp.Compile(loc); err != nil {
			s.t.Fatalf("%s: compiling %s: %v", name, loc, err)
		}
		s.cache[loc] = sch
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		s.t.Errorf("%s: %s %d: body is not JSON: %v: %s", name, op, status, err, body)
		return
	}
	if err := sch.Validate(v); err != nil {
		s.t.Errorf("%s: %s %d: body does not match the documented schema: %v\n%s", name, op, status, err, body)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// request is one call of the table: op is the documented operation it
// exercises.
type request struct {
	name, op, path, token string
	body                  []byte
	hdr                   map[string]string
	status                int
	// stream: only the status and headers are read (an SSE stream).
	stream bool
}

func send(t *testing.T, base string, rq request) (int, http.Header, []byte) {
	t.Helper()
	method, _, _ := strings.Cut(rq.op, " ")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+rq.path, bytes.NewReader(rq.body))
	if err != nil {
		t.Fatal(err)
	}
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	for k, v := range rq.hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", rq.name, err)
	}
	defer resp.Body.Close()
	if rq.stream && resp.StatusCode == 200 {
		return resp.StatusCode, resp.Header, nil
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: reading the body: %v", rq.name, err)
	}
	return resp.StatusCode, resp.Header, b
}

// The standalone's document describes exactly the routes it serves, and
// every answer of every operation, success or error, has a documented
// status, media type and (for JSON) a body that matches the documented
// schema. Unknown paths and wrong methods answer problem+json.
func TestDocumentMatchesTheStandalone(t *testing.T) {
	s := testenv.StartSystem(t)
	sp := loadSpec(t, s.SA.URL())
	routes := slices.Clone(s.SA.Routes)
	slices.Sort(routes)
	if ops := sp.operations(); !slices.Equal(routes, ops) {
		t.Fatalf("routes served and documented differ:\nserved     %v\ndocumented %v", routes, ops)
	}
	// The web app's pages are served beside the API and are not part of
	// it: all of them under /app, none of them documented.
	if len(s.SA.Pages) == 0 {
		t.Error("the standalone serves no web app pages")
	}
	for _, pg := range s.SA.Pages {
		path := pg // a page for every method has no method
		if _, p, ok := strings.Cut(pg, " "); ok {
			path = p
		}
		if !strings.HasPrefix(path, "/app") {
			t.Errorf("page %q is not under /app", pg)
		}
		if _, ok := sp.doc["paths"].(map[string]any)[path]; ok {
			t.Errorf("page %q is in the OpenAPI document", pg)
		}
	}

	// F9 was last heard of seven years ago: due for erasure, then erased.
	s.Post(events.BIF, "F9", &events.BenefitGranted{PersonID: "P9", Benefit: "other"}, events.WithTime(time.Now().AddDate(-7, 0, 0)))
	s.Post(events.SOF, "F1", testenv.Enrolment())
	s.Post(events.SOF, "F1", &events.CaseworkerAssigned{EmployeeID: "E1001"})
	// A message no version decodes: quarantined, and left there by the
	// redrive, whose answer then lists it.
	ack, err := s.SA.Store.JS.Publish(context.Background(), "families.F1.sof.family.referred", []byte("not json"))
	if err != nil {
		t.Fatal(err)
	}
	last := ack.Sequence
	s.WaitApplied(last)
	if r := s.Do("POST", "/v1/admin/quarantine/redrive", "dev-operator", nil, nil); r.Status != 200 || !strings.Contains(r.Raw, `"notMoved":[{`) {
		t.Fatalf("redrive: %d %s, want the quarantined message not moved", r.Status, r.Raw)
	}
	if r := s.Get("/v1/privacy/due", "dev-dpo", nil); r.Status != 200 || !strings.Contains(r.Raw, `"familyId":"F9"`) {
		t.Fatalf("GET /v1/privacy/due: %d %s, want F9 due", r.Status, r.Raw)
	}
	ev, err := events.Build(events.BIF, "F1", &events.PraktikStarted{PraktikID: "PR-1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 15})
	if err != nil {
		t.Fatal(err)
	}
	praktik, err := events.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	structured := map[string]string{"Content-Type": "application/cloudevents+json"}
	min := map[string]string{"X-Min-Position": fmt.Sprint(last)}
	const (
		postBIF   = "POST /departments/bif/v1/events"
		families  = "GET /v1/families"
		overview  = "GET /v1/families/{familyId}"
		timeline  = "GET /v1/families/{familyId}/timeline"
		stream    = "GET /v1/families/{familyId}/timeline/stream"
		rebuild   = "POST /v1/admin/rebuild"
		rebuildSt = "GET /v1/admin/rebuild"
		redrive   = "POST /v1/admin/quarantine/redrive"
		aEvents   = "GET /v1/audit/events"
		aTimeline = "GET /v1/audit/families/{familyId}/timeline"
		aAccess   = "GET /v1/audit/access-log"
		verify    = "POST /v1/audit/verify"
		verifySt  = "GET /v1/audit/verify"
		eval      = "GET /v1/evaluation"
		evalSer   = "GET /v1/evaluation/series"
		report    = "GET /v1/privacy/families/{familyId}/access-report"
		due       = "GET /v1/privacy/due"
		erase     = "POST /v1/privacy/families/{familyId}/erase"
	)
	reason := func(r string) []byte {
		b, err := json.Marshal(map[string]string{"reason": r})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	jsonBody := map[string]string{"Content-Type": "application/json"}
	table := []request{
		{name: "healthz", op: "GET /healthz", path: "/healthz", status: 200},
		{name: "readyz", op: "GET /readyz", path: "/readyz", status: 200},
		{name: "metrics", op: "GET /metrics", path: "/metrics", status: 200},
		{name: "openapi", op: "GET /openapi.json", path: "/openapi.json", status: 200},

		{name: "ingest stored", op: postBIF, path: "/departments/bif/v1/events", token: "dev-bif", body: praktik, hdr: structured, status: 201},
		{name: "ingest duplicate", op: postBIF, path: "/departments/bif/v1/events", token: "dev-bif", body: praktik, hdr: structured, status: 200},
		{name: "ingest malformed", op: postBIF, path: "/departments/bif/v1/events", token: "dev-bif", body: []byte("{"), hdr: structured, status: 400},
		{name: "ingest no token", op: postBIF, path: "/departments/bif/v1/events", body: praktik, hdr: structured, status: 401},
		{name: "ingest other department", op: postBIF, path: "/departments/bif/v1/events", token: "dev-sof", body: praktik, hdr: structured, status: 403},
		{name: "ingest id reused", op: postBIF, path: "/departments/bif/v1/events", token: "dev-bif",
			body: bytes.Replace(praktik, []byte(`"hoursPerWeek":15`), []byte(`"hoursPerWeek":16`), 1), hdr: structured, status: 409},
		{name: "ingest too large", op: postBIF, path: "/departments/bif/v1/events", token: "dev-bif", body: bytes.Repeat([]byte(" "), ingest.MaxBody+1), hdr: structured, status: 413},
		{name: "ingest media type", op: postBIF, path: "/departments/bif/v1/events", token: "dev-bif", body: praktik, hdr: map[string]string{"Content-Type": "text/plain"}, status: 415},
		{name: "ingest invalid", op: postBIF, path: "/departments/bif/v1/events", token: "dev-bif",
			body: bytes.Replace(praktik, []byte(`"hoursPerWeek":15`), []byte(`"hoursPerWeek":"x"`), 1), hdr: structured, status: 422},

		{name: "families", op: families, path: "/v1/families", token: "dev-coordinator", hdr: min, status: 200},
		{name: "families query", op: families, path: "/v1/families?x=1", token: "dev-coordinator", status: 400},
		{name: "families purpose", op: families, path: "/v1/families", token: "dev-coordinator", hdr: map[string]string{"X-Purpose": "cpr 010101-1234"}, status: 422},
		{name: "families no token", op: families, path: "/v1/families", status: 401},
		{name: "families operator", op: families, path: "/v1/families", token: "dev-operator", status: 403},
		{name: "families not applied", op: families, path: "/v1/families", token: "dev-coordinator", hdr: map[string]string{"X-Min-Position": "999999999"}, status: 503},
		{name: "overview", op: overview, path: "/v1/families/F1", token: "dev-coordinator", hdr: min, status: 200},
		{name: "overview query", op: overview, path: "/v1/families/F1?x=1", token: "dev-coordinator", status: 400},
		{name: "overview no token", op: overview, path: "/v1/families/F1", status: 401},
		{name: "overview not assigned", op: overview, path: "/v1/families/F1", token: "dev-coordinator-2", status: 403},
		{name: "overview unknown", op: overview, path: "/v1/families/NOPE", token: "dev-auditor", status: 404},
		{name: "overview purpose", op: overview, path: "/v1/families/F1", token: "dev-coordinator", hdr: map[string]string{"X-Purpose": "cpr 010101-1234"}, status: 422},
		{name: "timeline", op: timeline, path: "/v1/families/F1/timeline?limit=1", token: "dev-coordinator", status: 200},
		{name: "timeline limit", op: timeline, path: "/v1/families/F1/timeline?limit=0", token: "dev-coordinator", status: 400},
		{name: "timeline no token", op: timeline, path: "/v1/families/F1/timeline", status: 401},
		{name: "timeline not assigned", op: timeline, path: "/v1/families/F1/timeline", token: "dev-coordinator-2", status: 403},
		{name: "timeline unknown", op: timeline, path: "/v1/families/NOPE/timeline", token: "dev-auditor", status: 404},
		{name: "stream", op: stream, path: "/v1/families/F1/timeline/stream", token: "dev-coordinator", status: 200, stream: true},
		{name: "stream query", op: stream, path: "/v1/families/F1/timeline/stream?x=1", token: "dev-coordinator", status: 400},
		{name: "stream no token", op: stream, path: "/v1/families/F1/timeline/stream", status: 401},
		{name: "stream not assigned", op: stream, path: "/v1/families/F1/timeline/stream", token: "dev-coordinator-2", status: 403},
		{name: "stream unknown", op: stream, path: "/v1/families/NOPE/timeline/stream", token: "dev-auditor", status: 404},

		{name: "rebuild status", op: rebuildSt, path: "/v1/admin/rebuild", token: "dev-operator", status: 200},
		{name: "rebuild status no token", op: rebuildSt, path: "/v1/admin/rebuild", status: 401},
		{name: "rebuild status coordinator", op: rebuildSt, path: "/v1/admin/rebuild", token: "dev-coordinator", status: 403},
		{name: "rebuild no token", op: rebuild, path: "/v1/admin/rebuild", status: 401},
		{name: "rebuild coordinator", op: rebuild, path: "/v1/admin/rebuild", token: "dev-coordinator", status: 403},
		{name: "redrive", op: redrive, path: "/v1/admin/quarantine/redrive", token: "dev-operator", status: 200},
		{name: "redrive no token", op: redrive, path: "/v1/admin/quarantine/redrive", status: 401},
		{name: "redrive auditor", op: redrive, path: "/v1/admin/quarantine/redrive", token: "dev-auditor", status: 403},

		{name: "audit events", op: aEvents, path: "/v1/audit/events?family=F1", token: "dev-auditor", hdr: min, status: 200},
		{name: "audit events position", op: aEvents, path: "/v1/audit/events", token: "dev-auditor", hdr: map[string]string{"X-Min-Position": "soon"}, status: 400},
		{name: "audit events param", op: aEvents, path: "/v1/audit/events?nope=1", token: "dev-auditor", status: 400},
		{name: "audit events no token", op: aEvents, path: "/v1/audit/events", status: 401},
		{name: "audit events coordinator", op: aEvents, path: "/v1/audit/events", token: "dev-coordinator", status: 403},
		{name: "audit timeline", op: aTimeline, path: "/v1/audit/families/F1/timeline", token: "dev-auditor", hdr: min, status: 200},
		{name: "audit timeline asOf", op: aTimeline, path: "/v1/audit/families/F1/timeline?asOf=yesterday", token: "dev-auditor", status: 400},
		{name: "audit timeline no token", op: aTimeline, path: "/v1/audit/families/F1/timeline", status: 401},
		{name: "audit timeline coordinator", op: aTimeline, path: "/v1/audit/families/F1/timeline", token: "dev-coordinator", status: 403},
		{name: "audit timeline unknown", op: aTimeline, path: "/v1/audit/families/NOPE/timeline", token: "dev-auditor", status: 404},
		{name: "access log", op: aAccess, path: "/v1/audit/access-log?family=F1", token: "dev-auditor", status: 200},
		{name: "access log param", op: aAccess, path: "/v1/audit/access-log?family=" + url.QueryEscape("a b"), token: "dev-auditor", status: 400},
		{name: "access log no token", op: aAccess, path: "/v1/audit/access-log", status: 401},
		{name: "access log coordinator", op: aAccess, path: "/v1/audit/access-log", token: "dev-coordinator", status: 403},
		{name: "verify", op: verify, path: "/v1/audit/verify", token: "dev-auditor", status: 200},
		{name: "verify query", op: verify, path: "/v1/audit/verify?x=1", token: "dev-auditor", status: 400},
		{name: "verify no token", op: verify, path: "/v1/audit/verify", status: 401},
		{name: "verify coordinator", op: verify, path: "/v1/audit/verify", token: "dev-coordinator", status: 403},
		{name: "verify status", op: verifySt, path: "/v1/audit/verify", token: "dev-auditor", status: 200},
		{name: "verify status no token", op: verifySt, path: "/v1/audit/verify", status: 401},
		{name: "verify status coordinator", op: verifySt, path: "/v1/audit/verify", token: "dev-coordinator", status: 403},

		{name: "evaluation", op: eval, path: "/v1/evaluation?asOf=2024-06-30", token: "dev-analyst", hdr: min, status: 200},
		{name: "evaluation csv", op: eval, path: "/v1/evaluation?format=csv", token: "dev-analyst", status: 200},
		{name: "evaluation exact", op: eval, path: "/v1/evaluation?suppress=false", token: "dev-auditor", hdr: map[string]string{"X-Purpose": "Kvartalsrapport"}, status: 200},
		{name: "evaluation asOf", op: eval, path: "/v1/evaluation?asOf=yesterday", token: "dev-analyst", status: 400},
		{name: "evaluation no token", op: eval, path: "/v1/evaluation", status: 401},
		{name: "evaluation coordinator", op: eval, path: "/v1/evaluation", token: "dev-coordinator", status: 403},
		{name: "evaluation purpose", op: eval, path: "/v1/evaluation?suppress=false", token: "dev-analyst", hdr: map[string]string{"X-Purpose": "cpr 010101-1234"}, status: 422},
		{name: "evaluation series", op: evalSer, path: "/v1/evaluation/series?from=2024-01-01&to=2024-12-01", token: "dev-analyst", status: 200},
		{name: "evaluation series csv", op: evalSer, path: "/v1/evaluation/series?from=2024-01-01&to=2024-12-01&step=quarter&format=csv", token: "dev-analyst", status: 200},
		{name: "evaluation series bounds", op: evalSer, path: "/v1/evaluation/series?from=2024-12-01&to=2024-01-01", token: "dev-analyst", status: 400},
		{name: "evaluation series no token", op: evalSer, path: "/v1/evaluation/series?from=2024-01-01&to=2024-12-01", status: 401},
		{name: "evaluation series coordinator", op: evalSer, path: "/v1/evaluation/series?from=2024-01-01&to=2024-12-01", token: "dev-coordinator", status: 403},

		{name: "access report", op: report, path: "/v1/privacy/families/F1/access-report?personId=P1", token: "dev-dpo", hdr: min, status: 200},
		{name: "access report html", op: report, path: "/v1/privacy/families/F1/access-report", token: "dev-dpo", hdr: map[string]string{"Accept": "text/html"}, status: 200},
		{name: "access report person", op: report, path: "/v1/privacy/families/F1/access-report?personId=NOPE", token: "dev-dpo", status: 404},
		{name: "access report param", op: report, path: "/v1/privacy/families/F1/access-report?includeEmployees=1", token: "dev-dpo", status: 400},
		{name: "access report no token", op: report, path: "/v1/privacy/families/F1/access-report", status: 401},
		{name: "access report auditor", op: report, path: "/v1/privacy/families/F1/access-report", token: "dev-auditor", status: 403},
		{name: "access report unknown", op: report, path: "/v1/privacy/families/NOPE/access-report", token: "dev-dpo", status: 404},
		{name: "access report purpose", op: report, path: "/v1/privacy/families/F1/access-report", token: "dev-dpo", hdr: map[string]string{"X-Purpose": "cpr 010101-1234"}, status: 422},

		// Due before erased: once erased, F9 is no longer due.
		{name: "due", op: due, path: "/v1/privacy/due", token: "dev-dpo", hdr: min, status: 200},
		{name: "due position", op: due, path: "/v1/privacy/due", token: "dev-dpo", hdr: map[string]string{"X-Min-Position": "soon"}, status: 400},
		{name: "due not applied", op: due, path: "/v1/privacy/due", token: "dev-dpo", hdr: map[string]string{"X-Min-Position": "999999999"}, status: 503},
		{name: "due query", op: due, path: "/v1/privacy/due?years=1", token: "dev-dpo", status: 400},
		{name: "due purpose", op: due, path: "/v1/privacy/due", token: "dev-dpo", hdr: map[string]string{"X-Purpose": "cpr 010101-1234"}, status: 422},
		{name: "due no token", op: due, path: "/v1/privacy/due", status: 401},
		{name: "due coordinator", op: due, path: "/v1/privacy/due", token: "dev-coordinator", status: 403},
		{name: "due auditor", op: due, path: "/v1/privacy/due", token: "dev-auditor", status: 403},
		{name: "erase no reason", op: erase, path: "/v1/privacy/families/F9/erase", token: "dev-dpo", body: []byte(`{}`), hdr: jsonBody, status: 400},
		{name: "erase blank reason", op: erase, path: "/v1/privacy/families/F9/erase", token: "dev-dpo", body: reason("  "), hdr: jsonBody, status: 400},
		{name: "erase other field", op: erase, path: "/v1/privacy/families/F9/erase", token: "dev-dpo", body: []byte(`{"reason":"GDPR art. 17","now":true}`), hdr: jsonBody, status: 400},
		{name: "erase cpr in reason", op: erase, path: "/v1/privacy/families/F9/erase", token: "dev-dpo", body: reason("Anmodning fra 010101-1234"), hdr: jsonBody, status: 400},
		{name: "erase bad id", op: erase, path: "/v1/privacy/families/F.9/erase", token: "dev-dpo", body: reason("GDPR art. 17"), hdr: jsonBody, status: 400},
		{name: "erase no token", op: erase, path: "/v1/privacy/families/F9/erase", body: reason("GDPR art. 17"), hdr: jsonBody, status: 401},
		{name: "erase coordinator", op: erase, path: "/v1/privacy/families/F9/erase", token: "dev-coordinator", body: reason("GDPR art. 17"), hdr: jsonBody, status: 403},
		{name: "erase operator", op: erase, path: "/v1/privacy/families/F9/erase", token: "dev-operator", body: reason("GDPR art. 17"), hdr: jsonBody, status: 403},
		{name: "erase unknown", op: erase, path: "/v1/privacy/families/NOPE/erase", token: "dev-dpo", body: reason("GDPR art. 17"), hdr: jsonBody, status: 404},
		{name: "erase last sequence 0", op: erase, path: "/v1/privacy/families/F9/erase", token: "dev-dpo", body: []byte(`{"reason":"GDPR art. 17","lastSequence":0}`), hdr: jsonBody, status: 400},
		// F9's one event is the stream's first: a later sequence is not its last.
		{name: "erase family changed", op: erase, path: "/v1/privacy/families/F9/erase", token: "dev-dpo", body: []byte(`{"reason":"GDPR art. 17","lastSequence":2}`), hdr: jsonBody, status: 409},
		{name: "erase", op: erase, path: "/v1/privacy/families/F9/erase", token: "dev-dpo", body: reason("Opbevaringsperioden er udløbet"), hdr: jsonBody, status: 201},
		{name: "erase again", op: erase, path: "/v1/privacy/families/F9/erase", token: "dev-dpo", body: reason("Opbevaringsperioden er udløbet"), hdr: jsonBody, status: 200},

		// Last: it swaps the read model.
		{name: "rebuild", op: rebuild, path: "/v1/admin/rebuild", token: "dev-operator", status: 202},
	}
	exercised := map[string]map[bool]bool{}
	for _, rq := range table {
		status, header, body := send(t, s.SA.URL(), rq)
		if status != rq.status {
			t.Errorf("%s: %s %s answered %d, want %d: %s", rq.name, rq.op, rq.path, status, rq.status, body)
			continue
		}
		sp.check(rq.name, rq.op, status, header, body)
		if exercised[rq.op] == nil {
			exercised[rq.op] = map[bool]bool{}
		}
		exercised[rq.op][status < 300] = true
	}
	for _, op := range sp.operations() {
		if strings.HasPrefix(op, "POST /departments/") && op != postBIF {
			continue // the same operation for each department
		}
		if !exercised[op][true] {
			t.Errorf("%s: no success case in the table", op)
		}
		if !exercised[op][false] && !slices.Contains([]string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json"}, op) {
			t.Errorf("%s: no error case in the table", op)
		}
	}

	// What no route matches is a problem too, on the shared schema.
	sch, err := sp.comp.Compile("mem:///openapi.json#/components/schemas/Problem")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nowhere", 404, ""},
		{"GET", "/v1/families/F1/nothing", 404, ""},
		{"DELETE", "/v1/families", 405, "GET"},
		{"PUT", "/v1/admin/rebuild", 405, "GET, HEAD, POST"},
		{"GET", "/departments/bif/v1/events", 405, "POST"},
	} {
		r := testenv.Do(t, s.SA.URL(), c.method, c.path, "dev-coordinator", nil, nil)
		if r.Status != c.status || r.Header.Get("Content-Type") != "application/problem+json" || r.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d %q Allow %q, want %d problem+json Allow %q: %s", c.method, c.path, r.Status,
				r.Header.Get("Content-Type"), r.Header.Get("Allow"), c.status, c.allow, r.Raw)
			continue
		}
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(r.Raw))
		if err == nil {
			err = sch.Validate(v)
		}
		if err != nil {
			t.Errorf("%s %s: not a Problem: %v: %s", c.method, c.path, err, r.Raw)
		}
	}
}

// Each service run alone serves the document of its own routes, and only
// those.
func TestEachServerDocumentsItsRoutes(t *testing.T) {
	for name, build := range map[string]service.Build{
		"ingest-sof": func(ctx context.Context, p service.Parts) (service.Service, error) {
			return ingest.NewService(ctx, p, []events.Department{events.SOF})
		},
		"projector": func(ctx context.Context, p service.Parts) (service.Service, error) {
			return projector.NewService(ctx, p)
		},
		"audit": func(ctx context.Context, p service.Parts) (service.Service, error) {
			return audit.NewService(ctx, p, nil, nil)
		},
	} {
		t.Run(name, func(t *testing.T) {
			run, err := process.Start(context.Background(), testenv.Config(t), name, testenv.QuietLog(), build)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = run.Stop() })
			sp := loadSpec(t, run.URL())
			routes := slices.Clone(run.Routes)
			slices.Sort(routes)
			if ops := sp.operations(); !slices.Equal(routes, ops) {
				t.Fatalf("routes served and documented differ:\nserved     %v\ndocumented %v", routes, ops)
			}
			var doc struct {
				Info struct{ Title string }
			}
			if err := json.Unmarshal(run.OpenAPI, &doc); err != nil || !strings.Contains(doc.Info.Title, name) {
				t.Errorf("title %q (%v), want it to name %s", doc.Info.Title, err, name)
			}
		})
	}
}
