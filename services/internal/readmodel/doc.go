// Package readmodel is the SQLite read model of Job og Familie: the
// timeline, overviews and access of every family, folded from the
// FAMILY_EVENTS stream. The projector applies the stream to it and serves
// the coordinator API from it; the audit service reads it (the family →
// sequences index, as-of views) and verifies it against a replay.
//
// # Schema
//
// One file per model (WAL mode, synchronous=NORMAL, one writer
// connection, a pool of readers). Its schema is created by versioned
// migrations (schema_migrations). Tables: timeline (one row per valid
// event: family, sequence, id, time, recordedAt = the JetStream
// timestamp, department, type, Danish title, data, actor = source, and
// the members of data the consent gate reads in stored generated columns),
// families (status and the overview JSON from family.State.Overview, the
// only place domain rules live), family_access (the employees
// family.State.Assigned names), quarantine and checkpoint. The timeline's
// (family_id, sequence) index is the family → sequences index an audit
// service uses to find a family's messages in the stream.
//
// # Applying
//
// Messages are decoded by the catalog's rules (events.DecodeStored, with
// the message's JetStream timestamp as "now", so that a replay decides as
// the live projector did) and applied a batch at a time (Model.Apply) in
// ONE transaction that also stores the checkpoint: the last stream
// sequence applied. Messages at or below the checkpoint are skipped, so a
// batch delivered again changes nothing.
//
// Overviews and access rows are written at flushes (Flusher: every batch
// once caught up or while few families wait; while catching up at most
// every second and never more than a tenth of the time). The checkpoint
// row keeps both the timeline's position and the flushed one; readers are
// given the flushed one, so every read sees timeline, overviews and access
// in agreement. An empty model far behind the stream is bulk loaded:
// without the timeline's secondary indexes, which are built by one sort at
// the end (SetBulk, EndBulk). A model that serves no family reads while it
// loads (a rebuild's, a catch-up's) scrubs the erasures it applies once, at
// the end, rather than after each (DeferScrub).
//
// # Family state
//
// The model keeps each family's family.State in memory. After a restart a
// family's state is rebuilt lazily, by folding its stored timeline rows in
// sequence order the first time a new event of the family arrives; no
// snapshot is stored, so there is nothing that could disagree with the
// rows.
//
// # Poison messages
//
// A message that is not a valid catalog event (invalid JSON, unknown type,
// schema failure, subject that disagrees with the event, type not owned by
// the department; possible by direct NATS publish) is written to the
// quarantine table with its sequence and reason. It advances the
// checkpoint like any other message and never stops the applier.
//
// # Readers
//
// The coordinator API's queries (Timeline, Families, Overview, HasAccess,
// EntriesAfter) run on the reader pool. A View gives the audit service a
// live model (the projector's, or a Follower's for `audit serve`): its
// position, FamilyRefs, AsOf and Verify, which replays the stream into a
// fresh model and compares digests (digest.go).
package readmodel
