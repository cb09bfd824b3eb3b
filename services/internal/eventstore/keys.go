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

// KeyStreamConfig is the KV bucket JF_KEYS as a stream: a KV bucket with
// history 1, replicated like the event streams. Unlike the event streams
// it allows deleting a message: erasure overwrites a destroyed key's
// message on disk (a secure delete) before it purges the key, so that no
// copy of the wrapped key stays in the bucket's files. Nor may it deny
// purges: JetStream refuses the purge marker's rollup on a stream with
// DenyPurge. What stops a stream purge or delete of the bucket, and a
// message delete by anyone but erasure, is the NATS permissions
// (PermissionsFor, deploy/nats/accounts.conf).
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
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		MaxMsgSize:        -1,
		MaxBytes:          -1,
		Duplicates:        2 * time.Minute,
		AllowRollup:       true,
		AllowDirect:       true,
	}
}
