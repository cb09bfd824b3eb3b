package eventstore

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// KeyBucket is the KV bucket of the families' data keys (package
	// shred), each wrapped by the operator's master key.
	KeyBucket = "JF_KEYS"
	// KeyStream is the stream that holds KeyBucket.
	KeyStream = "KV_" + KeyBucket
	// KeySubjects are KeyBucket's subjects.
	KeySubjects = "$KV." + KeyBucket + ".>"
)

// RotationKeysPerSubject is how many messages a key's subject holds while
// a master key rotation runs (shred.Keyring.Rewrap): the key wrapped by
// the old master key and its successor.
const RotationKeysPerSubject = 2

// KeyStreamConfig is the KV bucket JF_KEYS as a stream: a KV bucket with
// history 1, replicated like the event streams, whose keys are written
// once. Unlike the event streams it allows deleting a message: erasure
// overwrites a destroyed key's message on disk (a secure delete) and then
// writes a delete marker in its place, so that no copy of the wrapped key
// stays in the bucket's files. It does not deny purges, as the event
// streams do, so that an old bucket made with rollups can be updated to
// this configuration; a purge of the stream is refused by the NATS
// permissions. What stops a stream purge or delete of the bucket, and a
// message delete by anyone but erasure, is the NATS permissions
// (PermissionsFor, deploy/nats/accounts.conf); what stops a user that may
// create keys from replacing one is the server (DiscardNewPerSubject,
// no rollups).
func KeyStreamConfig(o StreamOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              KeyStream,
		Description:       "Job og Familie: the families' data keys, wrapped by the master key",
		Subjects:          []string{KeySubjects},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardNew,
		Replicas:          max(o.Replicas, 1),
		MaxMsgsPerSubject: 1,
		// A key is written once: the server refuses a second message on
		// a key's subject (a put, an update, a delete or purge marker),
		// so that no user that may create keys can replace or mark
		// deleted a key that exists. A rollup would pass that check: the
		// bucket allows none. Erasure first deletes the key's message,
		// which leaves room for the delete marker; master key rotation
		// (shred.Keyring.Rewrap) lifts the rule as the admin, rewraps,
		// and sets it again.
		DiscardNewPerSubject: true,
		MaxMsgs:              -1,
		MaxConsumers:         -1,
		MaxMsgSize:           -1,
		MaxBytes:             -1,
		Duplicates:           2 * time.Minute,
		AllowDirect:          true,
	}
}
