package shred_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

const marker = "Mærkestreng-7Q2 om familiens forhold"

func stored(t *testing.T, dept events.Department, fam string, data events.Payload, id string) (events.Envelope, []byte) {
	t.Helper()
	ev, err := events.Build(dept, fam, data, events.WithID(id), events.WithTime(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	events.StampSchema(&ev)
	b, err := events.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	env, err := events.DecodeStored(events.Subject(fam, dept, data.EventName()), b, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return env, b
}

func keyring(t *testing.T) (*shred.Keyring, *eventstore.Store) {
	t.Helper()
	st := testenv.OpenStore(t, nil)
	m, err := shred.LoadOrCreateDevMasterKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return shred.New(st.JS, m), st
}

// TestSealDecodeErase follows one family's personal field through the
// key's whole life: sealed at ingest, read back, erased, read as a
// tombstone; and the errors that must never read as erased.
func TestSealDecodeErase(t *testing.T) {
	ctx := context.Background()
	k, st := keyring(t)
	env, b := stored(t, events.BIF, "F-1", &events.FamilyReferred{Reason: marker}, "e1")
	sealed, err := k.Seal(ctx, env, b)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(marker)) || !bytes.HasSuffix(sealed, []byte(`,"jfkeyid":"F-1.0"}`)) || !bytes.Contains(sealed, []byte(shred.Prefix)) {
		t.Fatalf("sealed event: %s", sealed)
	}
	// A reader without keys never takes the event for plaintext.
	var none *shred.Keyring
	if _, _, err := none.Plain(ctx, env.Subject(), sealed); !errors.Is(err, shred.ErrNoKeys) {
		t.Fatalf("plain without keys: %v", err)
	}
	if _, err := none.Decode(ctx, env.Subject(), sealed, time.Now()); !errors.Is(err, shred.ErrNoKeys) {
		t.Fatalf("decode without keys: %v", err)
	}
	subj := env.Subject()
	got, err := k.Decode(ctx, subj, sealed, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Data.(*events.FamilyReferred).Reason; r != marker {
		t.Fatalf("decrypted reason %q", r)
	}
	// Another keyring, as another process, reads it from the bucket.
	m2 := shred.New(st.JS, mustMaster(t, k))
	if got, err := m2.Decode(ctx, subj, sealed, time.Now()); err != nil || got.Data.(*events.FamilyReferred).Reason != marker {
		t.Fatalf("second keyring: %v", err)
	}

	// A key id the bucket never held is an error, never "erased".
	env2, b2 := stored(t, events.BIF, "F-2", &events.FamilyReferred{Reason: marker}, "e2")
	sealed2, err := k.Seal(ctx, env2, b2)
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.ReplaceAll(sealed, []byte("F-1"), []byte("F-9"))
	if _, err := shred.New(st.JS, mustMaster(t, k)).Decode(ctx, events.Subject("F-9", events.BIF, "family.referred"), forged, time.Now()); !errors.Is(err, shred.ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	// A personal field in the clear (a direct publish) is refused.
	if _, err := k.Decode(ctx, subj, b, time.Now()); !errors.Is(err, shred.ErrPlaintext) {
		t.Fatalf("plaintext: %v", err)
	}

	// Destroying the key without family.erased on the stream makes the
	// events unreadable, not erased.
	if err := k.Destroy(ctx, "F-2"); err != nil {
		t.Fatal(err)
	}
	fresh := shred.New(st.JS, mustMaster(t, k))
	if _, err := fresh.Decode(ctx, env2.Subject(), sealed2, time.Now()); !errors.Is(err, shred.ErrUnknownKey) {
		t.Fatalf("destroyed key without family.erased: %v", err)
	}

	// Erasure: family.erased first, then the key.
	erased, err := events.Build(events.Service, "F-1", &events.FamilyErased{Reason: "Art. 17"}, events.WithID("erase-F-1"))
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := events.Marshal(erased)
	if _, err := st.JS.Publish(ctx, shred.ErasedSubject("F-1"), eb); err != nil {
		t.Fatal(err)
	}
	if err := k.Destroy(ctx, "F-1"); err != nil {
		t.Fatal(err)
	}
	if err := k.Destroy(ctx, "F-1"); err != nil {
		t.Fatalf("destroying again: %v", err)
	}
	if ok, err := k.KeyExists(ctx, "F-1"); ok || err != nil {
		t.Fatalf("key exists after destroy: %v %v", ok, err)
	}
	for _, r := range []*shred.Keyring{k, shred.New(st.JS, mustMaster(t, k))} {
		got, err := r.Decode(ctx, subj, sealed, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if reason := got.Data.(*events.FamilyReferred).Reason; reason != shred.Tombstone {
			t.Fatalf("erased reason %q", reason)
		}
		if f := shred.ErasedFields(got.Spec.Type(), got.Event.Data()); len(f) != 1 || f[0] != "reason" {
			t.Fatalf("erased fields %v", f)
		}
	}
	// Nothing more is written about an erased family.
	if _, err := k.Seal(ctx, env, b); !errors.Is(err, shred.ErrErased) {
		t.Fatalf("seal after erasure: %v", err)
	}
	// The bucket's history holds no message of the key.
	ks, err := st.JS.Stream(ctx, eventstore.KeyStream)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := ks.GetLastMsgForSubject(ctx, "$KV.JF_KEYS.F-1.0"); err == nil && len(m.Data) > 0 {
		t.Fatalf("key message left: %q", m.Data)
	} else if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatal(err)
	}
}

// TestRewrap rotates the master key: every data key opens with the new
// one only, and the events still read.
func TestRewrap(t *testing.T) {
	ctx := context.Background()
	adminKey := testenv.AdminKey()
	st := testenv.OpenStore(t, &adminKey)
	_, admin := testenv.AdminJS(t, "", st.Server)
	m, err := shred.LoadOrCreateDevMasterKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k := shred.New(st.JS, m)
	env, b := stored(t, events.BIF, "F-1", &events.FamilyReferred{Reason: marker}, "e1")
	sealed, err := k.Seal(ctx, env, b)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := shred.NewMasterKeyText()
	next, err := shred.ParseMasterKey(text)
	if err != nil {
		t.Fatal(err)
	}
	// The bucket's keys are written once: a service may not rewrap.
	if _, err := shred.New(st.JS, next).Rewrap(ctx, mustMaster(t, k)); err == nil || !strings.Contains(err.Error(), "admin") {
		t.Fatalf("a rewrap as the service: %v, want a refusal that names the admin", err)
	}
	rotated := shred.New(admin, next)
	n, err := rotated.Rewrap(ctx, mustMaster(t, k))
	if err != nil || n != 1 {
		t.Fatalf("rewrap: %d %v", n, err)
	}
	ks, err := st.JS.Stream(ctx, eventstore.KeyStream)
	if err != nil {
		t.Fatal(err)
	}
	if !ks.CachedInfo().Config.DiscardNewPerSubject {
		t.Fatal("the rewrap left the bucket's keys rewritable")
	}
	if n, err := rotated.Rewrap(ctx, mustMaster(t, k)); err != nil || n != 0 {
		t.Fatalf("rewrap again: %d %v", n, err)
	}
	got, err := rotated.Decode(ctx, env.Subject(), sealed, time.Now())
	if err != nil || got.Data.(*events.FamilyReferred).Reason != marker {
		t.Fatalf("after rotation: %v", err)
	}
	old := shred.New(st.JS, mustMaster(t, k))
	old.Wait = 0
	if _, err := old.Decode(ctx, env.Subject(), sealed, time.Now()); err == nil {
		t.Fatal("the old master key still opens a rewrapped key")
	}
}

func mustMaster(t *testing.T, k *shred.Keyring) shred.MasterKey {
	t.Helper()
	return shred.MasterOf(k)
}

// TestOtherMasterKey: a process whose master key is not the one that
// wrapped a family's data key (two processes of a deployment given
// different keys) says so at once, naming both keys' ids, in the error
// a reader quarantines with and in its readiness check; it never waits
// for the key or reads the event as erased.
func TestOtherMasterKey(t *testing.T) {
	ctx := context.Background()
	k, st := keyring(t)
	if err := k.CheckMaster(ctx); err != nil {
		t.Fatalf("empty bucket: %v", err)
	}
	env, b := stored(t, events.BIF, "F-1", &events.FamilyReferred{Reason: marker}, "e1")
	sealed, err := k.Seal(ctx, env, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.CheckMaster(ctx); err != nil {
		t.Fatalf("same master key: %v", err)
	}
	text, _ := shred.NewMasterKeyText()
	other, err := shred.ParseMasterKey(text)
	if err != nil {
		t.Fatal(err)
	}
	// Never waiting for the key is one look-up, not one again and again
	// until the keyring's Wait is over: the look-ups are counted.
	js := &countingKV{JetStream: st.JS}
	wrong := shred.New(js, other)
	wrong.Wait = 2 * time.Second // a keyring that waited would give up after it
	_, err = wrong.Decode(ctx, env.Subject(), sealed, time.Now())
	if !errors.Is(err, shred.ErrOtherMaster) {
		t.Fatalf("decode with another master key: %v", err)
	}
	if n := js.gets.Load(); n != 1 {
		t.Errorf("the key was looked up %d times: a wrong master key is not a slow key store, one look-up tells", n)
	}
	ours, theirs := k.MasterID(), other.ID()
	for _, want := range []string{"F-1.0", "wrapped by master key " + ours, "this process has master key " + theirs, "JF_MASTER_KEY_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	err = wrong.CheckMaster(ctx)
	if !errors.Is(err, shred.ErrOtherMaster) || !strings.Contains(err.Error(), ours) || !strings.Contains(err.Error(), theirs) {
		t.Fatalf("readiness check with another master key: %v", err)
	}
	// /readyz answers anyone who reaches the port, the operator's probes
	// included, who see no family data: the check names no data key, whose
	// id is its family's.
	if strings.Contains(err.Error(), "F-1") {
		t.Errorf("readiness check names the family: %v", err)
	}
	// Nor does ingest seal with a key it cannot open.
	env2, b2 := stored(t, events.BIF, "F-1", &events.FamilyReferred{Reason: marker}, "e2")
	if _, err := wrong.Seal(ctx, env2, b2); !errors.Is(err, shred.ErrOtherMaster) {
		t.Fatalf("seal with another master key: %v", err)
	}
}

// TestPreload: a reader about to catch up reads every data key at once,
// then opens sealed events without the key store; a key of a family it
// knows erased is not among them.
func TestPreload(t *testing.T) {
	ctx := context.Background()
	k, st := keyring(t)
	sealed := map[string][]byte{}
	for i, fam := range []string{"F-1", "F-2", "F-3"} {
		env, b := stored(t, events.BIF, fam, &events.FamilyReferred{Reason: marker}, "e"+string(rune('1'+i)))
		s, err := k.Seal(ctx, env, b)
		if err != nil {
			t.Fatal(err)
		}
		sealed[fam] = s
	}
	// More keys than one fetch of Preload takes.
	const more = 1100
	for i := range more {
		if err := shred.MakeKey(k, fmt.Sprintf("F-K%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := (*shred.Keyring)(nil).Preload(ctx); n != 0 || err != nil {
		t.Fatalf("nil keyring: %d %v", n, err)
	}

	r := shred.New(st.JS, mustMaster(t, k))
	r.Wait = 0
	// The reader has read F-3's family.erased; its key is not destroyed
	// yet.
	erased, err := events.Build(events.Service, "F-3", &events.FamilyErased{Reason: "Art. 17"}, events.WithID("erase-F-3"))
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := events.Marshal(erased)
	if _, err := r.Decode(ctx, shred.ErasedSubject("F-3"), eb, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Preload(ctx); n != 2+more || err != nil {
		t.Fatalf("preload: %d keys, %v; want F-1's, F-2's and %d more", n, err, more)
	}
	if n, err := r.Preload(ctx); n != 0 || err != nil {
		t.Fatalf("preload again: %d keys, %v; want none new", n, err)
	}

	// Without the key store: the preloaded keys open their events, and
	// F-3's is not there to open.
	st.NC.Close()
	for _, fam := range []string{"F-1", "F-2"} {
		got, err := r.Decode(ctx, events.Subject(fam, events.BIF, "family.referred"), sealed[fam], time.Now())
		if err != nil || got.Data.(*events.FamilyReferred).Reason != marker {
			t.Fatalf("%s after preload, the store closed: %v", fam, err)
		}
	}
	if got, err := r.Decode(ctx, events.Subject("F-3", events.BIF, "family.referred"), sealed["F-3"], time.Now()); err == nil {
		t.Fatalf("F-3 read as %+v: its key must not have been preloaded", got.Data)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := shred.New(st.JS, mustMaster(t, k)).Preload(cctx); err == nil {
		t.Fatal("preload on a cancelled context and a closed connection: no error")
	}
}

// countingKV counts the reads of single keys from the key-value buckets
// opened through it.
type countingKV struct {
	jetstream.JetStream
	gets atomic.Int32
}

func (j *countingKV) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	kv, err := j.JetStream.KeyValue(ctx, bucket)
	if err != nil {
		return nil, err
	}
	return countingBucket{KeyValue: kv, gets: &j.gets}, nil
}

type countingBucket struct {
	jetstream.KeyValue
	gets *atomic.Int32
}

func (b countingBucket) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	b.gets.Add(1)
	return b.KeyValue.Get(ctx, key)
}

func (b countingBucket) GetRevision(ctx context.Context, key string, revision uint64) (jetstream.KeyValueEntry, error) {
	b.gets.Add(1)
	return b.KeyValue.GetRevision(ctx, key, revision)
}
