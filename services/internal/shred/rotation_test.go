package shred_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

func filesHolding(t *testing.T, dir string, needle []byte) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, needle) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func openAt(t *testing.T, dir string, admin *eventstore.Identity) *eventstore.Store {
	st, err := eventstore.Open(context.Background(), eventstore.OpenOptions{
		Embedded: eventstore.EmbeddedOptions{StoreDir: dir, Listen: "off", Admin: admin},
		Name:     "test", Log: testenv.QuietLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRotationThenErasureLeavesNoKeyOnDisk: after a master key rotation
// and an erasure, the key stream's files hold the erased family's data key
// neither as the rotation wrapped it nor as the retired master key did,
// with another family's key beside it in the same block.
func TestRotationThenErasureLeavesNoKeyOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	adminKey := testenv.AdminKey()
	st := openAt(t, dir, &adminKey)
	_, admin := testenv.AdminJS(t, "", st.Server)
	oldM, _ := shred.LoadOrCreateDevMasterKey(t.TempDir())
	k := shred.New(st.JS, oldM)
	env, b := stored(t, events.BIF, "F-1", &events.FamilyReferred{Reason: marker}, "e1")
	sealed, err := k.Seal(ctx, env, b)
	if err != nil {
		t.Fatal(err)
	}
	// A second family, whose key is not erased.
	if err := shred.MakeKey(k, "F-2"); err != nil {
		t.Fatal(err)
	}
	kv, _ := st.JS.KeyValue(ctx, eventstore.KeyBucket)
	e, err := kv.Get(ctx, "F-1.0")
	if err != nil {
		t.Fatal(err)
	}
	oldWrapped := append([]byte(nil), e.Value()...)

	text, _ := shred.NewMasterKeyText()
	newM, _ := shred.ParseMasterKey(text)
	if n, err := shred.New(admin, newM).Rewrap(ctx, oldM); err != nil || n != 2 {
		t.Fatalf("rewrap %d %v", n, err)
	}
	e2, _ := kv.Get(ctx, "F-1.0")
	newWrapped := append([]byte(nil), e2.Value()...)
	// Erasure.
	erased, _ := events.Build(events.Service, "F-1", &events.FamilyErased{Reason: "Art. 17"}, events.WithID("erase-F-1"))
	eb, _ := events.Marshal(erased)
	if _, err := st.JS.Publish(ctx, shred.ErasedSubject("F-1"), eb); err != nil {
		t.Fatal(err)
	}
	k2 := shred.New(st.JS, newM)
	if err := k2.Destroy(ctx, "F-1"); err != nil {
		t.Fatal(err)
	}
	st.Close() // flush everything to the files

	if f := filesHolding(t, dir, newWrapped); len(f) != 0 {
		t.Errorf("current wrapped key left on disk: %v", f)
	}
	if f := filesHolding(t, dir, oldWrapped); len(f) != 0 {
		t.Errorf("the data key wrapped by the retired master key is still on disk after rotation and erasure: %v", f)
		// Whoever holds the old master key and the files reads the erased text.
		i := bytes.Index(sealed, []byte(shred.Prefix))
		j := bytes.IndexByte(sealed[i:], '"')
		pt, err := shred.RecoverField(oldM, "F-1.0", "e1", "reason", oldWrapped, sealed[i:i+j])
		t.Errorf("the erased reason read back from disk: %s (%v)", pt, err)
	}
}

// TestRotationRerunSetsWriteOnce: a rotation stopped after it lifted the
// write-once rule is run again, as PRIVACY.md says to; the rule is set
// again at its end, and no service user can replace a key.
func TestRotationRerunSetsWriteOnce(t *testing.T) {
	ctx := context.Background()
	adminKey := testenv.AdminKey()
	st := testenv.OpenStore(t, &adminKey)
	_, admin := testenv.AdminJS(t, "", st.Server)
	oldM, _ := shred.LoadOrCreateDevMasterKey(t.TempDir())
	k := shred.New(st.JS, oldM)
	env, b := stored(t, events.BIF, "F-1", &events.FamilyReferred{Reason: marker}, "e1")
	if _, err := k.Seal(ctx, env, b); err != nil {
		t.Fatal(err)
	}
	// The first run is killed right after lifting the rule.
	s, _ := admin.Stream(ctx, eventstore.KeyStream)
	cfg := s.CachedInfo().Config
	cfg.DiscardNewPerSubject = false
	if _, err := admin.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	text, _ := shred.NewMasterKeyText()
	newM, _ := shred.ParseMasterKey(text)
	if n, err := shred.New(admin, newM).Rewrap(ctx, oldM); err != nil || n != 1 {
		t.Fatalf("rewrap: %d %v", n, err)
	}
	s, _ = admin.Stream(ctx, eventstore.KeyStream)
	if c := s.CachedInfo().Config; !c.DiscardNewPerSubject || c.MaxMsgsPerSubject != 1 {
		t.Errorf("the rerun rotation left the bucket's keys rewritable: DiscardNewPerSubject %v, MaxMsgsPerSubject %d", c.DiscardNewPerSubject, c.MaxMsgsPerSubject)
	}
	kv, _ := st.JS.KeyValue(ctx, eventstore.KeyBucket)
	if _, err := kv.Put(ctx, "F-1.0", []byte("v1:attacker:AAAA")); err == nil {
		t.Error("the service user replaced F-1.0")
	}
}

// TestErasureWithoutKeyMarksIt: a family erased before it had a personal
// field has no key; its erasure still leaves the marker, so that no key
// can be made for it afterwards (by an ingest that checked Erased just
// before family.erased was stored), and a second erasure is harmless.
func TestErasureWithoutKeyMarksIt(t *testing.T) {
	ctx := context.Background()
	k, st := keyring(t)
	erased, _ := events.Build(events.Service, "F-9", &events.FamilyErased{Reason: "Art. 17"}, events.WithID("erase-F-9"))
	eb, _ := events.Marshal(erased)
	if _, err := st.JS.Publish(ctx, shred.ErasedSubject("F-9"), eb); err != nil {
		t.Fatal(err)
	}
	if err := k.Destroy(ctx, "F-9"); err != nil {
		t.Fatal(err)
	}
	if err := k.Destroy(ctx, "F-9"); err != nil {
		t.Fatalf("a second erasure: %v", err)
	}
	// What familyKey does after its Erased check passed.
	kv, _ := st.JS.KeyValue(ctx, eventstore.KeyBucket)
	if _, err := kv.Create(ctx, shred.KeyID("F-9"), []byte("v1:x:AAAA")); err == nil {
		t.Error("a key was made for a family after its erasure")
	}
}

// TestPlainRefusesDirectPlaintext: an event a department published straight
// to NATS with a personal field in the clear is refused by Plain, the audit
// replay's and export's reader, as by Decode (ErrPlaintext), so the replay
// writes it as an unreadable line; once the family is erased, the field
// reads as the tombstone and is named as erased.
func TestPlainRefusesDirectPlaintext(t *testing.T) {
	ctx := context.Background()
	k, st := keyring(t)
	// The family has a key (an earlier event through ingest).
	env1, b1 := stored(t, events.BIF, "F-1", &events.FamilyReferred{Reason: "via ingest"}, "e1")
	if _, err := k.Seal(ctx, env1, b1); err != nil {
		t.Fatal(err)
	}
	env, direct := stored(t, events.BIF, "F-1", &events.FamilyReferred{Reason: marker}, "e2")
	if _, err := k.Decode(ctx, env.Subject(), direct, time.Now()); !errors.Is(err, shred.ErrPlaintext) {
		t.Fatalf("decode: %v", err)
	}
	if out, _, err := k.Plain(ctx, env.Subject(), direct); !errors.Is(err, shred.ErrPlaintext) {
		t.Errorf("Plain of a plaintext personal field: %v, want ErrPlaintext; %s", err, out)
	}
	// Erase the family.
	erased, _ := events.Build(events.Service, "F-1", &events.FamilyErased{Reason: "Art. 17"}, events.WithID("erase-F-1"))
	eb, _ := events.Marshal(erased)
	if _, err := st.JS.Publish(ctx, shred.ErasedSubject("F-1"), eb); err != nil {
		t.Fatal(err)
	}
	if err := k.Destroy(ctx, "F-1"); err != nil {
		t.Fatal(err)
	}
	fresh := shred.New(st.JS, shred.MasterOf(k))
	out, erasedFields, err := fresh.Plain(ctx, env.Subject(), direct)
	if err != nil || bytes.Contains(out, []byte(marker)) || !bytes.Contains(out, []byte(shred.Tombstone)) || len(erasedFields) != 1 || erasedFields[0] != "reason" {
		t.Errorf("after erasure: %v, erased fields %v: %s", err, erasedFields, out)
	}
}

// TestPlainDecidesByTheEventsType: whether an unkeyed event holds a
// personal field in the clear is decided by its CloudEvents type, not by
// the name in its subject: a department may publish any type on its own
// subjects, here a goal.set (personal: title) on a meeting.held subject,
// also with the member's name escaped. Plain refuses both
// (ErrPlaintext), and once the family is erased reads the title as the
// tombstone.
func TestPlainDecidesByTheEventsType(t *testing.T) {
	ctx := context.Background()
	k, st := keyring(t)
	_, goal := stored(t, events.SOF, "F-1", &events.GoalSet{GoalID: "G1", Title: marker, Domain: "employment", ExpressedBy: "family"}, "e1")
	escaped := bytes.Replace(goal, []byte(`"title"`), []byte(`"t\u0069tle"`), 1)
	if bytes.Equal(escaped, goal) {
		t.Fatalf("no title member: %s", goal)
	}
	subject := events.Subject("F-1", events.SOF, "meeting.held")
	for _, raw := range [][]byte{goal, escaped} {
		if out, _, err := k.Plain(ctx, subject, raw); !errors.Is(err, shred.ErrPlaintext) {
			t.Errorf("Plain of a goal.set in the clear on %s: %v, want ErrPlaintext; %s", subject, err, out)
		}
	}
	erased, _ := events.Build(events.Service, "F-1", &events.FamilyErased{Reason: "Art. 17"}, events.WithID("erase-F-1"))
	eb, _ := events.Marshal(erased)
	if _, err := st.JS.Publish(ctx, shred.ErasedSubject("F-1"), eb); err != nil {
		t.Fatal(err)
	}
	if err := k.Destroy(ctx, "F-1"); err != nil {
		t.Fatal(err)
	}
	for _, raw := range [][]byte{goal, escaped} {
		out, fields, err := shred.New(st.JS, shred.MasterOf(k)).Plain(ctx, subject, raw)
		if err != nil || bytes.Contains(out, []byte(marker)) || !bytes.Contains(out, []byte(shred.Tombstone)) || len(fields) != 1 || fields[0] != "title" {
			t.Errorf("after erasure: %v, erased fields %v: %s", err, fields, out)
		}
	}
}

// TestInterruptedRotationThenErasureLeavesNoOldKey: a rotation killed
// after it stored a key's rewrapped successor and before it overwrote the
// old message, then an erasure of that family (the services run with the
// new key), then the rerun. PRIVACY.md: the erasure's delete marker takes
// the key's place "so that the bucket's history holds nothing of it", and
// the retired master key "opens nothing left in the store's files, also
// after a later erasure": Destroy erases every message the key's subject
// holds, and the rerun looks at destroyed keys too.
func TestInterruptedRotationThenErasureLeavesNoOldKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	adminKey := testenv.AdminKey()
	st := openAt(t, dir, &adminKey)
	_, admin := testenv.AdminJS(t, "", st.Server)
	oldM, _ := shred.LoadOrCreateDevMasterKey(t.TempDir())
	k := shred.New(st.JS, oldM)
	env, b := stored(t, events.BIF, "F-1", &events.FamilyReferred{Reason: marker}, "e1")
	sealed, err := k.Seal(ctx, env, b)
	if err != nil {
		t.Fatal(err)
	}
	kv, _ := admin.KeyValue(ctx, eventstore.KeyBucket)
	e, err := kv.Get(ctx, "F-1.0")
	if err != nil {
		t.Fatal(err)
	}
	oldWrapped := append([]byte(nil), e.Value()...)
	text, _ := shred.NewMasterKeyText()
	newM, _ := shred.ParseMasterKey(text)

	// The first rotation run: rule lifted, F-1.0's successor stored, then
	// the process is killed before it overwrites the old message.
	s, _ := admin.Stream(ctx, eventstore.KeyStream)
	cfg := s.CachedInfo().Config
	cfg.DiscardNewPerSubject, cfg.MaxMsgsPerSubject = false, 2
	if _, err := admin.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	w, err := shred.RewrapValue(oldM, newM, "F-1.0", oldWrapped)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, "F-1.0", w, e.Revision()); err != nil {
		t.Fatal(err)
	}

	// The DPO erases F-1 (the service runs with the new key).
	erased, _ := events.Build(events.Service, "F-1", &events.FamilyErased{Reason: "Art. 17"}, events.WithID("erase-F-1"))
	eb, _ := events.Marshal(erased)
	if _, err := st.JS.Publish(ctx, shred.ErasedSubject("F-1"), eb); err != nil {
		t.Fatal(err)
	}
	if err := shred.New(st.JS, newM).Destroy(ctx, "F-1"); err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(sealed, []byte(shred.Prefix))
	j := bytes.IndexByte(sealed[i:], '"')
	if m, err := s.GetMsg(ctx, e.Revision()); err == nil {
		pt, rerr := shred.RecoverField(oldM, "F-1.0", "e1", "reason", m.Data, sealed[i:i+j])
		t.Errorf("after the erasure the key stream still holds F-1.0 wrapped by the retired master key (seq %d); it opens the erased reason: %s (%v)", e.Revision(), pt, rerr)
	} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("get: %v", err)
	}
	if _, err := kv.Get(ctx, "F-1.0"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("after the erasure F-1.0 is not marked deleted: %v", err)
	}

	// The rotation is run again, as PRIVACY.md says.
	if _, err := shred.New(admin, newM).Rewrap(ctx, oldM); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if _, err := s.GetMsg(ctx, e.Revision()); err == nil {
		t.Errorf("after the rerun the key stream still holds message %d (F-1.0 wrapped by the retired key)", e.Revision())
	}
	st.Close()
	if f := filesHolding(t, dir, oldWrapped); len(f) != 0 {
		t.Errorf("after the rerun the data key wrapped by the retired master key is still on disk: %v", f)
	}
	if f := filesHolding(t, dir, w); len(f) != 0 {
		t.Errorf("after the rerun the erased data key wrapped by the new master key is still on disk: %v", f)
	}
}

// TestRotationRerunErasesWhatADestroyedKeyLeft: the state that an
// erasure left, before Destroy erased every message of a key, after a
// rotation killed half-way: the key's message wrapped by the retired
// master key, then its delete marker. The rerun looks at destroyed keys
// too, and overwrites that message before it sets the write-once rule
// again (which would drop it with its bytes left on disk).
func TestRotationRerunErasesWhatADestroyedKeyLeft(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	adminKey := testenv.AdminKey()
	st := openAt(t, dir, &adminKey)
	_, admin := testenv.AdminJS(t, "", st.Server)
	oldM, _ := shred.LoadOrCreateDevMasterKey(t.TempDir())
	k := shred.New(st.JS, oldM)
	for _, fam := range []string{"F-1", "F-2"} {
		if err := shred.MakeKey(k, fam); err != nil {
			t.Fatal(err)
		}
	}
	kv, _ := admin.KeyValue(ctx, eventstore.KeyBucket)
	e, err := kv.Get(ctx, "F-1.0")
	if err != nil {
		t.Fatal(err)
	}
	oldWrapped := append([]byte(nil), e.Value()...)
	text, _ := shred.NewMasterKeyText()
	newM, _ := shred.ParseMasterKey(text)
	s, _ := admin.Stream(ctx, eventstore.KeyStream)
	cfg := s.CachedInfo().Config
	cfg.DiscardNewPerSubject, cfg.MaxMsgsPerSubject = false, 2
	if _, err := admin.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	w, err := shred.RewrapValue(oldM, newM, "F-1.0", oldWrapped)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Update(ctx, "F-1.0", w, e.Revision())
	if err != nil {
		t.Fatal(err)
	}
	// What the erasure did: the newest message erased, then the marker.
	ss, _ := st.JS.Stream(ctx, eventstore.KeyStream)
	if err := ss.SecureDeleteMsg(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "F-1.0"); err != nil {
		t.Fatal(err)
	}

	n, err := shred.New(admin, newM).Rewrap(ctx, oldM)
	if err != nil || n != 1 {
		t.Fatalf("rerun: %d %v", n, err)
	}
	if _, err := s.GetMsg(ctx, e.Revision()); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("after the rerun the key stream still holds message %d (F-1.0 wrapped by the retired key): %v", e.Revision(), err)
	}
	if _, err := kv.Get(ctx, "F-1.0"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the rerun brought F-1.0 back: %v", err)
	}
	if _, err := kv.Get(ctx, "F-2.0"); err != nil {
		t.Errorf("F-2.0: %v", err)
	}
	st.Close()
	if f := filesHolding(t, dir, oldWrapped); len(f) != 0 {
		t.Errorf("after the rerun the data key wrapped by the retired master key is still on disk: %v", f)
	}
}
