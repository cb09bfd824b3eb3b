package projector_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestInstanceOnEmbeddedServer: a standalone started with -instance a
// reads through the durable consumer projector-a, which its embedded
// server lets the service key create, and keeps its read model in
// <data>/projector-a; the single projector's consumer and directory are
// not made.
func TestInstanceOnEmbeddedServer(t *testing.T) {
	t.Parallel()
	ts := testenv.StartSystem(t, func(c *config.Config) { c.Instance = "a" })
	s := &system{System: ts, js: ts.SA.Store.JS}
	const fam = "FAM-INST"
	s.enrol(fam, "E1001")
	last := s.post(events.BIF, fam, &events.EducationStarted{PersonID: "P1", Programme: "hf"})
	if p := s.timeline(fam, "", "dev-coordinator", minPos(last)); len(p.Entries) != 3 {
		t.Fatalf("timeline holds %d entries after X-Min-Position %d, want 3", len(p.Entries), last)
	}
	ctx := context.Background()
	c, err := s.js.Consumer(ctx, eventstore.FamilyStream, "projector-a")
	if err != nil {
		t.Fatalf("consumer projector-a: %v", err)
	}
	if got := c.CachedInfo().Config.Durable; got != "projector-a" {
		t.Errorf("durable %q", got)
	}
	// The single projector's consumer is not this server's projector's:
	// the service key may not even look at it.
	refused, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := s.js.Consumer(refused, eventstore.FamilyStream, projector.ConsumerName); err == nil {
		t.Errorf("consumer %q readable by the service key of instance a", projector.ConsumerName)
	}
	dir := ts.SA.Config.DataDir
	if m, _ := filepath.Glob(filepath.Join(dir, "projector-a", "readmodel-*.db")); len(m) != 1 {
		t.Errorf("read models in projector-a: %v, want one", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "projector")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("<data>/projector exists (%v): an instance must keep to its own directory", err)
	}
}
