package deploytest

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// TestBackupCoversEveryStream: deploy/README.md, "Backup and restore",
// names the streams an operator backs up and restores. Whatever the
// setup step makes holds data nothing else can make again: the events,
// the access log, and the families' data keys (KV_JF_KEYS), without which
// no personal field of a restored event can be read (docs/PRIVACY.md: a
// key lost otherwise than by erasure is its family's erasure). The test
// backs up, as admin, exactly the streams the README's backup block names,
// restores the streams its restore block names into a new cluster, and
// finds there every stream of the old one with every message, a family's
// data key included.
func TestBackupCoversEveryStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	doc := read(t, "deploy", "README.md")
	i := strings.Index(doc, "\n## Backup and restore\n")
	if i < 0 {
		t.Fatal("deploy/README.md has no section \"Backup and restore\"")
	}
	sec := doc[i+1:]
	if j := strings.Index(sec, "\n## "); j >= 0 {
		sec = sec[:j]
	}
	names := func(re string) []string {
		var out []string
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(sec, -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	backedUp := names(`(?m)^nats stream backup\s+(\S+)\s`)
	restored := names(`(?m)^nats stream restore\s+\S*/(\S+)\s*$`)

	src := startCluster(t)
	if err := standalone.SetupStreams(ctx, serviceConfig(t, src, "admin"), io.Discard); err != nil {
		t.Fatal(err)
	}
	sjs := src.jetStreamAs(t, "sof")
	if _, err := sjs.Publish(ctx, events.Subject("FBACKUP", events.SOF, "meeting.held"),
		rawEvent(t, events.SOF, "FBACKUP", &events.MeetingHeld{Kind: "network"})); err != nil {
		t.Fatal(err)
	}
	// A family's data key, as ingest writes it at the family's first
	// personal field (the value is the wrapped key; any bytes do here).
	keySubject := "$KV." + eventstore.KeyBucket + ".FBACKUP.1"
	if _, err := sjs.Publish(ctx, keySubject, []byte("wrapped data key")); err != nil {
		t.Fatal(err)
	}

	ajs := src.jetStreamAs(t, "admin")
	var made []string
	for n := range ajs.StreamNames(ctx).Name() {
		made = append(made, n)
	}
	slices.Sort(made)
	if !slices.Equal(backedUp, made) {
		t.Errorf("deploy/README.md backs up %v; the setup step makes %v, each holding what cannot be made again", backedUp, made)
	}
	if !slices.Equal(restored, backedUp) {
		t.Errorf("deploy/README.md restores %v and backs up %v", restored, backedUp)
	}

	admin, errs := src.connect(t, "admin")
	dst := startCluster(t)
	dadmin, derrs := dst.connect(t, "admin")
	want := map[string]uint64{}
	for _, name := range backedUp {
		snap, data := snapshot(t, admin, name)
		want[name] = snap.State.Msgs
		if slices.Contains(restored, name) {
			restore(t, dadmin, server.JSApiStreamRestoreRequest{Config: *snap.Config, State: *snap.State}, data)
		}
	}
	noViolation(t, admin, errs)
	noViolation(t, dadmin, derrs)

	djs := dst.jetStreamAs(t, "admin")
	for _, name := range made {
		if _, err := djs.Stream(ctx, name); err != nil {
			t.Errorf("after the README's restore the new cluster has no %s: %v", name, err)
			continue
		}
		checkFor(t, 20*time.Second, func() error {
			if got := streamMsgs(t, djs, name); got != want[name] {
				return fmt.Errorf("the restored %s holds %d messages, want %d", name, got, want[name])
			}
			return nil
		})
	}
	if _, err := djs.Stream(ctx, eventstore.KeyStream); err == nil {
		kv, err := djs.KeyValue(ctx, eventstore.KeyBucket)
		if err != nil {
			t.Fatal(err)
		}
		if e, err := kv.Get(ctx, "FBACKUP.1"); err != nil || string(e.Value()) != "wrapped data key" {
			t.Errorf("the family's data key after the restore: %v", err)
		}
	}
}
