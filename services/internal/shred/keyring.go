package shred

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// Keyring is a process's access to the data keys: it makes a family's key
// at its first personal field, unwraps keys once and keeps them in memory,
// and knows which families are erased. A nil *Keyring is encryption off
// with no key store: keyed events do not decode.
type Keyring struct {
	js     jetstream.JetStream
	master MasterKey
	// Required: ingest encrypts personal fields, and a reader quarantines
	// a personal field stored in the clear. Off only for measuring the
	// cost of encryption (make bench).
	Required bool
	// Wait bounds how long a read waits for an unreachable key store
	// before it gives the event up as unreadable.
	Wait time.Duration

	mu     sync.RWMutex
	kv     jetstream.KeyValue
	events jetstream.Stream
	keys   map[string]cipher.AEAD // by key id
	erased map[string]bool        // by family id
}

// New makes a keyring on js with the master key. The bucket is bound on
// first use: a process starts before the setup step made it.
func New(js jetstream.JetStream, master MasterKey) *Keyring {
	return &Keyring{js: js, master: master, Required: true, Wait: 30 * time.Second,
		keys: map[string]cipher.AEAD{}, erased: map[string]bool{}}
}

// MasterID is the id of the keyring's master key.
func (k *Keyring) MasterID() string { return k.master.ID() }

func (k *Keyring) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	k.mu.RLock()
	kv := k.kv
	k.mu.RUnlock()
	if kv != nil {
		return kv, nil
	}
	kv, err := k.js.KeyValue(ctx, eventstore.KeyBucket)
	if err != nil {
		return nil, fmt.Errorf("shred: key bucket %s: %w", eventstore.KeyBucket, err)
	}
	k.mu.Lock()
	k.kv = kv
	k.mu.Unlock()
	return kv, nil
}

func (k *Keyring) cached(keyID string) (cipher.AEAD, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	a, ok := k.keys[keyID]
	return a, ok
}

func (k *Keyring) remember(keyID string, dataKey []byte) (cipher.AEAD, error) {
	a, err := newGCM(dataKey)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.keys[keyID] = a
	k.mu.Unlock()
	return a, nil
}

// preloaded keeps a preloaded key unless its family is known erased (its
// key read before it was destroyed) or the key is held already.
func (k *Keyring) preloaded(keyID string, a cipher.AEAD) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if f, ok := familyOfKey(keyID); !ok || k.erased[f] {
		return false
	}
	if _, ok := k.keys[keyID]; ok {
		return false
	}
	k.keys[keyID] = a
	return true
}

// markErased records that a family is erased and forgets its key.
func (k *Keyring) markErased(familyID string) {
	k.mu.Lock()
	k.erased[familyID] = true
	delete(k.keys, KeyID(familyID))
	k.mu.Unlock()
}

// Erased reports whether family.erased is stored for the family: known
// in memory, or else asked of the stream (the family's last message on
// the subject of its family.erased).
func (k *Keyring) Erased(ctx context.Context, familyID string) (bool, error) {
	k.mu.RLock()
	e := k.erased[familyID]
	s := k.events
	k.mu.RUnlock()
	if e {
		return true, nil
	}
	if s == nil {
		var err error
		if s, err = k.js.Stream(ctx, eventstore.FamilyStream); err != nil {
			return false, err
		}
		k.mu.Lock()
		k.events = s
		k.mu.Unlock()
	}
	_, err := s.GetLastMsgForSubject(ctx, ErasedSubject(familyID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	k.markErased(familyID)
	return true, nil
}

// whileConnected is ctx cancelled as soon as the connection to NATS is
// not up, or is not up now.
func (k *Keyring) whileConnected(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	nc := k.js.Conn()
	if nc == nil {
		return ctx, cancel
	}
	ch := nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	if nc.Status() != nats.CONNECTED {
		cancel()
	}
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
		}
		nc.RemoveStatusListener(ch)
	}()
	return ctx, cancel
}

// familyKey is the data key to encrypt a family's fields with, made and
// stored on the family's first personal field.
func (k *Keyring) familyKey(ctx context.Context, familyID string) (string, cipher.AEAD, error) {
	id := KeyID(familyID)
	if a, ok := k.cached(id); ok {
		return id, a, nil
	}
	// Ingest answers 503 at once when the event store goes down: a
	// request to the bucket would otherwise wait for its whole timeout.
	ctx, cancel := k.whileConnected(ctx)
	defer cancel()
	kv, err := k.bucket(ctx)
	if err != nil {
		return "", nil, err
	}
	for range 3 {
		e, err := kv.Get(ctx, id)
		if err == nil {
			dk, err := k.master.unwrap(id, e.Value())
			if err != nil {
				return "", nil, err
			}
			a, err := k.remember(id, dk)
			return id, a, err
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return "", nil, fmt.Errorf("shred: get key %s: %w", id, err)
		}
		// No key: a new family, or an erased one, whose key is gone
		// for good.
		erased, err := k.Erased(ctx, familyID)
		if err != nil {
			return "", nil, err
		}
		if erased {
			return "", nil, ErrErased
		}
		dk := make([]byte, 32)
		if _, err := rand.Read(dk); err != nil {
			return "", nil, err
		}
		w, err := k.master.wrap(id, dk)
		if err != nil {
			return "", nil, err
		}
		if _, err := kv.Create(ctx, id, w); err == nil {
			a, err := k.remember(id, dk)
			return id, a, err
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", nil, fmt.Errorf("shred: create key %s: %w", id, err)
		}
		// Another process made it first: read theirs.
	}
	return "", nil, fmt.Errorf("shred: key %s: created and destroyed concurrently", id)
}

// Seal encrypts the personal fields of one event as ingest will store it
// (stored: the structured CloudEvent), and names its key in the jfkeyid
// extension. An event without personal fields is stored as it is. An
// event about an erased family is refused with ErrErased.
func (k *Keyring) Seal(ctx context.Context, env events.Envelope, stored []byte) ([]byte, error) {
	if k == nil {
		return stored, nil
	}
	k.mu.RLock()
	erased := k.erased[env.FamilyID]
	k.mu.RUnlock()
	if erased {
		return nil, ErrErased
	}
	if !k.Required || len(env.Spec.Personal) == 0 {
		return stored, nil
	}
	ev, err := parseEvent(stored)
	if err != nil {
		return nil, fmt.Errorf("shred: seal: %w", err)
	}
	// The personal string members: none (a type whose personal fields
	// are optional and absent) leaves the event as it is, without a key.
	var sealed []member
	for _, m := range ev.data {
		if personal(env.Spec, m) && stored[m.valStart] == '"' {
			sealed = append(sealed, m)
		}
	}
	if len(sealed) == 0 {
		return stored, nil
	}
	if ev.keyAt >= 0 {
		return nil, fmt.Errorf("shred: seal: the event carries %s already", Extension)
	}
	id, a, err := k.familyKey(ctx, env.FamilyID)
	if err != nil {
		return nil, err
	}
	// Each personal string's token, as posted (its escapes included), is
	// what is encrypted, and its ciphertext takes its place: nothing
	// else of the event changes but the key id appended as its last
	// member.
	edits := make([]edit, 0, len(sealed)+1)
	for _, m := range sealed {
		v, err := sealField(a, id, env.ID(), string(m.name), stored[m.valStart:m.valEnd])
		if err != nil {
			return nil, err
		}
		edits = append(edits, edit{m.valStart, m.valEnd, quoted(v)})
	}
	last := ev.top[len(ev.top)-1]
	edits = append(edits, edit{last.valEnd, last.valEnd, append([]byte(`,"`+Extension+`":`), marshalString(id)...)})
	return apply(stored, edits), nil
}

// readKey is the data key of keyID for reading: nil with erased set when
// the family is erased and its key destroyed.
func (k *Keyring) readKey(ctx context.Context, familyID, keyID string) (a cipher.AEAD, erased bool, err error) {
	if a, ok := k.cached(keyID); ok {
		return a, false, nil
	}
	deadline := time.Now().Add(k.Wait)
	for {
		a, erased, err = k.fetchKey(ctx, familyID, keyID)
		if err == nil || errors.Is(err, ErrUnknownKey) || errors.Is(err, errOtherMaster) || time.Now().After(deadline) || ctx.Err() != nil {
			return a, erased, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (k *Keyring) fetchKey(ctx context.Context, familyID, keyID string) (cipher.AEAD, bool, error) {
	kv, err := k.bucket(ctx)
	if err != nil {
		return nil, false, err
	}
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e, err := kv.Get(gctx, keyID)
	if err == nil {
		dk, err := k.master.unwrap(keyID, e.Value())
		if err != nil {
			return nil, false, err
		}
		a, err := k.remember(keyID, dk)
		return a, false, err
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, false, err
	}
	// The key is destroyed only after family.erased is acknowledged: a
	// missing key of a family without one was never held.
	erased, err := k.Erased(gctx, familyID)
	if err != nil {
		return nil, false, err
	}
	if !erased {
		return nil, false, fmt.Errorf("%w: %s: the bucket holds no such key and family %s is not erased", ErrUnknownKey, keyID, familyID)
	}
	return nil, true, nil
}

// Preload reads every data key the bucket holds into memory, as one read
// of the bucket's stream, and returns how many it added. A reader about to
// catch up on a long stream calls it: fetched one by one, each family's
// key would cost its first event a round trip to the key store. A key
// that does not unwrap with this master key is left for the read that
// needs it, which reports why; the context bounds the whole read.
//
// It reads the stream with an ordered consumer, the last message of each
// key, rather than the bucket's watcher: stopping a watcher deletes its
// consumer, which the services may not do on the key stream (the request
// would wait for its timeout); an ordered consumer is left to expire.
func (k *Keyring) Preload(ctx context.Context) (int, error) {
	if k == nil {
		return 0, nil
	}
	s, err := k.js.Stream(ctx, eventstore.KeyStream)
	if err != nil {
		return 0, fmt.Errorf("shred: preload: %w", err)
	}
	if s.CachedInfo().State.Msgs == 0 {
		return 0, nil
	}
	prefix := keySubjectPrefix
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{prefix + ">"}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy})
	if err != nil {
		return 0, fmt.Errorf("shred: preload: %w", err)
	}
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("shred: preload: %w", err)
		}
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			return n, fmt.Errorf("shred: preload: %w", err)
		}
		got, done := 0, false
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return n, fmt.Errorf("shred: preload: %w", err)
			}
			done = meta.NumPending == 0
			if op := m.Headers().Get("KV-Operation"); op != "" || len(m.Data()) == 0 {
				// A destroyed key: its delete marker.
				continue
			}
			keyID := strings.TrimPrefix(m.Subject(), prefix)
			if _, ok := k.cached(keyID); ok {
				continue
			}
			dk, err := k.master.unwrap(keyID, m.Data())
			if err != nil {
				continue
			}
			if a, err := newGCM(dk); err == nil && k.preloaded(keyID, a) {
				n++
			}
		}
		if err := batch.Error(); err != nil {
			return n, fmt.Errorf("shred: preload: %w", err)
		}
		if done || got == 0 {
			return n, nil
		}
	}
}

var keyMember = []byte(`"` + Extension + `"`)

// Decode reads a stored event as every reader of the stream does: its
// personal fields decrypted (or, for an erased family, the tombstone),
// then events.DecodeStored. It fails, for the caller to quarantine the
// event, when the key is unknown, a field does not open, or a personal
// field is stored in the clear. k may be nil: keyed events then fail.
//
// A keyed event is read in one pass, events.DecodeStoredWith: the
// personal fields alone are opened (openFields) while the event is
// parsed, and the event is validated as opened. It reads as Plain's
// output read by DecodeStored.
func (k *Keyring) Decode(ctx context.Context, subject string, raw []byte, recorded time.Time) (events.Envelope, error) {
	var (
		env   events.Envelope
		keyed bool
		err   error
	)
	if bytes.Contains(raw, keyMember) {
		env, keyed, err = events.DecodeStoredWith(subject, raw, recorded, events.Opener{
			Extension: Extension,
			Open: func(_ events.Spec, familyID, eventID, keyID string, fields []events.Field) error {
				return k.openFields(ctx, familyID, eventID, keyID, fields)
			},
		})
	} else {
		env, err = events.DecodeStored(subject, raw, recorded)
	}
	if err != nil {
		return env, err
	}
	if !keyed && k != nil && k.Required && HasPersonal(env.Spec, env.Event.Data()) {
		return events.Envelope{}, fmt.Errorf("%w: %s of %s was published without encryption (CONTRACT: personal fields go through ingest, or are encrypted with the family's key)", ErrPlaintext, env.Spec.Personal, env.Spec.Name)
	}
	if k != nil && env.Spec.Name == ErasedType && env.Department == events.Service {
		k.markErased(env.FamilyID)
	}
	return env, nil
}

// Plain is a stored event as ingest received it: raw itself unless it is
// keyed, else raw with each personal field's posted JSON string token put
// back in place of its ciphertext (or, for an erased family, the
// tombstone, whose fields' names it returns) and the jfkeyid member
// removed. Every other byte is raw's. The audit replay reads the stream
// through it. k may be nil: a keyed event then fails with ErrNoKeys.
func (k *Keyring) Plain(ctx context.Context, subject string, raw []byte) ([]byte, []string, error) {
	if !bytes.Contains(raw, keyMember) {
		// Not keyed: as it is, unless personal fields must be encrypted
		// and it holds one of its type's (see openPlaintext). The type
		// is the event's own, not the subject's name: a department may
		// publish any type on its subjects.
		if k == nil || !k.Required || !mayHoldPersonal(raw) {
			return raw, nil, nil
		}
		ev, err := parseEvent(raw)
		if err != nil {
			return raw, nil, nil
		}
		plain, erased, _, err := k.openPlaintext(ctx, subject, raw, ev)
		return plain, erased, err
	}
	plain, erased, _, err := k.open(ctx, subject, raw)
	return plain, erased, err
}

// open decrypts a keyed event's personal fields in place and removes its
// jfkeyid member. An event without a jfkeyid member (whose text merely
// holds the name) is returned as it is, with keyed false.
func (k *Keyring) open(ctx context.Context, subject string, raw []byte) (_ []byte, erasedFields []string, keyed bool, _ error) {
	ev, err := parseEvent(raw)
	if err != nil {
		return nil, nil, false, fmt.Errorf("shred: %w", err)
	}
	if ev.keyAt < 0 {
		return k.openPlaintext(ctx, subject, raw, ev)
	}
	if k == nil {
		return nil, nil, true, ErrNoKeys
	}
	parts, err := events.ParseSubject(subject)
	if err != nil {
		return nil, nil, true, err
	}
	keyID, ok := stringAt(raw, ev.top[ev.keyAt])
	if !ok {
		return nil, nil, true, fmt.Errorf("%w: %s is not a string", ErrUnknownKey, Extension)
	}
	if f, ok := familyOfKey(keyID); !ok || f != parts.FamilyID {
		return nil, nil, true, fmt.Errorf("%w: %q is not the key of family %s", ErrUnknownKey, keyID, parts.FamilyID)
	}
	typ := topString(raw, ev, "type")
	spec, ok := events.ByType(typ)
	if !ok {
		return nil, nil, true, fmt.Errorf("shred: encrypted event of unknown type %q", typ)
	}
	id := topString(raw, ev, "id")
	a, erased, err := k.readKey(ctx, parts.FamilyID, keyID)
	if err != nil {
		return nil, nil, true, err
	}
	edits := make([]edit, 1, len(ev.data)+1)
	edits[0] = removal(ev.top, ev.keyAt)
	for _, m := range ev.data {
		if !personal(spec, m) {
			continue
		}
		v, ok := textAt(raw, m)
		if !ok {
			continue
		}
		if erased {
			edits = append(edits, edit{m.valStart, m.valEnd, tombstoneJSON})
			erasedFields = append(erasedFields, string(m.name))
			continue
		}
		token, err := openField(a, keyID, id, string(m.name), v)
		if err != nil {
			return nil, nil, true, err
		}
		// Nothing reads the event after this to check the token strictly
		// (events.DecodeStoredWith does, for openFields).
		if !json.Valid(token) {
			return nil, nil, true, fmt.Errorf("%w: /data/%s does not hold a JSON string", ErrCorrupt, m.name)
		}
		edits = append(edits, edit{m.valStart, m.valEnd, token})
	}
	return apply(raw, edits), erasedFields, true, nil
}

// personalNames are the names of the catalog's personal fields, of every
// type and version, each with the quote that ends its JSON string token,
// by the name's first byte.
var personalNames = func() (out [256][][]byte) {
	seen := map[string]bool{}
	for _, spec := range events.AllVersions() {
		for _, name := range fields(spec) {
			if name != "" && !seen[name] {
				seen[name] = true
				out[name[0]] = append(out[name[0]], []byte(name+`"`))
			}
		}
	}
	return out
}()

// mayHoldPersonal reports whether a stored message may hold a personal
// field of any type: a member so named is written as a string token of
// the name, unless it has an escape. Most events hold none, and are passed
// on without being parsed: one look at what follows each quote.
func mayHoldPersonal(raw []byte) bool {
	if bytes.IndexByte(raw, '\\') >= 0 {
		return true
	}
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '"')
		if j < 0 || i+j+1 >= len(raw) {
			return false
		}
		i += j + 1
		for _, name := range personalNames[raw[i]] {
			if bytes.HasPrefix(raw[i:], name) {
				return true
			}
		}
	}
	return false
}

// openPlaintext is open for an event without a key: as it is, unless
// personal fields are required to be encrypted and it holds one of its
// type's (its CloudEvents type and version, whatever its subject names)
// in the clear (a direct publish around ingest), which Decode refuses too
// (ErrPlaintext); once its family is erased, those fields read as the
// tombstone, as an encrypted event's do.
func (k *Keyring) openPlaintext(ctx context.Context, subject string, raw []byte, ev event) ([]byte, []string, bool, error) {
	if k == nil || !k.Required {
		return raw, nil, false, nil
	}
	spec, ok := events.ByType(topString(raw, ev, "type"))
	if !ok {
		return raw, nil, false, nil
	}
	edits, names := eraseTokens(ev.data, spec)
	if len(edits) == 0 {
		return raw, nil, false, nil
	}
	parts, err := events.ParseSubject(subject)
	if err != nil {
		return raw, nil, false, nil
	}
	erased, err := k.Erased(ctx, parts.FamilyID)
	switch {
	case err != nil:
		return nil, nil, false, err
	case erased:
		return apply(raw, edits), names, false, nil
	}
	return nil, nil, false, fmt.Errorf("%w: %s of %s was published without encryption", ErrPlaintext, names, spec.Name)
}

// openFields opens the personal fields of a keyed event of family
// familyID, which events.DecodeStoredWith hands it while it reads the
// event: each field's Token is the posted JSON string token of its
// ciphertext, or, for an erased family, the tombstone. keyID is the
// event's jfkeyid, "" when it is not a string. The errors are open's.
func (k *Keyring) openFields(ctx context.Context, familyID, eventID, keyID string, fields []events.Field) error {
	if k == nil {
		return ErrNoKeys
	}
	if keyID == "" {
		return fmt.Errorf("%w: %s is not a string, or empty", ErrUnknownKey, Extension)
	}
	if f, ok := familyOfKey(keyID); !ok || f != familyID {
		return fmt.Errorf("%w: %q is not the key of family %s", ErrUnknownKey, keyID, familyID)
	}
	a, erased, err := k.readKey(ctx, familyID, keyID)
	if err != nil {
		return err
	}
	for i := range fields {
		f := &fields[i]
		if erased {
			f.Token = tombstoneJSON
			continue
		}
		v := f.Value[1 : len(f.Value)-1]
		if bytes.IndexByte(v, '\\') >= 0 {
			// A sealed value is base64 under its prefix, which needs no
			// escape: openField refuses the text of any other.
			var s string
			if err := json.Unmarshal(f.Value, &s); err != nil {
				return fmt.Errorf("%w: /data/%s", ErrCorrupt, f.Name)
			}
			v = []byte(s)
		}
		token, err := openField(a, keyID, eventID, f.Name, v)
		if err != nil {
			return err
		}
		f.Token = token
	}
	return nil
}

// topString is the value of the event's top-level string member name, or
// "" when it is not one.
func topString(doc []byte, ev event, name string) string {
	m, ok, _ := find(ev.top, name)
	if !ok {
		return ""
	}
	s, _ := stringAt(doc, m)
	return s
}

// Destroy destroys a family's data key: every message the key's subject
// holds (the key, and an earlier one wrapped by a retired master key that
// an interrupted rotation left) is overwritten on disk (a secure delete),
// then a delete marker takes its place, so that the bucket's history holds
// nothing of it and no new key can be made for the family (the bucket's
// keys are written once). Destroying a key that is gone already does
// nothing but erase what of it is left. Call it only after family.erased
// is acknowledged.
func (k *Keyring) Destroy(ctx context.Context, familyID string) error {
	k.markErased(familyID)
	kv, err := k.bucket(ctx)
	if err != nil {
		return err
	}
	s, err := k.js.Stream(ctx, eventstore.KeyStream)
	if err != nil {
		return err
	}
	id := KeyID(familyID)
	// The server sometimes answers a delete of a message it has just
	// stored with "no message found" and keeps it; asked again, it
	// erases it. While a message is left the server refuses the delete
	// marker (the bucket's keys are written once), or, while a rotation
	// has lifted that rule, takes it beside the message: so each round
	// looks again at what the subject holds, until it is the marker alone.
	last := fmt.Errorf("shred: destroy key %s: its messages are still there", id)
	for attempt := 0; attempt <= 20 && ctx.Err() == nil; attempt++ {
		held, err := keyMessages(ctx, s, id)
		if err != nil {
			return fmt.Errorf("shred: messages of key %s: %w", id, err)
		}
		marked := len(held) > 0 && held[len(held)-1].marker
		values, failed := 0, false
		for _, m := range held {
			if m.marker {
				continue
			}
			values++
			if err := s.SecureDeleteMsg(ctx, m.seq); err != nil && !msgGone(ctx, s, m.seq) {
				last, failed = fmt.Errorf("shred: erase key %s (message %d): %w", id, m.seq, err), true
			}
		}
		switch {
		case values == 0 && marked:
			// Nothing of the key is left, and its marker is there.
			return nil
		case failed:
		case marked:
			// What was left of the key is erased now: look again.
			continue
		default:
			// No key (the family had no personal field yet), or a key
			// erased just now: the marker goes in, so that no key can
			// be made for the family after its erasure, and the next
			// round checks that it is there alone. A refused marker (a
			// message the server kept, or a concurrent Destroy's
			// marker) is looked at again.
			err := kv.Delete(ctx, id)
			if err == nil {
				continue
			}
			if !isPerSubjectLimit(err) {
				return fmt.Errorf("shred: mark key %s deleted: %w", id, err)
			}
			last = fmt.Errorf("shred: mark key %s deleted: %w", id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := ctx.Err(); err != nil {
		return errors.Join(last, err)
	}
	return last
}

// keyMessage is one message the key stream holds on a key's subject.
type keyMessage struct {
	seq    uint64
	marker bool // a delete (or purge) marker, which holds no key
}

// keyMessages are the messages the key stream holds on the subject of
// key id, oldest first: read by direct gets of the next message on the
// subject, which every user that reads keys may ask (no consumer).
func keyMessages(ctx context.Context, s jetstream.Stream, id string) ([]keyMessage, error) {
	subject := keySubjectPrefix + id
	var out []keyMessage
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, keyMessage{seq: m.Sequence, marker: m.Header.Get(kvOperation) != ""})
		seq = m.Sequence + 1
	}
}

// keySubjectPrefix starts the subject of every key of the bucket.
const keySubjectPrefix = "$KV." + eventstore.KeyBucket + "."

// kvOperation is the header of a key-value delete or purge marker.
const kvOperation = "KV-Operation"

// msgGone reports whether the bucket's stream holds no message seq.
func msgGone(ctx context.Context, s jetstream.Stream, seq uint64) bool {
	_, err := s.GetMsg(ctx, seq)
	return errors.Is(err, jetstream.ErrMsgNotFound)
}

// isPerSubjectLimit reports whether the server refused a write because
// the subject holds its one message already (JetStream's error 10077).
func isPerSubjectLimit(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == 10077
}

// KeyExists reports whether the bucket holds the family's data key.
func (k *Keyring) KeyExists(ctx context.Context, familyID string) (bool, error) {
	kv, err := k.bucket(ctx)
	if err != nil {
		return false, err
	}
	_, err = kv.Get(ctx, KeyID(familyID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Rewrap wraps every data key of the bucket, now wrapped by old, by the
// keyring's master key instead (master key rotation). Keys wrapped by
// the new key already are left alone, so that a rotation interrupted
// half-way can be run again. It returns how many keys it rewrapped.
//
// The bucket's keys are written once (eventstore.KeyStreamConfig): a
// rewrap replaces each, so it lifts that rule for its run, and keeps two
// messages a key meanwhile, so that the one wrapped by the old master key
// is overwritten on disk (a secure delete) once its successor is stored,
// rather than dropped with its bytes left in the store's files, where the
// old key, the one a rotation retires, would open it. Every key the
// stream holds a message of is looked at, destroyed ones included: an
// interrupted run may have left a key's earlier message behind its
// successor, and an erasure since then may have marked the key deleted;
// whatever precedes a key's latest message is overwritten before the
// rule is set again, which would otherwise drop it unerased. At its end,
// however it ends and whatever state an interrupted run left, it sets
// the rule and the one message a key again, which takes a connection
// that may update streams (the admin's). Rerun an interrupted rotation:
// until then the rule stays lifted.
func (k *Keyring) Rewrap(ctx context.Context, old MasterKey) (n int, err error) {
	s, err := k.js.Stream(ctx, eventstore.KeyStream)
	if err != nil {
		return 0, fmt.Errorf("shred: key bucket %s: %w", eventstore.KeyBucket, err)
	}
	cfg := s.CachedInfo().Config
	cfg.DiscardNewPerSubject, cfg.MaxMsgsPerSubject = false, eventstore.RotationKeysPerSubject
	if _, err := k.js.UpdateStream(ctx, cfg); err != nil {
		return 0, fmt.Errorf("shred: rewrap: lifting the write-once rule of %s (run as the admin user): %w", eventstore.KeyStream, err)
	}
	defer func() {
		cfg.DiscardNewPerSubject, cfg.MaxMsgsPerSubject = true, 1
		if _, uerr := k.js.UpdateStream(context.WithoutCancel(ctx), cfg); uerr != nil {
			err = errors.Join(err, fmt.Errorf("shred: rewrap: setting the write-once rule of %s again (run the setup step): %w", eventstore.KeyStream, uerr))
		}
	}()
	kv, err := k.bucket(ctx)
	if err != nil {
		return 0, err
	}
	// Every key's subject with how many messages it holds, from the
	// stream itself: a key-value listing leaves the destroyed keys out.
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(eventstore.KeySubjects))
	if err != nil {
		return 0, fmt.Errorf("shred: keys of %s: %w", eventstore.KeyStream, err)
	}
	ids := make([]string, 0, len(info.State.Subjects))
	for subject := range info.State.Subjects {
		ids = append(ids, strings.TrimPrefix(subject, keySubjectPrefix))
	}
	slices.Sort(ids)
	for _, id := range ids {
		earlier := info.State.Subjects[keySubjectPrefix+id] > 1
		e, err := kv.Get(ctx, id)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			// Destroyed (its marker is its latest message).
		case err != nil:
			return n, err
		default:
			if _, err := k.master.unwrap(id, e.Value()); err != nil {
				dk, err := old.unwrap(id, e.Value())
				if err != nil {
					return n, err
				}
				w, err := k.master.wrap(id, dk)
				if err != nil {
					return n, err
				}
				if _, err := kv.Update(ctx, id, w, e.Revision()); err != nil {
					return n, fmt.Errorf("shred: rewrap %s: %w", id, err)
				}
				n++
				earlier = true
			}
		}
		// The key's earlier message, wrapped by the old master key (this
		// run's, or one an interrupted run left), is overwritten.
		if earlier {
			if err := eraseEarlier(ctx, s, id); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// eraseEarlier overwrites on disk every message of key id but its latest.
func eraseEarlier(ctx context.Context, s jetstream.Stream, id string) error {
	held, err := keyMessages(ctx, s, id)
	if err != nil {
		return fmt.Errorf("shred: messages of key %s: %w", id, err)
	}
	for i := 0; i < len(held)-1; i++ {
		if err := s.SecureDeleteMsg(ctx, held[i].seq); err != nil && !msgGone(ctx, s, held[i].seq) {
			return fmt.Errorf("shred: erase the earlier message of %s: %w", id, err)
		}
	}
	return nil
}
