package deploytest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/standalone"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// guardedCluster is the deploy cluster after the setup step, with a few
// events, a guard configured as the sof service's (three replicas) that
// passes, the sof user's JetStream and the admin's.
func guardedCluster(t *testing.T) (c *cluster, sof jetstream.JetStream, g *eventstore.Guard, admin jetstream.JetStream) {
	t.Helper()
	c = startCluster(t)
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
	return c, sof, g, admin
}

// The deploy admin may update the streams, though not publish events. An
// update adding a subject with a transform into the families' subjects
// stores what is published there as a SOF event. admin publishes on an
// allow list, so on a subject of its own (adm.>) it publishes nothing;
// but it must publish on JetStream's own subjects (the API, a backup's
// chunk acknowledgements), which a stream without acknowledgements may
// also capture. The NATS permissions do not stop that, so the guard must
// notice it, whichever subject the transform starts from.
func TestGuardFindsAdminTransformIntoFamilies(t *testing.T) {
	t.Parallel()
	c, sof, g, admin := guardedCluster(t)
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
	forged := events.Subject("FGUARD", events.SOF, "caseworker.assigned")
	nc, errs := c.connect(t, "admin")
	for _, tc := range []struct {
		prefix  string
		noAck   bool
		allowed bool
	}{
		{"adm", false, false},
		{"$JS.SNAPSHOT.ACK.FGUARD", true, true},
	} {
		update(func(cfg *jetstream.StreamConfig) {
			cfg.Subjects = []string{"families.>", tc.prefix + ".>"}
			cfg.NoAck = tc.noAck
			cfg.SubjectTransform = &jetstream.SubjectTransformConfig{Source: tc.prefix + ".*.*.*.*",
				Destination: "families.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}.{{wildcard(4)}}"}
		})
		before := subjectMsgs(t, admin, eventstore.FamilyStream, forged)
		subj := tc.prefix + "." + strings.TrimPrefix(forged, "families.")
		if err := nc.Publish(subj, rawEvent(t, events.SOF, "FGUARD", &events.CaseworkerAssigned{EmployeeID: "E9999"})); err != nil {
			t.Fatal(err)
		}
		if !tc.allowed {
			expectViolation(t, errs, subj)
		}
		time.Sleep(time.Second)
		after := subjectMsgs(t, admin, eventstore.FamilyStream, forged)
		t.Logf("admin publishing %s through the transform: %s went from %d to %d messages", subj, forged, before, after)
		if !tc.allowed && after != before {
			t.Errorf("admin's refused publish on %s stored %d messages on %s", subj, after-before, forged)
		}
		err := g.Check(ctx, sof)
		for _, want := range []string{fmt.Sprintf(`FAMILY_EVENTS subjects are ["families.>" %q], not ["families.>"]`, tc.prefix+".>"), "FAMILY_EVENTS has a subject transform"} {
			if !errors.Is(err, eventstore.ErrIntegrity) || !strings.Contains(err.Error(), want) {
				t.Errorf("guard: %v, want ErrIntegrity with %q", err, want)
			}
		}
	}
}

// RELIABILITY.md: a cluster at R3 survives the loss of any one machine.
// The admin lowering both streams and the data keys' bucket to one
// replica is noticed.
func TestGuardFindsReplicasLowered(t *testing.T) {
	t.Parallel()
	_, sof, g, admin := guardedCluster(t)
	ctx := context.Background()
	for _, name := range []string{eventstore.FamilyStream, eventstore.AccessLogStream, eventstore.KeyStream} {
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
	for _, want := range []string{"FAMILY_EVENTS is at R1, not the configured R3", "ACCESS_LOG is at R1, not the configured R3",
		"KV_JF_KEYS is at R1, not the configured R3"} {
		if !errors.Is(err, eventstore.ErrIntegrity) || !strings.Contains(err.Error(), want) {
			t.Errorf("guard: %v, want ErrIntegrity with %q", err, want)
		}
	}
}

// sealFamily makes fam's data key as ingest does, by sealing an event
// with personal text through keys; the event itself is not stored.
func sealFamily(t *testing.T, keys *shred.Keyring, fam string) {
	t.Helper()
	data := &events.FamilyReferred{Reason: "MARKER-guard-" + fam}
	ev, err := events.Build(events.SOF, fam, data, events.WithID("deploytest-guard-"+fam),
		events.WithTime(time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	events.StampSchema(&ev)
	b, err := events.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	env, err := events.DecodeStored(events.Subject(fam, events.SOF, data.EventName()), b, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Seal(context.Background(), env, b); err != nil {
		t.Fatalf("sealing %s: %v", fam, err)
	}
}

// The deploy admin, which may update KV_JF_KEYS for the master key
// rotation, giving the bucket a MaxAge drops every family's data key, an
// erasure of every family that nothing records; allowing rollups lets a
// user that may write a key's subject replace it. The services' guard
// finds both.
func TestGuardFindsAdminDroppingTheDataKeys(t *testing.T) {
	t.Parallel()
	c, sof, g, admin := guardedCluster(t)
	ctx := context.Background()
	master, err := shred.LoadMasterKeyFile(c.masterKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	sealFamily(t, shred.New(sof, master), "FGUARD")
	if err := g.Check(ctx, sof); err != nil {
		t.Fatalf("with a data key: %v", err)
	}
	st, err := admin.Stream(ctx, eventstore.KeyStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxAge, cfg.Duplicates, cfg.AllowRollup = time.Second, time.Second, true
	if _, err := admin.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("admin update %s: %v", eventstore.KeyStream, err)
	}
	err = g.Check(ctx, sof)
	for _, want := range []string{"KV_JF_KEYS has limits that delete data keys, each an erasure of its family that nothing records: MaxAge=1s",
		"KV_JF_KEYS allows rollups"} {
		if !errors.Is(err, eventstore.ErrIntegrity) || !strings.Contains(err.Error(), want) {
			t.Errorf("guard: %v, want ErrIntegrity with %q", err, want)
		}
	}
}

// A master key rotation lifts the write-once rule of KV_JF_KEYS, and one
// that was killed leaves it lifted until it is run again. Neither the
// services' guard nor the rerun, which opens the store with the
// standalone's guard, takes that for damage: the rerun rewraps every key
// and sets the rule again, and the guard passes throughout.
func TestGuardPassesAnInterruptedRotationAndItsRerun(t *testing.T) {
	t.Parallel()
	c, sof, g, admin := guardedCluster(t)
	ctx := context.Background()
	old, err := shred.LoadMasterKeyFile(c.masterKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	fams := []string{"FGUARD", "FGUARD2"}
	for _, fam := range fams {
		sealFamily(t, shred.New(sof, old), fam)
	}
	// The first run is killed right after it lifted the rule, as the
	// admin (shred.Keyring.Rewrap).
	st, err := admin.Stream(ctx, eventstore.KeyStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.DiscardNewPerSubject, cfg.MaxMsgsPerSubject = false, 2
	if _, err := admin.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := g.Check(ctx, sof); err != nil {
		t.Fatalf("with the write-once rule lifted: %v", err)
	}

	text, err := shred.NewMasterKeyText()
	if err != nil {
		t.Fatal(err)
	}
	newKeyFile := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(newKeyFile, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rcfg := serviceConfig(t, c, "admin")
	rcfg.MasterKeyFile = newKeyFile
	if n, err := standalone.RotateMasterKey(ctx, rcfg, c.masterKeyFile); err != nil || n != len(fams) {
		t.Fatalf("the rerun: %d keys rewrapped, %v; want %d", n, err, len(fams))
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Config.DiscardNewPerSubject || info.Config.MaxMsgsPerSubject != 1 {
		t.Errorf("after the rerun: discard new per subject %v, %d messages per subject", info.Config.DiscardNewPerSubject, info.Config.MaxMsgsPerSubject)
	}
	if err := g.Check(ctx, sof); err != nil {
		t.Fatalf("after the rerun: %v", err)
	}
}
