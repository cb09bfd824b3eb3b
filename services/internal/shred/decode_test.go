package shred_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// sameEnvelope fails t unless got, what Decode read, is want, what
// events.DecodeStored read of the same event as Plain gives it back: the
// same attributes, extensions, data bytes and payload.
func sameEnvelope(t *testing.T, what string, got, want events.Envelope) {
	t.Helper()
	switch {
	case !bytes.Equal(got.Event.Data(), want.Event.Data()):
		t.Fatalf("%s: data\n%s\nwant\n%s", what, got.Event.Data(), want.Event.Data())
	case !reflect.DeepEqual(got.Event.Extensions(), want.Event.Extensions()):
		t.Fatalf("%s: extensions %v, want %v", what, got.Event.Extensions(), want.Event.Extensions())
	case !reflect.DeepEqual(got.Event, want.Event):
		t.Fatalf("%s: event\n%#v\nwant\n%#v", what, got.Event, want.Event)
	case got.Spec.Type() != want.Spec.Type() || got.Department != want.Department || got.FamilyID != want.FamilyID ||
		got.StoredType != want.StoredType || got.Source() != want.Source():
		t.Fatalf("%s: envelope %s %s %s %q %s, want %s %s %s %q %s", what,
			got.Spec.Type(), got.Department, got.FamilyID, got.StoredType, got.Source(),
			want.Spec.Type(), want.Department, want.FamilyID, want.StoredType, want.Source())
	case !reflect.DeepEqual(got.Data, want.Data):
		t.Fatalf("%s: payload %#v, want %#v", what, got.Data, want.Data)
	case events.ContentHash(got.Event) != events.ContentHash(want.Event):
		t.Fatalf("%s: content hashes differ", what)
	}
	if _, ok := got.Event.Extensions()[shred.Extension]; ok {
		t.Fatalf("%s: the decoded event carries %s", what, shred.Extension)
	}
}

// viaPlain is how Decode read a keyed event before it opened the data
// while parsing: Plain, then events.DecodeStored.
func viaPlain(ctx context.Context, k *shred.Keyring, subject string, sealed []byte, recorded time.Time) (events.Envelope, error) {
	plain, _, err := k.Plain(ctx, subject, sealed)
	if err != nil {
		return events.Envelope{}, err
	}
	return events.DecodeStored(subject, plain, recorded)
}

// TestDecodeAsPlain: Decode reads the sealed event of every catalog type
// with personal fields, from each of its schema's valid examples, as
// events.DecodeStored reads Plain's output; for a posted event whose data
// holds white space (the examples' own), whose department added an
// extension of its own, and for one whose jfkeyid comes first; and so
// again once the family is erased.
func TestDecodeAsPlain(t *testing.T) {
	ctx := context.Background()
	k, st := keyring(t)
	recorded := time.Now()
	type sealedEvent struct {
		name, subject string
		sealed        []byte
	}
	var all []sealedEvent
	n := 0
	for _, spec := range events.Catalog() {
		if len(spec.Personal) == 0 {
			continue
		}
		for _, f := range testenv.ExampleFiles(t, spec) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			n++
			dept := spec.Owners[0]
			subject := events.Subject("F-1", dept, spec.Name)
			posted := fmt.Appendf(nil, `{"specversion":"1.0","id":"e-%d","source":"/departments/%s","type":%q,"subject":"F-1",`+
				`"time":"2025-03-01T09:00:00Z","deptref":"R-7","data":%s}`, n, dept, spec.Type(), bytes.TrimSpace(data))
			env, err := events.DecodeStored(subject, posted, recorded)
			if err != nil {
				t.Fatalf("%s: the example as posted: %v", f, err)
			}
			compact, err := events.Marshal(env.Event)
			if err != nil {
				t.Fatal(err)
			}
			for i, b := range [][]byte{posted, compact} {
				// Each variant is an event of its own (a sealed field
				// is bound to its event's id).
				b = bytes.Replace(b, fmt.Appendf(nil, `"e-%d"`, n), fmt.Appendf(nil, `"e-%d-%d"`, n, i), 1)
				env, err := events.DecodeStored(subject, b, recorded)
				if err != nil {
					t.Fatal(err)
				}
				sealed, err := k.Seal(ctx, env, b)
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("%s %s #%d", spec.Type(), filepath.Base(f), i)
				if !bytes.Contains(sealed, []byte(`"`+shred.Extension+`"`)) {
					// No personal field set in this example: stored
					// as it is, and read as it is.
					got, err := k.Decode(ctx, subject, sealed, recorded)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					sameEnvelope(t, name, got, env)
					continue
				}
				all = append(all, sealedEvent{name, subject, sealed})
				if i == 1 {
					// jfkeyid first rather than last.
					keyAt := bytes.LastIndex(sealed, []byte(`,"`+shred.Extension+`"`))
					first := append([]byte(`{`), sealed[keyAt+1:len(sealed)-1]...)
					first = append(append(first, ','), sealed[1:keyAt]...)
					first = append(first, '}')
					all = append(all, sealedEvent{name + " jfkeyid first", subject, first})
				}
			}
		}
	}
	if len(all) < 10 {
		t.Fatalf("only %d sealed events", len(all))
	}
	check := func(k *shred.Keyring, erased bool) {
		t.Helper()
		for _, e := range all {
			want, err := viaPlain(ctx, k, e.subject, e.sealed, recorded)
			if err != nil {
				t.Fatalf("%s: Plain and DecodeStored: %v", e.name, err)
			}
			got, err := k.Decode(ctx, e.subject, e.sealed, recorded)
			if err != nil {
				t.Fatalf("%s: Decode: %v", e.name, err)
			}
			sameEnvelope(t, e.name, got, want)
			if tomb := bytes.Contains(got.Event.Data(), []byte(`"`+shred.Tombstone+`"`)); tomb != erased {
				t.Fatalf("%s: erased %v, data %s", e.name, erased, got.Event.Data())
			}
		}
	}
	check(k, false)
	// Another process's keyring, which reads the key from the bucket.
	check(shred.New(st.JS, shred.MasterOf(k)), false)

	erasedEv, err := events.Build(events.Service, "F-1", &events.FamilyErased{Reason: "Art. 17"}, events.WithID("erase-F-1"))
	if err != nil {
		t.Fatal(err)
	}
	eb, err := events.Marshal(erasedEv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.JS.Publish(ctx, shred.ErasedSubject("F-1"), eb); err != nil {
		t.Fatal(err)
	}
	if err := k.Destroy(ctx, "F-1"); err != nil {
		t.Fatal(err)
	}
	check(k, true)
	check(shred.New(st.JS, shred.MasterOf(k)), true)
}

// TestDecodeTampered: a keyed event that cannot be read fails Decode
// with the error Plain gives it, which the readers quarantine it with:
// no keys, a key of another family or one that is not a string, a field
// that does not open.
func TestDecodeTampered(t *testing.T) {
	ctx := context.Background()
	k, _ := keyring(t)
	recorded := time.Now()
	env, b := stored(t, events.BIF, "F-1", &events.FamilyReferred{Reason: marker, Note: "en note"}, "e1")
	sealed, err := k.Seal(ctx, env, b)
	if err != nil {
		t.Fatal(err)
	}
	// A second family's key exists: its id is a key the bucket holds.
	env2, b2 := stored(t, events.BIF, "F-2", &events.FamilyReferred{Reason: marker}, "e2")
	if _, err := k.Seal(ctx, env2, b2); err != nil {
		t.Fatal(err)
	}
	s := string(sealed)
	const keyMember = `"jfkeyid":"F-1.0"`
	if !strings.Contains(s, keyMember) {
		t.Fatalf("sealed event: %s", s)
	}
	reason, note := tokenOf(t, s, "reason"), tokenOf(t, s, "note")
	// One byte of the reason's ciphertext changed, still base64.
	at := len(`"`+shred.Prefix) + 10
	c := byte('A')
	if reason[at] == 'A' {
		c = 'B'
	}
	altered := reason[:at] + string(c) + reason[at+1:]
	swapped := strings.Replace(strings.Replace(strings.Replace(s, reason, "REASON", 1), note, reason, 1), "REASON", note, 1)

	var none *shred.Keyring
	sentinels := []error{shred.ErrNoKeys, shred.ErrUnknownKey, shred.ErrCorrupt, shred.ErrPlaintext, shred.ErrErased}
	for _, tc := range []struct {
		name  string
		k     *shred.Keyring
		event string
		want  error
	}{
		{"no keyring", none, s, shred.ErrNoKeys},
		{"the key of another family", k, strings.Replace(s, keyMember, `"jfkeyid":"F-2.0"`, 1), shred.ErrUnknownKey},
		{"not a key id", k, strings.Replace(s, keyMember, `"jfkeyid":"F-1"`, 1), shred.ErrUnknownKey},
		{"an empty key id", k, strings.Replace(s, keyMember, `"jfkeyid":""`, 1), shred.ErrUnknownKey},
		{"a key id with escapes", k, strings.Replace(s, keyMember, `"jfkeyid":"F-1\u002e0"`, 1), nil},
		{"a number for the key", k, strings.Replace(s, keyMember, `"jfkeyid":10`, 1), shred.ErrUnknownKey},
		{"an object for the key", k, strings.Replace(s, keyMember, `"jfkeyid":{"id":"F-1.0"}`, 1), shred.ErrUnknownKey},
		{"null for the key", k, strings.Replace(s, keyMember, `"jfkeyid":null`, 1), shred.ErrUnknownKey},
		{"a ciphertext altered", k, strings.Replace(s, reason, altered, 1), shred.ErrCorrupt},
		{"the fields' ciphertexts swapped", k, swapped, shred.ErrCorrupt},
		{"another event's id", k, strings.Replace(s, `"e1"`, `"e9"`, 1), shred.ErrCorrupt},
		{"a personal field in the clear", k, strings.Replace(s, reason, `"i klartekst"`, 1), shred.ErrCorrupt},
		{"no personal field sealed", k, strings.Replace(strings.Replace(s, reason, `"a"`, 1), note, `"b"`, 1), shred.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.k.Decode(ctx, env.Subject(), []byte(tc.event), recorded)
			_, before := viaPlain(ctx, tc.k, env.Subject(), []byte(tc.event), recorded)
			if tc.want == nil {
				if err != nil || before != nil {
					t.Fatalf("Decode: %v; before: %v", err, before)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode: %v, want %v", err, tc.want)
			}
			for _, s := range sentinels {
				if errors.Is(err, s) != errors.Is(before, s) {
					t.Fatalf("Decode: %v; before: %v", err, before)
				}
			}
		})
	}

	// Refused as before, with the events package's error now: two
	// jfkeyid members (which reader takes which differs between JSON
	// libraries), and a keyed event of a type the catalog does not know.
	var ee *events.Error
	twice := strings.TrimSuffix(s, "}") + `,` + keyMember + `}`
	if _, err := k.Decode(ctx, env.Subject(), []byte(twice), recorded); !errors.As(err, &ee) || ee.Kind != events.KindMalformed {
		t.Fatalf("two jfkeyid members: %v", err)
	}
	unknown := strings.Replace(s, `"type":"dk.kk.jobogfamilie.family.referred.v1"`, `"type":"dk.kk.jobogfamilie.family.referred.v9"`, 1)
	if unknown == s {
		t.Fatalf("no type in %s", s)
	}
	if _, err := k.Decode(ctx, env.Subject(), []byte(unknown), recorded); !errors.As(err, &ee) || ee.Kind != events.KindInvalid {
		t.Fatalf("a keyed event of an unknown type: %v", err)
	}
}
