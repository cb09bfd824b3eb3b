package eventstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestKeyBucketIsWriteOnce holds the server to what keeps a family's data
// key from being replaced by a user that may create keys (ingest): a
// second message on a key's subject is refused, whatever form it takes,
// while erasure (a secure delete, then the purge marker) still works and
// leaves an erased family without room for a new key.
func TestKeyBucketIsWriteOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := testenv.OpenStore(t, nil)
	kv, err := st.JS.KeyValue(ctx, eventstore.KeyBucket)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Create(ctx, "F1.0", []byte("v1:first"))
	if err != nil {
		t.Fatal(err)
	}
	subject := "$KV." + eventstore.KeyBucket + ".F1.0"
	refused := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s of an existing key was stored", what)
			return
		}
		// 10077: maximum messages per subject exceeded; 10111: rollup
		// not permitted.
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || (apiErr.ErrorCode != 10077 && apiErr.ErrorCode != 10111) {
			t.Errorf("%s: refused with %v, want the server's per-subject limit or its refusal of rollups", what, err)
		}
	}
	_, err = kv.Put(ctx, "F1.0", []byte("v1:second"))
	refused("a put", err)
	_, err = kv.Update(ctx, "F1.0", []byte("v1:second"), rev)
	refused("an update at the key's revision", err)
	refused("a delete marker", kv.Delete(ctx, "F1.0"))
	refused("a purge marker", kv.Purge(ctx, "F1.0"))
	_, err = st.JS.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: []byte("v1:rollup"),
		Header: nats.Header{"Nats-Rollup": []string{"sub"}}})
	refused("a rollup", err)
	_, err = st.JS.Publish(ctx, subject, []byte("v1:plain"))
	refused("a plain publish", err)
	if e, err := kv.Get(ctx, "F1.0"); err != nil || string(e.Value()) != "v1:first" || e.Revision() != rev {
		t.Fatalf("the key after the refused writes: %v, %v", e, err)
	}

	// Erasure: the message deleted, then a delete marker in its place.
	ks, err := st.JS.Stream(ctx, eventstore.KeyStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.SecureDeleteMsg(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "F1.0"); err != nil {
		t.Fatalf("the delete marker after the secure delete: %v", err)
	}
	if _, err := kv.Get(ctx, "F1.0"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("an erased key reads %v, want not found", err)
	}
	_, err = kv.Create(ctx, "F1.0", []byte("v1:again"))
	refused("a new key for an erased family", err)
}

// TestKeyBucketOfAnOlderReleaseIsUpdated: a bucket made as before keys
// were written once (rollups allowed, the oldest message discarded) is
// updated in place by the setup step, keeping its keys.
func TestKeyBucketOfAnOlderReleaseIsUpdated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, admin := openDamageable(t)
	old := eventstore.KeyStreamConfig(eventstore.StreamOptions{})
	old.DiscardNewPerSubject, old.AllowRollup = false, true
	if _, err := admin.UpdateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	kv, err := st.JS.KeyValue(ctx, eventstore.KeyBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "F1.0", []byte("v1:first")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "F1.0", []byte("v1:replaced")); err != nil {
		t.Fatalf("the older bucket refused a second write: %v", err)
	}
	if err := eventstore.EnsureStreams(ctx, admin, eventstore.StreamOptions{}); err != nil {
		t.Fatalf("updating the older bucket: %v", err)
	}
	s, err := st.JS.Stream(ctx, eventstore.KeyStream)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := s.CachedInfo().Config; !cfg.DiscardNewPerSubject || cfg.AllowRollup {
		t.Fatalf("after the update: DiscardNewPerSubject %v, AllowRollup %v", cfg.DiscardNewPerSubject, cfg.AllowRollup)
	}
	if e, err := kv.Get(ctx, "F1.0"); err != nil || string(e.Value()) != "v1:replaced" {
		t.Fatalf("the key after the update: %v", err)
	}
	if _, err := kv.Put(ctx, "F1.0", []byte("v1:third")); err == nil {
		t.Fatal("the updated bucket took a second write")
	}
}

// TestSetupKeepsAnInterruptedRotation: a master key rotation interrupted
// leaves the bucket's write-once rule lifted and a key with two messages,
// the one wrapped by the retired master key first. The setup (every
// embedded start, and setup-streams) keeps the rule lifted: setting it
// would make the server drop the earlier message with its bytes left on
// disk, where the rotation's rerun could no longer overwrite them. A
// bucket in any other state gets the rule.
func TestSetupKeepsAnInterruptedRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	id := testenv.AdminKey()
	st := testenv.OpenStore(t, &id)
	_, admin := testenv.AdminJS(t, "", st.Server)
	kv, err := st.JS.KeyValue(ctx, eventstore.KeyBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "F1.0", []byte("v1:old-master")); err != nil {
		t.Fatal(err)
	}
	lifted := func(c *jetstream.StreamConfig) {
		c.MaxMsgsPerSubject, c.DiscardNewPerSubject = eventstore.RotationKeysPerSubject, false
	}
	testenv.UpdateStream(t, admin, eventstore.KeyStream, lifted)
	if _, err := kv.Put(ctx, "F1.0", []byte("v1:new-master")); err != nil {
		t.Fatal(err)
	}
	held := func() (uint64, jetstream.StreamConfig) {
		t.Helper()
		s, err := admin.Stream(ctx, eventstore.KeyStream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter("$KV."+eventstore.KeyBucket+".F1.0"))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects["$KV."+eventstore.KeyBucket+".F1.0"], info.Config
	}
	if err := eventstore.EnsureStreams(ctx, admin, eventstore.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, cfg := held(); n != 2 || cfg.MaxMsgsPerSubject != eventstore.RotationKeysPerSubject || cfg.DiscardNewPerSubject {
		t.Fatalf("after the setup, the key holds %d messages (MaxMsgsPerSubject %d, DiscardNewPerSubject %v); want the rotation's 2, left for its rerun",
			n, cfg.MaxMsgsPerSubject, cfg.DiscardNewPerSubject)
	}

	// Any other per-subject setting is the setup's to put right.
	testenv.UpdateStream(t, admin, eventstore.KeyStream, func(c *jetstream.StreamConfig) { c.MaxMsgsPerSubject = 5 })
	if err := eventstore.EnsureStreams(ctx, admin, eventstore.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, cfg := held(); cfg.MaxMsgsPerSubject != 1 || !cfg.DiscardNewPerSubject {
		t.Fatalf("after the setup: MaxMsgsPerSubject %d, DiscardNewPerSubject %v; want the write-once rule", cfg.MaxMsgsPerSubject, cfg.DiscardNewPerSubject)
	}
}
