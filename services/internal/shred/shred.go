// Package shred is erasure by crypto-shredding. Ingest encrypts every
// personal free-text field of an event (the catalog's Spec.Personal) with
// AES-256-GCM under its family's data key before the event is published;
// the readers decrypt while they read. The data keys live in the NATS KV
// bucket JF_KEYS, each wrapped by the operator's master key. Erasing a
// family records family.erased on the stream and then destroys its key:
// from then on its personal fields read as a tombstone, and the stream,
// which keeps every event, holds only ciphertext nobody can open.
package shred

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"kk.dk/jobogfamilie/events"
)

const (
	// Bucket is the KV bucket of the data keys.
	Bucket = "JF_KEYS"
	// Extension is the CloudEvents extension attribute that names the
	// data key an event's personal fields are encrypted with.
	Extension = "jfkeyid"
	// Prefix starts an encrypted field's value: jfenc:v2:<base64 of the
	// 12-byte nonce and the sealed JSON string token of the field, as it
	// was posted, escapes and quotes included>.
	Prefix = "jfenc:v2:"
	// PrefixV1 starts a value sealed by the first version, which sealed
	// the decoded text: it still opens, as that text written as JSON.
	PrefixV1 = "jfenc:v1:"
	// Tombstone is what an erased field reads as. It is valid where any
	// personal field is (a non-empty string of at most 100 characters),
	// so that an erased event decodes like any other; the entries that
	// carry one say so with "erased": true and the fields' names.
	Tombstone = "[slettet]"
	// ErasedType is the catalog name of the event that records an erasure.
	ErasedType = "family.erased"
)

// KeyID is the id of a family's data key: <familyId>.0 (the generation
// after the dot leaves room for a second key of a family).
func KeyID(familyID string) string { return familyID + ".0" }

// familyOfKey is KeyID's inverse.
func familyOfKey(keyID string) (string, bool) {
	f, ok := strings.CutSuffix(keyID, ".0")
	return f, ok && events.ValidID(f)
}

// ErasedSubject is the subject family.erased of a family is stored under.
func ErasedSubject(familyID string) string {
	return events.Subject(familyID, events.Service, ErasedType)
}

var (
	// ErrErased: the family's data was erased; nothing more is written
	// about it.
	ErrErased = errors.New("shred: the family's personal data is erased")
	// ErrUnknownKey: an event names a data key the bucket never held
	// for a family that was never erased. Its event is quarantined, not
	// read as erased.
	ErrUnknownKey = errors.New("shred: unknown data key")
	// ErrPlaintext: an event carries a personal field in the clear (a
	// direct publish that bypassed ingest).
	ErrPlaintext = errors.New("shred: personal field in plaintext")
	// ErrNoKeys: an event's personal fields are encrypted and the reader
	// was given no master key (a nil *Keyring): it cannot be read, and is
	// never taken for plaintext.
	ErrNoKeys = errors.New("shred: the event's personal fields are encrypted (jfkeyid) and this reader has no master key")
	// ErrCorrupt: an encrypted field does not open with its key.
	ErrCorrupt = errors.New("shred: encrypted field does not open")
)

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// aad binds a sealed field to its key, event and field: a value copied
// into another event or field does not open. v2 binds the version too.
func aad(version, keyID, eventID, field string) []byte {
	return appendAAD(nil, version, keyID, eventID, field)
}

// appendAAD is aad appended to b.
func appendAAD(b []byte, version, keyID, eventID, field string) []byte {
	if version != PrefixV1 {
		b = append(append(b, version...), 0)
	}
	b = append(append(b, keyID...), 0)
	b = append(append(b, eventID...), 0)
	return append(b, field...)
}

// sealField encrypts token, a personal field's JSON string token as it
// is written in the event.
func sealField(a cipher.AEAD, keyID, eventID, field string, token []byte) (string, error) {
	return seal(a, Prefix, keyID, eventID, field, token)
}

func seal(a cipher.AEAD, version, keyID, eventID, field string, plain []byte) (string, error) {
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	ct := a.Seal(nonce, nonce, plain, aad(version, keyID, eventID, field))
	return version + base64.RawStdEncoding.EncodeToString(ct), nil
}

// openField is the JSON string token that v, a sealed field's value,
// holds: for v2 the token as it was posted; for v1 the text written as
// encoding/json writes a string, without HTML escapes. v is the value's
// text; it is decrypted in a buffer of its own. The token is checked to
// be one string token in its quotes; its bytes are held to JSON by the
// reader (events.DecodeStoredWith's strict check, or json.Valid in open).
func openField(a cipher.AEAD, keyID, eventID, field string, v []byte) ([]byte, error) {
	version := Prefix
	b64, ok := bytes.CutPrefix(v, []byte(Prefix))
	if !ok {
		version = PrefixV1
		if b64, ok = bytes.CutPrefix(v, []byte(PrefixV1)); !ok {
			return nil, fmt.Errorf("%w: /data/%s is not %s…", ErrCorrupt, field, Prefix)
		}
	}
	// One buffer: the ciphertext, then the additional data.
	dl := base64.RawStdEncoding.DecodedLen(len(b64))
	buf := make([]byte, dl, dl+len(version)+len(keyID)+len(eventID)+len(field)+3)
	ad := appendAAD(buf[dl:dl], version, keyID, eventID, field)
	ct := buf[:dl]
	n, err := base64.RawStdEncoding.Decode(ct, b64)
	if err != nil || n < a.NonceSize()+a.Overhead() {
		return nil, fmt.Errorf("%w: /data/%s", ErrCorrupt, field)
	}
	ct = ct[:n]
	// The plaintext takes the ciphertext's place in its buffer.
	ns := a.NonceSize()
	pt, err := a.Open(ct[ns:ns], ct[:ns], ct[ns:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: /data/%s", ErrCorrupt, field)
	}
	if version == PrefixV1 {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(string(pt)); err != nil {
			return nil, err
		}
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
	}
	if end, ok := skipString(pt, 0); len(pt) == 0 || pt[0] != '"' || !ok || end != len(pt) {
		return nil, fmt.Errorf("%w: /data/%s does not hold a JSON string", ErrCorrupt, field)
	}
	return pt, nil
}

// fields are the top-level member names of the personal pointers of spec.
func fields(spec events.Spec) []string {
	out := make([]string, 0, len(spec.Personal))
	for _, p := range spec.Personal {
		out = append(out, strings.TrimPrefix(p, "/"))
	}
	return out
}

// personal reports whether m, a member of an event's data, is one of
// spec's personal fields, without allocating.
func personal(spec events.Spec, m member) bool {
	for _, p := range spec.Personal {
		if strings.TrimPrefix(p, "/") == string(m.name) {
			return true
		}
	}
	return false
}

// object is a JSON object's members, for rewriting an event.
type object = map[string]json.RawMessage

func stringMember(o object, name string) (string, bool) {
	raw, ok := o[name]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func marshalString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// quoted is a sealed field's value as a JSON string: its prefix and
// base64 need no escaping.
func quoted(v string) []byte {
	b := make([]byte, 0, len(v)+2)
	b = append(b, '"')
	b = append(b, v...)
	return append(b, '"')
}

// HasPersonal reports whether data (an event's data object) holds any of
// spec's personal fields. It reads the members' names only.
func HasPersonal(spec events.Spec, data []byte) bool {
	if len(spec.Personal) == 0 {
		return false
	}
	ms, err := members(data, 0)
	if err != nil {
		return false
	}
	for _, m := range ms {
		if personal(spec, m) {
			return true
		}
	}
	return false
}

// EraseData replaces the value of every personal field of data with the
// Tombstone, in place: every other byte of data stays as it is, as when
// Keyring.Plain opens an erased family's event. It returns data unchanged
// when it holds none (a row of a type without personal fields).
func EraseData(spec events.Spec, data []byte) ([]byte, bool) {
	if len(spec.Personal) == 0 {
		return data, false
	}
	ms, err := members(data, 0)
	if err != nil {
		return data, false
	}
	edits, _ := eraseTokens(ms, spec)
	if len(edits) == 0 {
		return data, false
	}
	return apply(data, edits), true
}

var tombstoneJSON = []byte(`"` + Tombstone + `"`)

// ErasedFields are the names of the personal fields of an event of type
// ceType whose data reads as erased; nil for most events, cheaply.
func ErasedFields(ceType string, data []byte) []string {
	if !bytes.Contains(data, tombstoneJSON) {
		return nil
	}
	spec, ok := events.ByType(ceType)
	if !ok || len(spec.Personal) == 0 {
		return nil
	}
	var d object
	if json.Unmarshal(data, &d) != nil {
		return nil
	}
	var out []string
	for _, f := range fields(spec) {
		if s, ok := stringMember(d, f); ok && s == Tombstone {
			out = append(out, f)
		}
	}
	return out
}
