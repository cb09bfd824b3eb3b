package eventstore_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/eventstore"
)

func openStore(t *testing.T) *eventstore.Store {
	t.Helper()
	s, err := eventstore.Open(context.Background(), eventstore.OpenOptions{
		Embedded: eventstore.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "off"},
		Name:     "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStreamsAreImmutableAndEnsuredIdempotently(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	// A second service starting against the same store changes nothing.
	if err := eventstore.EnsureStreams(ctx, s.JS, eventstore.StreamOptions{}); err != nil {
		t.Fatalf("second ensure: %v", err)
	}
	for _, name := range []string{eventstore.FamilyStream, eventstore.AccessLogStream} {
		st, err := s.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := st.CachedInfo().Config
		if !cfg.DenyDelete || !cfg.DenyPurge || cfg.Storage != jetstream.FileStorage {
			t.Fatalf("%s: deny delete %v, deny purge %v, storage %v", name, cfg.DenyDelete, cfg.DenyPurge, cfg.Storage)
		}
	}
	fam, _ := s.JS.Stream(ctx, eventstore.FamilyStream)
	cfg := fam.CachedInfo().Config
	if !cfg.AllowAtomicPublish || cfg.Duplicates != eventstore.DefaultDedupeWindow {
		t.Fatalf("atomic %v, dedupe window %s", cfg.AllowAtomicPublish, cfg.Duplicates)
	}
	ack, err := s.JS.Publish(ctx, "families.F1.sof.family.referred", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := fam.DeleteMsg(ctx, ack.Sequence); err == nil {
		t.Fatal("a stored event could be deleted")
	}
	if err := fam.Purge(ctx); err == nil {
		t.Fatal("the stream could be purged")
	}
	if err := s.JS.DeleteStream(ctx, eventstore.FamilyStream); err != nil {
		// Deleting the whole stream is an operator action guarded by NATS
		// permissions in deployment (deploy/nats), not by the stream.
		t.Logf("delete stream: %v", err)
	}
}

func TestPublishBatchIsAtomicAndChecksExpectations(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	pub, err := eventstore.NewPublisher(s.NC)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msg := func(fam, id string, expect bool, seq uint64) eventstore.Message {
		return eventstore.Message{Subject: "families." + fam + ".bif.x", Data: []byte(`{}`), MsgID: id,
			Expect: expect, ExpectFilter: "families." + fam + ".>", ExpectSeq: seq}
	}
	last, err := pub.PublishBatch(ctx, []eventstore.Message{msg("A", "1", true, 0), msg("A", "2", false, 0), msg("B", "3", true, 0)})
	if err != nil || last != 3 {
		t.Fatalf("batch: last %d, %v", last, err)
	}
	// B's expectation is stale: nothing of this batch may be stored.
	_, err = pub.PublishBatch(ctx, []eventstore.Message{msg("C", "4", true, 0), msg("B", "5", true, 0)})
	if err == nil {
		t.Fatal("a batch with a stale expectation was stored")
	}
	st, _ := s.JS.Stream(ctx, eventstore.FamilyStream)
	info, _ := st.Info(ctx)
	if info.State.Msgs != 3 {
		t.Fatalf("stream holds %d messages, want 3", info.State.Msgs)
	}
	if _, err := pub.Publish(ctx, msg("A", "6", true, 1)); err == nil {
		t.Fatal("single publish with a stale expectation succeeded")
	}
	if ack, err := pub.Publish(ctx, msg("A", "6", true, 2)); err != nil || ack.Sequence != 4 {
		t.Fatalf("single publish: %+v %v", ack, err)
	}
}

func TestParseDurability(t *testing.T) {
	t.Parallel()
	tests := map[string]eventstore.Durability{
		"":         {},
		"interval": {},
		"always":   {SyncAlways: true},
		"10s":      {SyncInterval: 10 * time.Second},
	}
	for in, want := range tests {
		got, err := eventstore.ParseDurability(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"sometimes", "-1s", "0s"} {
		if _, err := eventstore.ParseDurability(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestUnwritableStoreDirIsReportedAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := dir + "/not-a-dir"
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: file + "/nats", Listen: "off"})
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("err %v, want one that names the cause", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %s to report", time.Since(start))
	}
}
