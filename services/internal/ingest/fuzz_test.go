package ingest_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/ingest"
	"kk.dk/jobogfamilie/services/internal/service"
)

// FuzzIngestHTTP drives the whole decoding path of the ingest handler
// (content type, body limits, structured, binary and batch parsing,
// validation) with arbitrary requests. Nothing may panic, every answer is a
// status of the contract, and errors are problem details. Events that pass
// validation reach a writer without an event store, which must answer 503.
func FuzzIngestHTTP(f *testing.F) {
	valid, _ := events.Build(events.BIF, "F1", &events.PraktikStarted{PraktikID: "P", PersonID: "X", Employer: "12345678", HoursPerWeek: 10})
	vb, _ := events.Marshal(valid)
	seeds := []struct {
		ctype, ce string
		body      []byte
	}{
		{"application/cloudevents+json", "", vb},
		{"application/cloudevents-batch+json", "", append(append([]byte("["), vb...), ']')},
		{"application/cloudevents-batch+json", "", []byte("[]")},
		{"application/json", "1.0", []byte(`{"praktikId":"P","personId":"X","employer":"12345678","hoursPerWeek":10}`)},
		{"application/json", "", []byte(`{}`)},
		{"application/cloudevents+json", "", []byte(`{"specversion":"1.0","id":"a","source":"/departments/bif","type":"dk.kk.jobogfamilie.praktik.started.v1","subject":"010203-1234","time":"2024-01-01T00:00:00Z","data":{}}`)},
		{"application/cloudevents+json", "", []byte(`{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}}}}}}}}}}}}`)},
		{"application/cloudevents+json", "", []byte("\xff\xfe{}")},
		{"application/cloudevents+json", "", []byte(`{"id":"a","id":"b"}`)},
		{"text/plain", "", []byte("hello")},
		{"application/cloudevents+json; charset=utf-8", "", bytes.Replace(vb, []byte(`"F1"`), []byte(`"F1.>"`), 1)},
	}
	for _, s := range seeds {
		f.Add(s.ctype, s.ce, s.body)
	}
	authn, err := auth.Load("")
	if err != nil {
		f.Fatal(err)
	}
	// No publisher connection: writes that get this far fail as unavailable.
	idx := ingest.NewIndex(quietLog())
	ingest.MarkReady(idx)
	svc := &ingest.Service{Departments: events.Departments, Auth: authn,
		Writer: &ingest.Writer{Index: idx, Publisher: nil}, Log: quietLog()}
	mux := http.NewServeMux()
	service.Mount(mux, quietLog(), svc)
	allowed := map[int]bool{400: true, 403: true, 409: true, 413: true, 415: true, 422: true, 503: true}
	f.Fuzz(func(t *testing.T, ctype, ce string, body []byte) {
		req := httptest.NewRequest("POST", "/departments/bif/v1/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer dev-bif")
		req.Header.Set("Content-Type", ctype)
		if ce != "" {
			req.Header.Set("ce-specversion", ce)
			req.Header.Set("ce-id", "fuzz")
			req.Header.Set("ce-source", "/departments/bif")
			req.Header.Set("ce-type", "dk.kk.jobogfamilie.praktik.started.v1")
			req.Header.Set("ce-subject", "F1")
			req.Header.Set("ce-time", "2024-01-01T00:00:00Z")
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("status %d for %q %q: %s", rec.Code, ctype, body, rec.Body.String())
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("error without problem details: %q", ct)
		}
		b, _ := io.ReadAll(rec.Body)
		if !strings.Contains(string(b), `"status":`) {
			t.Fatalf("problem without status: %s", b)
		}
	})
}
