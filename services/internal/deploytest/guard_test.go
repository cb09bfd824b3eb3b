package deploytest

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/standalone"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// guardedCluster is the deploy cluster after the setup step, with a few
// events, a guard configured as the sof service's (three replicas) that
// passes, the sof user's JetStream and the admin's.
func guardedCluster(t *testing.T) (sof jetstream.JetStream, g *eventstore.Guard, admin jetstream.JetStream) {
	t.Helper()
	c := startCluster(t)
	ctx := context.Background()
	if err := standalone.SetupStreams(ctx, serviceConfig(t, c, "admin"), io.Discard); err != nil {
		t.Fatal(err)
	}
	nc, _ := c.connect(t, "sof")
	sof, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for range 3 {
		ack, err := sof.Publish(ctx, events.Subject("FGUARD", events.SOF, "meeting.held"),
			rawEvent(t, events.SOF, "FGUARD", &events.MeetingHeld{Kind: "network"}))
		if err != nil {
			t.Fatal(err)
		}
		last = ack.Sequence
	}
	g, err = eventstore.NewGuard(serviceConfig(t, c, "sof").GuardOptions("sof", testenv.QuietLog()))
	if err != nil {
		t.Fatal(err)
	}
	g.Seen(eventstore.FamilyStream, "sof index", func() uint64 { return last })
	if err := g.Check(ctx, sof); err != nil {
		t.Fatalf("intact store: %v", err)
	}
	anc, _ := c.connect(t, "admin")
	if admin, err = jetstream.New(anc); err != nil {
		t.Fatal(err)
	}
	return sof, g, admin
}

// The deploy admin may update the streams, though not publish events. An
// update adding a subject of its own with a transform into the families'
// subjects stores what it publishes there as a SOF event: the NATS
// permissions do not stop that, so the guard must notice it.
func TestGuardFindsAdminTransformIntoFamilies(t *testing.T) {
	t.Parallel()
	sof, g, admin := guardedCluster(t)
	ctx := context.Background()
	update := func(change func(*jetstream.StreamConfig)) {
		st, err := admin.Stream(ctx, eventstore.FamilyStream)
		if err != nil {
			t.Fatal(err)
		}
		cfg := st.CachedInfo().Config
		change(&cfg)
		if _, err := admin.UpdateStream(ctx, cfg); err != nil {
			t.Fatalf("admin update: %v", err)
		}
	}
	update(func(cfg *jetstream.StreamConfig) {
		cfg.Subjects = append(cfg.Subjects, "adm.>")
		cfg.SubjectTransform = &jetstream.SubjectTransformConfig{Source: "adm.*.*.*.*",
			Destination: "families.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}.{{wildcard(4)}}"}
	})
	ack, err := admin.Publish(ctx, "adm.FGUARD.sof.caseworker.assigned",
		rawEvent(t, events.SOF, "FGUARD", &events.CaseworkerAssigned{EmployeeID: "E9999"}))
	t.Logf("the admin's publish through the transform: %+v, %v", ack, err)
	err = g.Check(ctx, sof)
	for _, want := range []string{`FAMILY_EVENTS subjects are ["families.>" "adm.>"], not ["families.>"]`, "FAMILY_EVENTS has a subject transform"} {
		if !errors.Is(err, eventstore.ErrIntegrity) || !strings.Contains(err.Error(), want) {
			t.Errorf("guard: %v, want ErrIntegrity with %q", err, want)
		}
	}
}

// RELIABILITY.md: a cluster at R3 survives the loss of any one machine.
// The admin lowering both streams to one replica is noticed.
func TestGuardFindsReplicasLowered(t *testing.T) {
	t.Parallel()
	sof, g, admin := guardedCluster(t)
	ctx := context.Background()
	for _, name := range []string{eventstore.FamilyStream, eventstore.AccessLogStream} {
		st, err := admin.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := st.CachedInfo().Config
		cfg.Replicas = 1
		if _, err := admin.UpdateStream(ctx, cfg); err != nil {
			t.Fatalf("admin update %s: %v", name, err)
		}
	}
	err := g.Check(ctx, sof)
	for _, want := range []string{"FAMILY_EVENTS is at R1, not the configured R3", "ACCESS_LOG is at R1, not the configured R3"} {
		if !errors.Is(err, eventstore.ErrIntegrity) || !strings.Contains(err.Error(), want) {
			t.Errorf("guard: %v, want ErrIntegrity with %q", err, want)
		}
	}
}
