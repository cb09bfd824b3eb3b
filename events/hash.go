package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"hash"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"kk.dk/jobogfamilie/events/internal/jsonscan"
)

// contentHashVersion starts every hashed input, so that a later change of
// what is hashed cannot collide with hashes already stored.
const contentHashVersion = "jobogfamilie/content-hash/v1"

// ContentHash is the digest that decides whether an event re-sent with an
// id already stored is the same event (answered as a duplicate) or another
// one (refused as a conflict). It covers id, source, type, subject, time (as
// an instant, so the offset it was written with does not matter) and data
// in a canonical JSON form (members sorted, no insignificant white space,
// strings unescaped, numbers as written). It leaves out what ingest adds or
// what does not change the event's meaning: dataschema, datacontenttype,
// the transport mode and extension attributes such as trace context, which
// differ between retries of one event.
func ContentHash(ev cloudevents.Event) [32]byte {
	h := sha256.New()
	field(h, []byte(contentHashVersion))
	if ev.Context == nil {
		return [32]byte(h.Sum(nil))
	}
	field(h, []byte(ev.ID()))
	field(h, []byte(ev.Source()))
	field(h, []byte(ev.Type()))
	field(h, []byte(ev.Subject()))
	var ts string
	if t := ev.Time(); !t.IsZero() {
		ts = t.UTC().Format(time.RFC3339Nano)
	}
	field(h, []byte(ts))
	if c, ok := canonicalJSON(ev.Data()); ok {
		field(h, []byte{'j'})
		field(h, c)
	} else {
		// Not JSON, so never valid; still hash it, apart from any JSON.
		field(h, []byte{'r'})
		field(h, ev.Data())
	}
	return [32]byte(h.Sum(nil))
}

// field writes b length-prefixed, so that no two field lists hash alike.
func field(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// canonicalJSON re-encodes a JSON document: json.Marshal sorts map keys and
// writes no white space, and json.Number keeps numbers as written.
func canonicalJSON(b []byte) ([]byte, bool) {
	if len(b) == 0 {
		return nil, false
	}
	if c, ok := jsonscan.Canonical(b); ok {
		return c, true
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, false
	}
	c, err := json.Marshal(v)
	return c, err == nil
}
