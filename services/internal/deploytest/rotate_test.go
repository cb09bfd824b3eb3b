package deploytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// TestRotateMasterKeyAsAdmin: deploy/README.md rotates the master key
// with `standalone rotate-master-key` as the admin user. On the cluster
// of deploy/nats, after the setup step, with data keys an ingest user
// made, the rotation rewraps every key, overwrites each key's message
// wrapped by the old master key (a secure message delete on KV_JF_KEYS),
// and sets the bucket's write-once rule again; the new key opens the
// family's personal text, the old one no longer does.
func TestRotateMasterKeyAsAdmin(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ctx := context.Background()
	if err := standalone.SetupStreams(ctx, serviceConfig(t, c, "admin"), io.Discard); err != nil {
		t.Fatal(err)
	}
	old, err := shred.LoadMasterKeyFile(c.masterKeyFile)
	if err != nil {
		t.Fatal(err)
	}

	// The families' keys, made as ingest makes them, by the sof user.
	const marker = "MARKER-deploy-rotation"
	sof := shred.New(c.jetStreamAs(t, "sof"), old)
	fams := []string{"FROT1", "FROT2"}
	type sealedEvent struct {
		subject string
		raw     []byte
	}
	sealed := map[string]sealedEvent{}
	for i, fam := range fams {
		data := &events.FamilyReferred{Reason: marker}
		ev, err := events.Build(events.SOF, fam, data, events.WithID(fmt.Sprintf("deploytest-rotate-%d", i)),
			events.WithTime(time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)))
		if err != nil {
			t.Fatal(err)
		}
		events.StampSchema(&ev)
		b, err := events.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		subject := events.Subject(fam, events.SOF, data.EventName())
		env, err := events.DecodeStored(subject, b, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := sof.Seal(ctx, env, b)
		if err != nil {
			t.Fatalf("sof sealing %s: %v", fam, err)
		}
		if bytes.Contains(raw, []byte(marker)) {
			t.Fatalf("%s's reason was not encrypted", fam)
		}
		sealed[fam] = sealedEvent{subject, raw}
	}

	admin := c.jetStreamAs(t, "admin")
	kv, err := admin.KeyValue(ctx, eventstore.KeyBucket)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := admin.Stream(ctx, eventstore.KeyStream)
	if err != nil {
		t.Fatal(err)
	}
	// Each key's message wrapped by the old master key.
	oldSeq := map[string]uint64{}
	for _, fam := range fams {
		checkFor(t, 5*time.Second, func() error {
			e, err := kv.Get(ctx, shred.KeyID(fam))
			if err != nil {
				return fmt.Errorf("the data key of %s: %w", fam, err)
			}
			oldSeq[fam] = e.Revision()
			return nil
		})
	}

	text, err := shred.NewMasterKeyText()
	if err != nil {
		t.Fatal(err)
	}
	newKeyFile := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(newKeyFile, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	next, err := shred.ParseMasterKey(text)
	if err != nil {
		t.Fatal(err)
	}
	cfg := serviceConfig(t, c, "admin")
	cfg.MasterKeyFile = newKeyFile
	n, err := standalone.RotateMasterKey(ctx, cfg, c.masterKeyFile)
	if err != nil || n != len(fams) {
		t.Fatalf("rotate-master-key as admin: %d keys rewrapped, %v; want %d", n, err, len(fams))
	}

	// The old-key copies are gone from the stream, each key's subject
	// holds its successor alone, and the keys are written once again.
	for _, fam := range fams {
		checkFor(t, 5*time.Second, func() error {
			if m, err := ks.GetMsg(ctx, oldSeq[fam]); !errors.Is(err, jetstream.ErrMsgNotFound) {
				return fmt.Errorf("the old-key copy of %s (sequence %d) after the rotation: %v, %v", fam, oldSeq[fam], m, err)
			}
			return nil
		})
		subject := "$KV." + eventstore.KeyBucket + "." + shred.KeyID(fam)
		if held := subjectMsgs(t, admin, eventstore.KeyStream, subject); held != 1 {
			t.Errorf("%s holds %d messages, want the rewrapped key alone", subject, held)
		}
	}
	info, err := ks.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Config.DiscardNewPerSubject || info.Config.MaxMsgsPerSubject != 1 {
		t.Errorf("after the rotation %s: discard new per subject %v, %d messages per subject",
			eventstore.KeyStream, info.Config.DiscardNewPerSubject, info.Config.MaxMsgsPerSubject)
	}

	// The projector's user reads with the new key, and not with the old.
	pjs := c.jetStreamAs(t, "projector")
	for _, fam := range fams {
		ev := sealed[fam]
		checkFor(t, 5*time.Second, func() error {
			env, err := shred.New(pjs, next).Decode(ctx, ev.subject, ev.raw, time.Now())
			if err != nil {
				return fmt.Errorf("%s with the new key: %w", fam, err)
			}
			if got := env.Data.(*events.FamilyReferred).Reason; got != marker {
				return fmt.Errorf("%s with the new key reads %q", fam, got)
			}
			return nil
		})
		retired := shred.New(pjs, old)
		retired.Wait = 0
		if _, err := retired.Decode(ctx, ev.subject, ev.raw, time.Now()); err == nil {
			t.Errorf("the old master key still opens %s's key", fam)
		}
	}
}
