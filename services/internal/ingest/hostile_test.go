package ingest_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// TestHostileRequests is the corpus of hostile requests, each with the
// answer it must get. None may be stored.
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	valid := string(ev(t, events.BIF, "F900", praktik("PR1")))
	with := func(old, new string) []byte {
		if !strings.Contains(valid, old) {
			t.Fatalf("corpus: %q not in %s", old, valid)
		}
		return []byte(strings.Replace(valid, old, new, 1))
	}
	nested := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
	hugeString := `{"specversion":"1.0","id":"x","source":"/departments/bif","type":"dk.kk.jobogfamilie.praktik.started.v1","subject":"F1","time":"2024-01-01T00:00:00Z","data":{"note":"` + strings.Repeat("a", 2<<20) + `"}}`
	future := time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)
	many := make([][]byte, 501)
	for i := range many {
		many[i] = ev(t, events.BIF, "F901", &events.EducationStarted{PersonID: "P1", Programme: "hf"})
	}

	tests := []struct {
		name   string
		token  string
		ctype  string
		body   []byte
		status int
	}{
		{"huge body", "dev-bif", "application/cloudevents+json", []byte(hugeString), 413},
		{"deeply nested JSON", "dev-bif", "application/cloudevents+json", []byte(nested), 400},
		{"deeply nested data", "dev-bif", "application/cloudevents+json", with(`"hoursPerWeek":10`, `"hoursPerWeek":10,"x":`+nested), 400},
		{"invalid UTF-8", "dev-bif", "application/cloudevents+json", with(`"P1"`, "\"P\xff1\""), 400},
		{"duplicate keys", "dev-bif", "application/cloudevents+json", with(`"subject":"F900"`, `"subject":"F900","subject":"F901"`), 400},
		{"duplicate keys in data", "dev-bif", "application/cloudevents+json", with(`"personId":"P1"`, `"personId":"P1","personId":"P2"`), 400},
		{"wrong attribute type", "dev-bif", "application/cloudevents+json", with(`"subject":"F900"`, `"subject":900`), 400},
		{"wrong data type", "dev-bif", "application/cloudevents+json", with(`"hoursPerWeek":10`, `"hoursPerWeek":"10"`), 422},
		{"data not an object", "dev-bif", "application/cloudevents+json", []byte(strings.Split(valid, `"data":`)[0] + `"data":[1,2]}`), 400},
		{"family id with NATS wildcard", "dev-bif", "application/cloudevents+json", with(`"subject":"F900"`, `"subject":"F9.>"`), 422},
		{"family id with star", "dev-bif", "application/cloudevents+json", with(`"subject":"F900"`, `"subject":"*"`), 422},
		{"family id with dot", "dev-bif", "application/cloudevents+json", with(`"subject":"F900"`, `"subject":"F9.00"`), 422},
		{"family id with space", "dev-bif", "application/cloudevents+json", with(`"subject":"F900"`, `"subject":"F9 00"`), 422},
		{"CPR-like family id", "dev-bif", "application/cloudevents+json", with(`"subject":"F900"`, `"subject":"0101901234"`), 422},
		{"CPR-like person id with dash", "dev-bif", "application/cloudevents+json", with(`"personId":"P1"`, `"personId":"010190-1234"`), 422},
		{"id with NATS wildcard in data", "dev-bif", "application/cloudevents+json", with(`"praktikId":"PR1"`, `"praktikId":"PR.>"`), 422},
		{"event id with space", "dev-bif", "application/cloudevents+json", with(`"id":"`, `"id":"a b`), 422},
		{"time far in the future", "dev-bif", "application/cloudevents+json", timeTo(t, valid, future), 422},
		{"time far in the past", "dev-bif", "application/cloudevents+json", timeTo(t, valid, "1850-01-01T00:00:00Z"), 422},
		{"time not RFC 3339", "dev-bif", "application/cloudevents+json", timeTo(t, valid, "01/02/2024"), 400},
		{"batch of 501", "dev-bif", "application/cloudevents-batch+json", batchOf(many...), 400},
		{"empty batch", "dev-bif", "application/cloudevents-batch+json", []byte("[]"), 400},
		{"missing token", "", "application/cloudevents+json", []byte(valid), 401},
		{"forged token", "dev-bif-forged", "application/cloudevents+json", []byte(valid), 401},
		{"another department's token", "dev-sof", "application/cloudevents+json", []byte(valid), 403},
		{"auditor token writes", "dev-auditor", "application/cloudevents+json", []byte(valid), 403},
		{"source of another department", "dev-bif", "application/cloudevents+json", with(`"source":"/departments/bif"`, `"source":"/departments/sof"`), 403},
		{"no content type", "dev-bif", "", []byte(valid), 415},
		{"form content type", "dev-bif", "application/x-www-form-urlencoded", []byte(valid), 415},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post("bif", tc.token, tc.ctype, tc.body, nil)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %.300s", r.Status, tc.status, r.Raw)
			}
			if r.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("not problem details: %q", r.Header.Get("Content-Type"))
			}
		})
	}
	if n := h.lastSeq(); n != 0 {
		t.Fatalf("hostile requests stored %d events", n)
	}
}

func timeTo(t *testing.T, valid, to string) []byte {
	t.Helper()
	i := strings.Index(valid, `"time":"`)
	if i < 0 {
		t.Fatal("corpus: no time")
	}
	j := strings.Index(valid[i+8:], `"`)
	return []byte(valid[:i+8] + to + valid[i+8+j:])
}

// TestSlowlorisIsCutOff: a client that sends its headers slowly must not
// hold a connection open; the server's header timeout closes it.
func TestSlowlorisIsCutOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.sa.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "POST /departments/bif/v1/events HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// Trickle a header byte now and then, never finishing the headers.
	done := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(conn).ReadByte()
		done <- err
	}()
	closedBy := time.Now().Add(20 * time.Second)
	for time.Now().Before(closedBy) {
		select {
		case <-done:
			// The server answered (408) or closed: either way it let go.
			// Meanwhile other clients were served.
			if r := h.post("bif", "dev-bif", "application/cloudevents+json", ev(t, events.BIF, "F902", praktik("PR1")), nil); r.Status != 201 {
				t.Fatalf("a normal request after the slow one: %d %s", r.Status, r.Raw)
			}
			return
		case <-time.After(500 * time.Millisecond):
			_, _ = conn.Write([]byte("X"))
		}
	}
	t.Fatal("the server kept a slowloris connection open for 20 s")
}
