package projector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/projector"
)

// TestSecondProcessOnOneConsumerRefused: a projector whose read model
// directory another holds refuses at New; one on a directory of its own
// but on the same consumer refuses at Claim, while the first keeps its
// claim and stays ready.
func TestSecondProcessOnOneConsumerRefused(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	first := newProjectorStopped(t, st, dir)
	defer first.Close()
	if err := first.Claim(ctx); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	first.Start(ctx)
	checkFor(t, 10*time.Second, func() error { return first.Ready(ctx) })

	authn, err := auth.Load("")
	if err != nil {
		t.Fatal(err)
	}
	o := projector.Options{DataDir: dir, NC: st.NC, JS: st.JS, Auth: authn, Log: quietLog()}
	if p, err := projector.New(ctx, o); err == nil {
		p.Close()
		t.Fatal("a second projector opened the directory the first holds")
	} else if !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("the second projector on one directory: %v", err)
	}

	o.DataDir = t.TempDir()
	second, err := projector.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := second.Claim(ctx); !errors.Is(err, projector.ErrInstanceTaken) {
		t.Fatalf("the second projector on one consumer claimed it: %v", err)
	}
	if err := first.Ready(ctx); err != nil {
		t.Errorf("the first projector after the second's refusal: %v", err)
	}
}

// TestRunningProjectorGivesWayToEarlierClaim: two running processes on one
// consumer (they missed each other at start): the one whose claim is the
// later stops consuming and reports not ready; reads of family data answer
// 503.
func TestRunningProjectorGivesWayToEarlierClaim(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	p := newProjectorStopped(t, st, t.TempDir())
	defer p.Close()
	if err := p.Claim(ctx); err != nil {
		t.Fatal(err)
	}
	p.Start(ctx)
	checkFor(t, 10*time.Second, func() error { return p.Ready(ctx) })
	// Another process, running since a minute ago.
	other, _ := json.Marshal(map[string]any{"token": "other", "since": time.Now().Add(-time.Minute).UnixNano(), "starting": false, "host": "elsewhere", "pid": 1})
	if err := st.NC.Publish(eventstore.ProjectorClaimSubject(projector.ConsumerName), other); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		if err := p.Ready(ctx); !errors.Is(err, projector.ErrInstanceTaken) {
			return fmt.Errorf("ready: %v", err)
		}
		return nil
	})
}
