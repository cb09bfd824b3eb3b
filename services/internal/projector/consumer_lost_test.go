package projector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestReplicaThatCannotConsumeIsNotReady: a read replica whose durable
// consumer NATS does not let it use (its instance is missing from the
// projector user's permissions) loads a large backlog through an
// ordered consumer, which it may use, and then cannot follow the stream.
// It must not stay ready, serving a read model that no longer moves.
func TestReplicaThatCannotConsumeIsNotReady(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	st := n.Open(t)
	first := publish(t, st, 0, 30)
	authn, err := auth.Load("")
	if err != nil {
		t.Fatal(err)
	}
	p, err := projector.New(context.Background(), projector.Options{DataDir: t.TempDir(), Instance: "unlisted",
		NC: st.NC, JS: st.JS, Auth: authn, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	projector.SetBulkThreshold(p, 10)
	p.Start(context.Background())
	waitPosition(t, p, first)
	last := publish(t, st, 30, 5)
	ctx := context.Background()
	checkFor(t, time.Minute, func() error {
		if err := p.Ready(ctx); err == nil {
			return fmt.Errorf("ready at %d with the stream at %d and no consumer it may use", p.Position(), last)
		}
		return nil
	})
	t.Logf("not ready: %v", p.Ready(ctx))
}
