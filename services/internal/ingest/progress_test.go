package ingest

import (
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	p := newProgress(1000, 11000, true)
	if _, ok := p.at(1500); ok {
		t.Fatal("progress reported before five seconds passed")
	}
	p.start = time.Now().Add(-10 * time.Second)
	p.next = time.Now().Add(-time.Millisecond)
	s, ok := p.at(6000)
	if !ok {
		t.Fatal("no progress after five seconds")
	}
	// A rebuild resumed at 1000 counts the whole stream's events, at
	// the rate of this run's.
	for _, want := range []string{"rebuilding", "6000 of 11000 events read", "(500/s", "about 10s left"} {
		if !strings.Contains(s, want) {
			t.Errorf("progress %q lacks %q", s, want)
		}
	}
	if s, _ := p.at(7000); s != "" {
		t.Errorf("progress again at once: %q", s)
	}
	tail := newProgress(0, 10, false)
	tail.next = time.Now().Add(-time.Millisecond)
	if s, _ := tail.at(5); !strings.HasPrefix(s, "catching up") {
		t.Errorf("tail progress %q", s)
	}
}

func TestProgressBeforeAnyRate(t *testing.T) {
	if s := newProgress(0, 10, true).line(0, 0); s != "rebuilding the index from the event store: 0 of 10 events read" {
		t.Fatalf("first line %q", s)
	}
}
