package shred_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// tricky is a stored family.referred as a department may write it: its
// own member order and white space, and personal strings whose tokens
// encoding/json would write otherwise (escapes it would not use, U+2028,
// <>& that it would escape, non-ASCII, a surrogate pair).
const tricky = "{ \"type\" : \"dk.kk.jobogfamilie.family.referred.v1\",\n" +
	"  \"data\": {\"note\" : \"æøå \\\"citat\\\" \\u2028 \u2028 \\/ <b>&amp;</b> \\ud83d\\ude00 \\u00e6\",\t\"reason\":\"Skolefravær <og> & ledighed \\t\"},\n" +
	"  \"id\":\"e-tricky\", \"specversion\" : \"1.0\",\"source\":\"/departments/bif\",\"subject\":\"F-1\"," +
	"\"time\":\"2025-03-01T09:00:00Z\",\"datacontenttype\":\"application/json\"," +
	"\"dataschema\":\"https://jobogfamilie.kk.dk/schemas/dk.kk.jobogfamilie.family.referred.v1.json\"\n}"

// TestSealOpenByteIdentical: sealing changes only the personal strings'
// values and appends jfkeyid; opening gives back the stored bytes as
// posted, byte for byte, and erasure puts the tombstone in place of the
// tokens and changes nothing else.
func TestSealOpenByteIdentical(t *testing.T) {
	ctx := context.Background()
	k, st := keyring(t)
	subj := events.Subject("F-1", events.BIF, "family.referred")
	env, err := events.DecodeStored(subj, []byte(tricky), time.Now())
	if err != nil {
		t.Fatalf("the test's event: %v", err)
	}
	sealed, err := k.Seal(ctx, env, []byte(tricky))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"citat", "æøå", "Skolefravær", "ledighed", `\ud83d`, "<b>"} {
		if bytes.Contains(sealed, []byte(text)) {
			t.Errorf("sealed event holds %q: %s", text, sealed)
		}
	}
	// The sealed event is the posted one with two values replaced and
	// one member appended.
	note, reason := tokenOf(t, tricky, "note"), tokenOf(t, tricky, "reason")
	sn, sr := tokenOf(t, string(sealed), "note"), tokenOf(t, string(sealed), "reason")
	if !strings.HasPrefix(sn, `"`+shred.Prefix) || !strings.HasPrefix(sr, `"`+shred.Prefix) {
		t.Fatalf("sealed values %s %s", sn, sr)
	}
	want := strings.Replace(strings.Replace(tricky, note, sn, 1), reason, sr, 1)
	want = strings.TrimSuffix(want, "\n}") + `,"jfkeyid":"F-1.0"` + "\n}"
	if string(sealed) != want {
		t.Fatalf("sealed:\n%s\nwant\n%s", sealed, want)
	}

	plain, erased, err := k.Plain(ctx, subj, sealed)
	if err != nil || erased != nil {
		t.Fatalf("plain: %v %v", erased, err)
	}
	if string(plain) != tricky {
		t.Fatalf("opened:\n%s\nposted\n%s", plain, tricky)
	}
	// What every reader decodes is the posted event: the content hash
	// that ingest's idempotency compares is the posted one's.
	got, err := shred.New(st.JS, mustMaster(t, k)).Decode(ctx, subj, sealed, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if events.ContentHash(got.Event) != events.ContentHash(env.Event) || !bytes.Equal(got.Event.Data(), env.Event.Data()) {
		t.Fatalf("decoded data %s, posted %s", got.Event.Data(), env.Event.Data())
	}

	// A sealed value moved to another field, or into another event, does
	// not open.
	swapped := strings.Replace(strings.Replace(string(sealed), sn, "NOTE", 1), sr, sn, 1)
	swapped = strings.Replace(swapped, "NOTE", sr, 1)
	if _, _, err := k.Plain(ctx, subj, []byte(swapped)); !errors.Is(err, shred.ErrCorrupt) {
		t.Fatalf("swapped fields: %v", err)
	}
	other := strings.Replace(string(sealed), `"e-tricky"`, `"e-other"`, 1)
	if _, _, err := k.Plain(ctx, subj, []byte(other)); !errors.Is(err, shred.ErrCorrupt) {
		t.Fatalf("another event's id: %v", err)
	}

	// Erased: the tombstone in place of each token, nothing else changed,
	// and the read model's rows are erased the same way.
	tomb := strings.Replace(strings.Replace(tricky, note, `"[slettet]"`, 1), reason, `"[slettet]"`, 1)
	erasedEv, _ := events.Build(events.Service, "F-1", &events.FamilyErased{Reason: "Art. 17"}, events.WithID("erase-F-1"))
	eb, _ := events.Marshal(erasedEv)
	if _, err := st.JS.Publish(ctx, shred.ErasedSubject("F-1"), eb); err != nil {
		t.Fatal(err)
	}
	if err := k.Destroy(ctx, "F-1"); err != nil {
		t.Fatal(err)
	}
	plain, erased, err = shred.New(st.JS, mustMaster(t, k)).Plain(ctx, subj, sealed)
	if err != nil || strings.Join(erased, ",") != "note,reason" {
		t.Fatalf("erased plain: %v %v", erased, err)
	}
	if string(plain) != tomb {
		t.Fatalf("erased:\n%s\nwant\n%s", plain, tomb)
	}
	data := []byte(" {\"reason\" :\"Skolefravær \\u003c\", \"note\":\"x\",\"other\":1 }")
	rowErased, changed := shred.EraseData(env.Spec, data)
	if !changed || string(rowErased) != " {\"reason\" :\"[slettet]\", \"note\":\"[slettet]\",\"other\":1 }" {
		t.Fatalf("EraseData: %s", rowErased)
	}
	if same, changed := shred.EraseData(env.Spec, []byte(`{"other":"<x>"}`)); changed || string(same) != `{"other":"<x>"}` {
		t.Fatalf("EraseData without personal fields: %s", same)
	}
}

// tokenOf is the value token of the data member name in doc, as written.
func tokenOf(t *testing.T, doc, name string) string {
	t.Helper()
	i := strings.Index(doc, `"`+name+`"`)
	if i < 0 {
		t.Fatalf("no %s in %s", name, doc)
	}
	rest := strings.TrimLeft(doc[i+len(name)+2:], " \t\n")
	rest = strings.TrimLeft(strings.TrimPrefix(rest, ":"), " \t\n")
	for j := 1; j < len(rest); j++ {
		switch rest[j] {
		case '\\':
			j++
		case '"':
			return rest[:j+1]
		}
	}
	t.Fatalf("no string value of %s in %s", name, doc)
	return ""
}

// TestOpenV1: a field sealed by the first version (the decoded text)
// still opens, as the text written as JSON without HTML escapes, in place.
func TestOpenV1(t *testing.T) {
	ctx := context.Background()
	k, _ := keyring(t)
	env, b := stored(t, events.BIF, "F-1", &events.FamilyReferred{Reason: "x"}, "e1")
	v, err := shred.SealV1(k, "F-1", "e1", "reason", `<a> & "b"`)
	if err != nil {
		t.Fatal(err)
	}
	v1 := strings.Replace(string(b), `"reason":"x"`, `"reason":"`+v+`"`, 1)
	v1 = strings.TrimSuffix(v1, "}") + `,"jfkeyid":"F-1.0"}`
	plain, _, err := k.Plain(ctx, env.Subject(), []byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(string(b), `"reason":"x"`, `"reason":"<a> & \"b\""`, 1); string(plain) != want {
		t.Fatalf("v1 opened:\n%s\nwant\n%s", plain, want)
	}
}

// TestJfkeyidInText: a plaintext event whose text holds "jfkeyid" is not
// a keyed one, and a jfkeyid member that is not last is removed with its
// comma.
func TestJfkeyidInText(t *testing.T) {
	ctx := context.Background()
	k, _ := keyring(t)
	env, b := stored(t, events.BIF, "F-1", &events.FamilyReferred{Reason: `x "jfkeyid"`}, "e1")
	if _, err := k.Decode(ctx, env.Subject(), b, time.Now()); !errors.Is(err, shred.ErrPlaintext) {
		t.Fatalf("plaintext naming jfkeyid: %v", err)
	}
	if p, _, err := k.Plain(ctx, env.Subject(), b); !errors.Is(err, shred.ErrPlaintext) {
		t.Fatalf("plain of a plaintext event: %s %v, want ErrPlaintext as Decode", p, err)
	}
	env, b = stored(t, events.BIF, "F-1", &events.FamilyReferred{Reason: "y"}, "e2")
	sealed, err := k.Seal(ctx, env, b)
	if err != nil {
		t.Fatal(err)
	}
	first := `{"jfkeyid":"F-1.0",` + strings.TrimSuffix(strings.TrimPrefix(string(sealed), "{"), `,"jfkeyid":"F-1.0"}`) + "}"
	if p, _, err := k.Plain(ctx, env.Subject(), []byte(first)); err != nil || !bytes.Equal(p, b) {
		t.Fatalf("jfkeyid first: %s %v", p, err)
	}
}
