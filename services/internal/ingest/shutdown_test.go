package ingest_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/ingest"
)

// TestGracefulStopLetsAWriteInFlightFinish: a write in flight when the
// process is told to stop (its context ends, as on SIGTERM) is stored and
// answered 201 while the HTTP server drains: the index it needs stays open
// until the services stop, after the drain.
func TestGracefulStopLetsAWriteInFlightFinish(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const fam = "F-STOP-IN-FLIGHT"
	idx := h.sa.Ingest.Writer.Index
	// Hold the family as a concurrent write would, so that the request is
	// in flight, past its id lookup and waiting for the family, when the
	// stop begins.
	l, err := idx.Lock([]string{fam})
	if err != nil {
		t.Fatal(err)
	}
	body := ev(t, events.SOF, fam, &events.FamilyReferred{Reason: "r"})
	type answer struct {
		status int
		raw    string
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("POST", h.sa.URL()+"/departments/sof/v1/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer dev-sof")
		req.Header.Set("Content-Type", "application/cloudevents+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		answered <- answer{status: resp.StatusCode, raw: string(raw)}
	}()
	checkFor(t, 10*time.Second, func() error {
		if n := ingest.Holders(idx, fam); n < 2 {
			return fmt.Errorf("the request does not wait for the family yet (%d holders)", n)
		}
		return nil
	})
	stopped := make(chan error, 1)
	go func() { stopped <- h.sa.Stop() }()
	// The drain has begun once the listener no longer accepts.
	checkFor(t, 10*time.Second, func() error {
		c, err := net.Dial("tcp", h.sa.HTTP.Addr())
		if err == nil {
			c.Close()
			return errors.New("the listener still accepts")
		}
		return nil
	})
	// Give whatever follows the process's context time to stop.
	time.Sleep(300 * time.Millisecond)
	l.Unlock()
	select {
	case a := <-answered:
		if a.err != nil || a.status != http.StatusCreated {
			t.Fatalf("write in flight during the stop: status %d, err %v, body %s; want 201", a.status, a.err, a.raw)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the write in flight was not answered")
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// TestWriteAfterTheIndexClosedIsUnavailable: once ingest has stopped and
// its index's store is closed, a write is answered 503 (retry), not
// dropped by a panic.
func TestWriteAfterTheIndexClosedIsUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.sa.Ingest.Stop()
	before := h.lastSeq()
	r := h.post("sof", "dev-sof", "application/cloudevents+json", ev(t, events.SOF, "F-AFTER-STOP", &events.FamilyReferred{Reason: "r"}), nil)
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("write after the index closed: %d %s; want 503", r.Status, r.Raw)
	}
	if h.lastSeq() != before {
		t.Error("a write refused as unavailable was stored")
	}
}

// TestIndexCloseWaitsForHeldFamilies: Close waits until the families a
// write holds are unlocked, so that the write can store its ids; after it,
// the index answers ErrClosed.
func TestIndexCloseWaitsForHeldFamilies(t *testing.T) {
	t.Parallel()
	x := ingest.NewIndex(quietLog())
	l, err := x.Lock([]string{"F1"})
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- x.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned while a write held a family: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	var hash [32]byte
	l.Stored("F1", "held-1", 1, hash)
	l.Unlock()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := x.StoredAll([]string{"held-1"}, [][32]byte{hash}); !errors.Is(err, ingest.ErrClosed) {
		t.Errorf("StoredAll after Close: %v, want ErrClosed", err)
	}
	if _, err := x.Lock([]string{"F1"}); !errors.Is(err, ingest.ErrClosed) {
		t.Errorf("Lock after Close: %v, want ErrClosed", err)
	}
	if err := x.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}
