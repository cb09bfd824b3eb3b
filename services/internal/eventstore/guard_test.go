package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// filled publishes n messages to FAMILY_EVENTS and m to ACCESS_LOG and
// returns the last sequences.
func filled(t *testing.T, js jetstream.JetStream, n, m int) (fam, acc uint64) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		ack, err := js.Publish(ctx, fmt.Sprintf("families.F%d.sof.family.referred", i%3), []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		fam = ack.Sequence
	}
	for i := range m {
		ack, err := js.Publish(ctx, fmt.Sprintf("access.F%d", i%3), []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		acc = ack.Sequence
	}
	return fam, acc
}

// openDamageable opens a store as testenv.OpenStore does, and an admin
// connection to its server that may update, delete and create streams.
func openDamageable(t *testing.T) (s *eventstore.Store, admin jetstream.JetStream) {
	t.Helper()
	id := testenv.AdminKey()
	s = testenv.OpenStore(t, &id)
	_, admin = testenv.AdminJS(t, "", s.Server)
	return s, admin
}

// integrityGauges reads jf_store_integrity_ok as "stream/check" → value.
func integrityGauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "jf_store_integrity_ok" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var stream, check string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "stream":
					stream = l.GetValue()
				case "check":
					check = l.GetValue()
				}
			}
			out[stream+"/"+check] = m.GetGauge().GetValue()
		}
	}
	return out
}

func failedChecks(g map[string]float64) []string {
	var out []string
	for k, v := range g {
		if v != 1 {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Each way of losing events, or the protection against losing them, is
// found by its own check, whatever client did it.
func TestGuardFindsEachKindOfDamage(t *testing.T) {
	t.Parallel()
	fam := eventstore.FamilyStreamConfig(eventstore.StreamOptions{})
	// recreatedAs creates FAMILY_EVENTS again, empty, with change made to
	// its config.
	recreatedAs := func(change func(*jetstream.StreamConfig)) func(*testing.T, jetstream.JetStream) {
		return func(t *testing.T, js jetstream.JetStream) {
			c := fam
			change(&c)
			testenv.RecreateStream(t, js, c)
		}
	}
	tests := []struct {
		name string
		// empty: nothing is published first (the stream never held a
		// message, so only the damaged setting can fail).
		empty  bool
		damage func(t *testing.T, js jetstream.JetStream)
		// want are the failing checks, as stream/check.
		want []string
		// detail is part of the reported reason.
		detail string
	}{
		{
			// Every batch is refused whole (ErrUnavailable) until the
			// setup step restores the stream: /readyz says why.
			name: "atomic publish turned off",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) {
					c.AllowAtomicPublish = false
				})
			},
			want:   []string{"FAMILY_EVENTS/atomic-publish"},
			detail: "FAMILY_EVENTS takes no atomic batch",
		},
		{
			name: "MaxMsgs lowered truncates the stream",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) {
					c.MaxMsgs, c.Discard = 5, jetstream.DiscardOld
				})
			},
			want:   []string{"FAMILY_EVENTS/first-sequence", "FAMILY_EVENTS/limits"},
			detail: "FAMILY_EVENTS first sequence is 16, not 1",
		},
		{
			name: "MaxBytes set",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.MaxBytes = 1 << 30 })
			},
			want:   []string{"FAMILY_EVENTS/limits"},
			detail: "MaxBytes=1073741824",
		},
		{
			name: "MaxAge set",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.MaxAge = 24 * time.Hour })
			},
			want:   []string{"FAMILY_EVENTS/limits"},
			detail: "MaxAge=24h0m0s",
		},
		{
			name: "MaxMsgsPerSubject set",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.MaxMsgsPerSubject = 1000 })
			},
			want:   []string{"FAMILY_EVENTS/limits"},
			detail: "MaxMsgsPerSubject=1000",
		},
		{
			name: "interest retention",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.Retention = jetstream.InterestPolicy })
			},
			// Without consumers, every message goes at once.
			want:   []string{"FAMILY_EVENTS/first-sequence", "FAMILY_EVENTS/retention"},
			detail: "FAMILY_EVENTS retention is Interest, not limits",
		},
		{
			name: "stream deleted",
			damage: func(t *testing.T, js jetstream.JetStream) {
				if err := js.DeleteStream(context.Background(), eventstore.FamilyStream); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"FAMILY_EVENTS/atomic-publish", "FAMILY_EVENTS/contiguous", "FAMILY_EVENTS/deny-delete", "FAMILY_EVENTS/deny-purge", "FAMILY_EVENTS/first-sequence",
				"FAMILY_EVENTS/last-sequence", "FAMILY_EVENTS/limits", "FAMILY_EVENTS/present", "FAMILY_EVENTS/replicas",
				"FAMILY_EVENTS/republish", "FAMILY_EVENTS/retention", "FAMILY_EVENTS/sealed", "FAMILY_EVENTS/sources", "FAMILY_EVENTS/subjects"},
			detail: "FAMILY_EVENTS is missing, but this process has seen it hold sequence 20 (test reader): it is not created again empty",
		},
		{
			name:   "stream recreated empty",
			damage: func(t *testing.T, js jetstream.JetStream) { testenv.RecreateStream(t, js, fam) },
			want:   []string{"FAMILY_EVENTS/last-sequence"},
			detail: "FAMILY_EVENTS last sequence is 0, below 20, which this process has seen (test reader)",
		},
		{
			name:   "recreated without deny delete",
			empty:  true,
			damage: recreatedAs(func(c *jetstream.StreamConfig) { c.DenyDelete = false }),
			want:   []string{"FAMILY_EVENTS/deny-delete"},
			detail: "FAMILY_EVENTS allows deleting messages",
		},
		{
			name:   "recreated without deny purge",
			empty:  true,
			damage: recreatedAs(func(c *jetstream.StreamConfig) { c.DenyPurge = false }),
			want:   []string{"FAMILY_EVENTS/deny-purge"},
			detail: "FAMILY_EVENTS allows purging",
		},
		{
			name: "subjects narrowed",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) {
					c.Subjects = []string{"families.*.sof.>", "families.*.buf.>", "families.*.suf.>", "families.*.service.>"}
				})
			},
			want:   []string{"FAMILY_EVENTS/subjects"},
			detail: `FAMILY_EVENTS subjects are ["families.*.sof.>" "families.*.buf.>" "families.*.suf.>" "families.*.service.>"], not ["families.>"]`,
		},
		{
			name: "subject added with a transform into the families' subjects",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) {
					c.Subjects = append(c.Subjects, "adm.>")
					c.SubjectTransform = &jetstream.SubjectTransformConfig{Source: "adm.*.*.*.*",
						Destination: "families.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}.{{wildcard(4)}}"}
				})
			},
			want:   []string{"FAMILY_EVENTS/subjects"},
			detail: `FAMILY_EVENTS has a subject transform {"src":"adm.*.*.*.*"`,
		},
		{
			name: "another stream sourced",
			damage: func(t *testing.T, js jetstream.JetStream) {
				ctx := context.Background()
				if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FORGED", Subjects: []string{"forged.>"}}); err != nil {
					t.Fatal(err)
				}
				if _, err := js.Publish(ctx, "forged.F1", []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
				testenv.UpdateStream(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) {
					c.Sources = []*jetstream.StreamSource{{Name: "FORGED"}}
				})
			},
			want:   []string{"FAMILY_EVENTS/sources"},
			detail: `FAMILY_EVENTS sources [{"name":"FORGED"`,
		},
		{
			name:  "recreated as a mirror",
			empty: true,
			damage: func(t *testing.T, js jetstream.JetStream) {
				if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "ELSEWHERE", Subjects: []string{"elsewhere.>"}}); err != nil {
					t.Fatal(err)
				}
				recreatedAs(func(c *jetstream.StreamConfig) {
					c.Subjects, c.AllowAtomicPublish, c.Mirror = nil, false, &jetstream.StreamSource{Name: "ELSEWHERE"}
				})(t, js)
			},
			want:   []string{"FAMILY_EVENTS/atomic-publish", "FAMILY_EVENTS/sources", "FAMILY_EVENTS/subjects"},
			detail: `FAMILY_EVENTS mirrors {"name":"ELSEWHERE"`,
		},
		{
			name: "republishing",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) {
					c.RePublish = &jetstream.RePublish{Source: ">", Destination: "copy.>"}
				})
			},
			want:   []string{"FAMILY_EVENTS/republish"},
			detail: `FAMILY_EVENTS republishes its messages: {"src":">","dest":"copy.>"}`,
		},
		{
			name: "sealed",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.Sealed = true })
			},
			want:   []string{"FAMILY_EVENTS/sealed"},
			detail: "FAMILY_EVENTS is sealed",
		},
		{
			name: "MaxAge on the key bucket",
			damage: func(t *testing.T, js jetstream.JetStream) {
				// The server wants no dedupe window longer than MaxAge.
				testenv.UpdateStream(t, js, eventstore.KeyStream, func(c *jetstream.StreamConfig) { c.MaxAge, c.Duplicates = time.Second, time.Second })
			},
			want:   []string{"KV_JF_KEYS/limits"},
			detail: "KV_JF_KEYS has limits that delete data keys, each an erasure of its family that nothing records: MaxAge=1s",
		},
		{
			name: "MaxMsgs on the key bucket",
			damage: func(t *testing.T, js jetstream.JetStream) {
				// Discarding the oldest takes the write-once rule off.
				testenv.UpdateStream(t, js, eventstore.KeyStream, func(c *jetstream.StreamConfig) {
					c.MaxMsgs, c.Discard, c.DiscardNewPerSubject = 1, jetstream.DiscardOld, false
				})
			},
			want:   []string{"KV_JF_KEYS/limits", "KV_JF_KEYS/write-once"},
			detail: "KV_JF_KEYS has limits that delete data keys, each an erasure of its family that nothing records: MaxMsgs=1",
		},
		{
			name: "rollups allowed on the key bucket",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.KeyStream, func(c *jetstream.StreamConfig) { c.AllowRollup = true })
			},
			want:   []string{"KV_JF_KEYS/rollup"},
			detail: "KV_JF_KEYS allows rollups",
		},
		{
			name: "interest retention on the key bucket",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.KeyStream, func(c *jetstream.StreamConfig) { c.Retention = jetstream.InterestPolicy })
			},
			want:   []string{"KV_JF_KEYS/retention"},
			detail: "KV_JF_KEYS retention is Interest, not limits",
		},
		{
			name: "key bucket sealed",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.KeyStream, func(c *jetstream.StreamConfig) { c.Sealed = true })
			},
			want:   []string{"KV_JF_KEYS/sealed"},
			detail: "KV_JF_KEYS is sealed",
		},
		{
			name: "a source writing into the key bucket",
			damage: func(t *testing.T, js jetstream.JetStream) {
				ctx := context.Background()
				if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FORGED", Subjects: []string{"forged.>"}}); err != nil {
					t.Fatal(err)
				}
				if _, err := js.Publish(ctx, "forged.F9.0", []byte("v1:forged")); err != nil {
					t.Fatal(err)
				}
				testenv.UpdateStream(t, js, eventstore.KeyStream, func(c *jetstream.StreamConfig) {
					c.Sources = []*jetstream.StreamSource{{Name: "FORGED",
						SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "forged.>", Destination: "$KV.JF_KEYS.>"}}}}
				})
			},
			want:   []string{"KV_JF_KEYS/sources"},
			detail: `KV_JF_KEYS sources [{"name":"FORGED"`,
		},
		{
			name: "key bucket given a subject with a transform into the keys' subjects",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.KeyStream, func(c *jetstream.StreamConfig) {
					c.Subjects = append(c.Subjects, "adm.>")
					c.SubjectTransform = &jetstream.SubjectTransformConfig{Source: "adm.*.*", Destination: "$KV.JF_KEYS.{{wildcard(1)}}.{{wildcard(2)}}"}
				})
			},
			want:   []string{"KV_JF_KEYS/subjects"},
			detail: `KV_JF_KEYS has a subject transform {"src":"adm.*.*"`,
		},
		{
			name: "key bucket republishing the wrapped keys",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.KeyStream, func(c *jetstream.StreamConfig) {
					c.RePublish = &jetstream.RePublish{Source: ">", Destination: "copy.>"}
				})
			},
			want:   []string{"KV_JF_KEYS/republish"},
			detail: `KV_JF_KEYS republishes its messages: {"src":">","dest":"copy.>"}`,
		},
		{
			name: "key bucket deleted",
			damage: func(t *testing.T, js jetstream.JetStream) {
				if err := js.DeleteStream(context.Background(), eventstore.KeyStream); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"KV_JF_KEYS/limits", "KV_JF_KEYS/present", "KV_JF_KEYS/replicas", "KV_JF_KEYS/republish", "KV_JF_KEYS/retention",
				"KV_JF_KEYS/rollup", "KV_JF_KEYS/sealed", "KV_JF_KEYS/sources", "KV_JF_KEYS/subjects", "KV_JF_KEYS/write-once"},
			detail: "KV_JF_KEYS is missing: no family's data key, and so no personal field, can be read",
		},
		{
			name: "access log truncated",
			damage: func(t *testing.T, js jetstream.JetStream) {
				testenv.UpdateStream(t, js, eventstore.AccessLogStream, func(c *jetstream.StreamConfig) {
					c.MaxMsgs, c.Discard = 1, jetstream.DiscardOld
				})
			},
			want:   []string{"ACCESS_LOG/first-sequence", "ACCESS_LOG/limits"},
			detail: "ACCESS_LOG first sequence is 3, not 1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, admin := openDamageable(t)
			ctx := context.Background()
			var famLast, accLast uint64
			if !tc.empty {
				famLast, accLast = filled(t, s.JS, 20, 3)
				// A family's data key, as ingest writes it.
				kv, err := s.JS.KeyValue(ctx, eventstore.KeyBucket)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := kv.Create(ctx, "F0.0", []byte("v1:wrapped")); err != nil {
					t.Fatal(err)
				}
			}
			g, err := eventstore.NewGuard(eventstore.GuardOptions{Log: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			g.Register(reg)
			g.Seen(eventstore.FamilyStream, "test reader", func() uint64 { return famLast })
			g.Seen(eventstore.AccessLogStream, "test access log", func() uint64 { return accLast })
			if err := g.Check(ctx, s.JS); err != nil {
				t.Fatalf("intact store: %v", err)
			}
			if got := failedChecks(integrityGauges(t, reg)); len(got) != 0 {
				t.Fatalf("intact store: failing gauges %v", got)
			}
			if err := g.Refusal(); err != nil {
				t.Fatalf("intact store refuses: %v", err)
			}

			tc.damage(t, admin)
			err = g.Check(ctx, s.JS)
			if !errors.Is(err, eventstore.ErrIntegrity) || !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("check: %v, want ErrIntegrity with %q", err, tc.detail)
			}
			if got := failedChecks(integrityGauges(t, reg)); !slices.Equal(got, tc.want) {
				t.Errorf("failing gauges %v, want %v", got, tc.want)
			}
			for _, fn := range []func() error{g.Refusal, func() error { return g.Ready(ctx) }} {
				if err := fn(); err == nil || !strings.Contains(err.Error(), tc.detail) {
					t.Errorf("ready/refusal: %v, want %q", err, tc.detail)
				}
			}
		})
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A limit lowered and lifted again between two checks deletes events from
// the middle of the history: the first and the last sequence stay as they
// were, and the guard finds the gap.
func TestGuardFindsEventsDeletedFromTheMiddle(t *testing.T) {
	t.Parallel()
	s, admin := openDamageable(t)
	ctx := context.Background()
	var last uint64
	pub := func(subj string) {
		ack, err := s.JS.Publish(ctx, subj, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		last = ack.Sequence
	}
	pub("families.F0.sof.family.referred") // sequence 1, its subject's only message
	for range 10 {
		pub("families.F1.sof.meeting.held")
	}
	pub("families.F2.sof.family.referred") // the last, its subject's only message
	g, err := eventstore.NewGuard(eventstore.GuardOptions{Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	g.Register(reg)
	g.Seen(eventstore.FamilyStream, "test reader", func() uint64 { return last })
	if err := g.Check(ctx, s.JS); err != nil {
		t.Fatalf("intact store: %v", err)
	}

	testenv.UpdateStream(t, admin, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.MaxMsgsPerSubject = 1 })
	testenv.UpdateStream(t, admin, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.MaxMsgsPerSubject = -1 })

	st, err := s.JS.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	if state := st.CachedInfo().State; state.FirstSeq != 1 || state.LastSeq != last || state.Msgs != 3 {
		t.Fatalf("premise: first %d, last %d, %d messages; want 1, %d, 3", state.FirstSeq, state.LastSeq, state.Msgs, last)
	}
	err = g.Check(ctx, s.JS)
	const detail = "FAMILY_EVENTS holds 3 messages from sequence 1 to 12, not 12: 9 were deleted from the middle"
	if !errors.Is(err, eventstore.ErrIntegrity) || !strings.Contains(err.Error(), detail) {
		t.Fatalf("check: %v, want ErrIntegrity with %q", err, detail)
	}
	if got := failedChecks(integrityGauges(t, reg)); !slices.Equal(got, []string{"FAMILY_EVENTS/contiguous"}) {
		t.Errorf("failing gauges %v", got)
	}
}

// What the store holds after ordinary use passes every check, before and
// after a graceful restart: an empty store, single events, atomic batches,
// a batch refused on its expectation, duplicates, access-log entries,
// families' data keys and an erasure, which deletes a key's message.
func TestGuardPassesOrdinaryUseAndRestarts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	storeDir := t.TempDir()
	open := func() *eventstore.Store {
		s, err := eventstore.Open(ctx, eventstore.OpenOptions{
			Embedded: eventstore.EmbeddedOptions{StoreDir: storeDir, Listen: "off"}, Name: "test", Log: quietLog(),
		})
		if err != nil {
			t.Fatal(err)
		}
		testenv.CheckFor(t, 10*time.Second, func() error { return s.Ready(ctx) })
		return s
	}
	var famLast, accLast uint64
	check := func(s *eventstore.Store, when string) {
		t.Helper()
		g, err := eventstore.NewGuard(eventstore.GuardOptions{Log: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		g.Seen(eventstore.FamilyStream, "test reader", func() uint64 { return famLast })
		g.Seen(eventstore.AccessLogStream, "test access log", func() uint64 { return accLast })
		if err := g.Check(ctx, s.JS); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	s := open()
	check(s, "empty store")
	pub, err := eventstore.NewPublisher(s.NC)
	if err != nil {
		t.Fatal(err)
	}
	msg := func(fam, id string, expect bool, seq uint64) eventstore.Message {
		return eventstore.Message{Subject: "families." + fam + ".bif.x", Data: []byte(`{}`), MsgID: id,
			Expect: expect, ExpectFilter: "families." + fam + ".>", ExpectSeq: seq}
	}
	if famLast, err = pub.PublishBatch(ctx, []eventstore.Message{msg("A", "1", true, 0), msg("A", "2", false, 0), msg("B", "3", true, 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.PublishBatch(ctx, []eventstore.Message{msg("C", "4", true, 0), msg("B", "5", true, 0)}); err == nil {
		t.Fatal("a batch with a stale expectation was stored")
	}
	if _, err := pub.Publish(ctx, msg("A", "6", true, 1)); err == nil {
		t.Fatal("a stale expectation was stored")
	}
	for _, id := range []string{"6", "6", "7"} {
		ack, err := pub.Publish(ctx, msg("D", id, false, 0))
		if err != nil {
			t.Fatal(err)
		}
		famLast = ack.Sequence
	}
	_, accLast = filled(t, s.JS, 0, 4)
	kv, err := s.JS.KeyValue(ctx, eventstore.KeyBucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range []string{"A", "B", "D"} {
		if _, err := kv.Create(ctx, shred.KeyID(fam), []byte("v1:wrapped-"+fam)); err != nil {
			t.Fatal(err)
		}
	}
	master, err := shred.LoadOrCreateDevMasterKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := shred.New(s.JS, master).Destroy(ctx, "B"); err != nil {
		t.Fatalf("erasure: %v", err)
	}
	check(s, "after use")
	s.Close()
	s = open()
	defer s.Close()
	check(s, "after a restart")
}

// A stream at fewer replicas than configured (the admin lowered them from
// 3 to 1) fails the replicas check; deploytest lowers them on the cluster.
func TestGuardFindsFewerReplicasThanConfigured(t *testing.T) {
	t.Parallel()
	s := testenv.OpenStore(t, nil)
	ctx := context.Background()
	g, err := eventstore.NewGuard(eventstore.GuardOptions{Streams: eventstore.StreamOptions{Replicas: 3}, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	err = g.Check(ctx, s.JS)
	for _, want := range []string{"FAMILY_EVENTS is at R1, not the configured R3", "ACCESS_LOG is at R1, not the configured R3",
		"KV_JF_KEYS is at R1, not the configured R3"} {
		if !errors.Is(err, eventstore.ErrIntegrity) || !strings.Contains(err.Error(), want) {
			t.Errorf("check: %v, want ErrIntegrity with %q", err, want)
		}
	}
}

// A client may raise the deny flags but not lift them: the server refuses,
// and the guard keeps passing. Lifted limits clear the finding on the
// next check.
func TestGuardRecoversAndDenyFlagsCannotBeLifted(t *testing.T) {
	t.Parallel()
	s, admin := openDamageable(t)
	ctx := context.Background()
	filled(t, s.JS, 10, 1)
	g, err := eventstore.NewGuard(eventstore.GuardOptions{Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := admin.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	for _, lift := range []func(*jetstream.StreamConfig){
		func(c *jetstream.StreamConfig) { c.DenyDelete = false },
		func(c *jetstream.StreamConfig) { c.DenyPurge = false },
	} {
		cfg := st.CachedInfo().Config
		lift(&cfg)
		if _, err := admin.UpdateStream(ctx, cfg); err == nil {
			t.Fatal("the server let a deny flag be lifted; the deny-delete and deny-purge checks must then be tested by update")
		}
	}
	if err := g.Check(ctx, s.JS); err != nil {
		t.Fatalf("after refused updates: %v", err)
	}

	testenv.UpdateStream(t, admin, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.MaxAge = 48 * time.Hour })
	if err := g.Check(ctx, s.JS); !errors.Is(err, eventstore.ErrIntegrity) {
		t.Fatalf("with MaxAge: %v", err)
	}
	testenv.UpdateStream(t, admin, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.MaxAge = 0 })
	if err := g.Check(ctx, s.JS); err != nil {
		t.Fatalf("after the operator lifted MaxAge: %v", err)
	}
	if err := g.Ready(ctx); err != nil {
		t.Fatalf("ready after recovery: %v", err)
	}
}

// The high-water mark outlives the process: a stream deleted and created
// again empty while the process was down is found at the next start, and
// a stream that is missing is not created again empty.
func TestHighWaterMarkSurvivesARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "nats")
	mark := filepath.Join(dir, "svc", "store-highwater.json")
	ctx := context.Background()
	admin := testenv.AdminKey()
	open := func(g *eventstore.Guard) *eventstore.Store {
		s, err := eventstore.Open(ctx, eventstore.OpenOptions{
			Embedded: eventstore.EmbeddedOptions{StoreDir: storeDir, Listen: "off", Admin: &admin}, Name: "test", Guard: g, Log: quietLog(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	newGuard := func() *eventstore.Guard {
		g, err := eventstore.NewGuard(eventstore.GuardOptions{HighWaterFile: mark, Log: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}

	// First run: the process sees 12 events and keeps that mark.
	g := newGuard()
	s := open(g)
	last, _ := filled(t, s.JS, 12, 0)
	g.Seen(eventstore.FamilyStream, "test reader", func() uint64 { return last })
	if err := g.Check(ctx, s.JS); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if b, err := os.ReadFile(mark); err != nil || !strings.Contains(string(b), `"FAMILY_EVENTS": 12`) {
		t.Fatalf("high-water file: %s %v", b, err)
	}

	// While it is down, the stream is deleted.
	ns, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: storeDir, Listen: "off", Admin: &admin})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := eventstore.Connect("", ns.Server, "vandal", admin.Option())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(ctx, eventstore.FamilyStream); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	ns.Shutdown()
	ns.WaitForShutdown()

	// Second run: nothing is recreated, and the guard says why, at once.
	g = newGuard()
	if g.HighWater(eventstore.FamilyStream) != 12 {
		t.Fatalf("high-water mark %d after restart, want 12", g.HighWater(eventstore.FamilyStream))
	}
	s = open(g)
	// Refusing ends Open's wait for the streams: it returns at once.
	if !g.Refusing() {
		t.Error("the guard does not refuse after its refusal to create the stream")
	}
	if err := s.Ready(ctx); err == nil {
		t.Error("store ready without its stream")
	}
	if _, err := s.JS.Stream(ctx, eventstore.FamilyStream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("the missing stream was created again: %v", err)
	}
	if err := g.Ready(ctx); err == nil || !strings.Contains(err.Error(), "not created again empty") {
		t.Fatalf("guard: %v", err)
	}
	// An operator creates it again empty (as if from a wrong backup): the
	// guard finds it below the mark.
	_, js = testenv.AdminJS(t, "", s.Server)
	if _, err := js.CreateStream(ctx, eventstore.FamilyStreamConfig(eventstore.StreamOptions{})); err != nil {
		t.Fatal(err)
	}
	js.Conn().Close()
	err = g.Check(ctx, s.JS)
	if err == nil || !strings.Contains(err.Error(), "FAMILY_EVENTS last sequence is 0, below 12, which this process has seen (its high-water mark in "+mark+")") {
		t.Fatalf("check: %v", err)
	}
	s.Close()
}

// Against an external NATS, where a process never creates the streams, a
// stream it has seen hold messages that is missing is reported as lost at
// once, not waited for as a setup step not yet run.
func TestMissingSeenStreamIsReportedAtOnceOnAnExternalServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := testenv.AdminKey()
	e, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1", Admin: &admin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Shutdown(); e.WaitForShutdown() })
	_, adminJS := testenv.AdminJS(t, "", e.Server)
	if err := adminJS.DeleteStream(ctx, eventstore.FamilyStream); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "service.nk")
	if err := e.Service.WriteSeedFile(key); err != nil {
		t.Fatal(err)
	}
	g, err := eventstore.NewGuard(eventstore.GuardOptions{Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	g.Seen(eventstore.FamilyStream, "test reader", func() uint64 { return 12 })

	s, err := eventstore.Open(ctx, eventstore.OpenOptions{URL: e.ClientURL(), NKeyFile: key, Name: "test", Guard: g, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Refusing ends Open's wait for the streams: it returns at once.
	if !g.Refusing() {
		t.Error("the guard does not refuse with a seen stream missing")
	}
	if err := g.Ready(ctx); err == nil || !strings.Contains(err.Error(), "FAMILY_EVENTS is missing, but this process has seen it hold sequence 12") {
		t.Fatalf("guard: %v", err)
	}
}

// The data keys' bucket loses messages by design, and its write-once rule
// is lifted while a master key rotation runs, and after an interrupted
// one until it is run again: none of that fails a check, and the bucket
// has gauges for the checks that apply to it only, and no high-water
// mark.
func TestGuardPassesKeyErasureAndRotation(t *testing.T) {
	t.Parallel()
	s, admin := openDamageable(t)
	ctx := context.Background()
	famLast, _ := filled(t, s.JS, 5, 0)
	g, err := eventstore.NewGuard(eventstore.GuardOptions{Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	g.Register(reg)
	g.Seen(eventstore.FamilyStream, "test reader", func() uint64 { return famLast })
	check := func(when string) {
		t.Helper()
		if err := g.Check(ctx, s.JS); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if got := failedChecks(integrityGauges(t, reg)); len(got) != 0 {
			t.Fatalf("%s: failing gauges %v", when, got)
		}
	}
	kv, err := s.JS.KeyValue(ctx, eventstore.KeyBucket)
	if err != nil {
		t.Fatal(err)
	}
	revs := map[string]uint64{}
	for _, fam := range []string{"F1", "F2", "F3", "F4"} {
		if revs[fam], err = kv.Create(ctx, shred.KeyID(fam), []byte("v1:old-"+fam)); err != nil {
			t.Fatal(err)
		}
	}
	check("with keys")
	var keyGauges []string
	for k := range integrityGauges(t, reg) {
		if c, ok := strings.CutPrefix(k, eventstore.KeyStream+"/"); ok {
			keyGauges = append(keyGauges, c)
		}
	}
	slices.Sort(keyGauges)
	if want := []string{"limits", "present", "replicas", "republish", "retention", "rollup", "sealed", "sources", "subjects", "write-once"}; !slices.Equal(keyGauges, want) {
		t.Errorf("the key bucket's gauges are %v, want %v", keyGauges, want)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if mf.GetName() == "jf_store_highwater_sequence" && l.GetValue() == eventstore.KeyStream {
					t.Errorf("a high-water mark of %s", eventstore.KeyStream)
				}
			}
		}
	}

	master, err := shred.LoadOrCreateDevMasterKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	erase := func(fam string) {
		t.Helper()
		if err := shred.New(s.JS, master).Destroy(ctx, fam); err != nil {
			t.Fatalf("erasure of %s: %v", fam, err)
		}
	}
	erase("F1")
	check("after an erasure")

	// A rotation (shred.Keyring.Rewrap) lifts the write-once rule, as the
	// admin, and stores each key's successor beside it; killed here, it
	// leaves the bucket so until it is run again. An erasure meanwhile
	// destroys both of a key's messages.
	ks, err := admin.Stream(ctx, eventstore.KeyStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ks.CachedInfo().Config
	cfg.DiscardNewPerSubject, cfg.MaxMsgsPerSubject = false, 2
	if _, err := admin.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for _, fam := range []string{"F2", "F3"} {
		if _, err := kv.Update(ctx, shred.KeyID(fam), []byte("v1:new-"+fam), revs[fam]); err != nil {
			t.Fatal(err)
		}
	}
	check("with the write-once rule lifted and keys held twice")
	erase("F3")
	check("after an erasure during the rotation")

	// The rotation, run again, overwrites each key's earlier message and
	// sets the rule again.
	if err := ks.SecureDeleteMsg(ctx, revs["F2"]); err != nil {
		t.Fatal(err)
	}
	cfg.DiscardNewPerSubject, cfg.MaxMsgsPerSubject = true, 1
	if _, err := admin.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	check("after the rotation")
	erase("F4")
	check("after an erasure after the rotation")
}

// The data keys' bucket holds one message a key, and refuses a second
// (MaxMsgsPerSubject 1, DiscardNewPerSubject): a master key rotation
// lifts that to two a key (RotationKeysPerSubject), and nothing else
// does. With the rule lifted otherwise, a user that may write a key's
// subject (ingest, erasure) replaces a family's key, and with one
// message a key the server drops the key it replaced: the family's
// erasure, with no record. The guard finds such a bucket.
func TestGuardFindsTheKeysWriteOnceRuleLifted(t *testing.T) {
	t.Parallel()
	s, admin := openDamageable(t)
	ctx := context.Background()
	g, err := eventstore.NewGuard(eventstore.GuardOptions{Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := s.JS.KeyValue(ctx, eventstore.KeyBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, shred.KeyID("F1"), []byte("v1:F1")); err != nil {
		t.Fatal(err)
	}
	if err := g.Check(ctx, s.JS); err != nil {
		t.Fatalf("intact bucket: %v", err)
	}
	for _, c := range []struct {
		perSubject int64
		discardNew bool
	}{{1, false}, {-1, false}, {3, false}} {
		cfg := eventstore.KeyStreamConfig(eventstore.StreamOptions{})
		cfg.MaxMsgsPerSubject, cfg.DiscardNewPerSubject = c.perSubject, c.discardNew
		if _, err := admin.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		err := g.Check(ctx, s.JS)
		if !errors.Is(err, eventstore.ErrIntegrity) || !strings.Contains(err.Error(), "KV_JF_KEYS") {
			t.Errorf("MaxMsgsPerSubject %d, DiscardNewPerSubject %v: guard %v, want ErrIntegrity", c.perSubject, c.discardNew, err)
		}
	}
	// What the guard reports: the service replaces F1's key, and the
	// bucket drops the one it held.
	cfg := eventstore.KeyStreamConfig(eventstore.StreamOptions{})
	cfg.DiscardNewPerSubject = false
	if _, err := admin.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, shred.KeyID("F1"), []byte("v1:other")); err != nil {
		t.Fatalf("replacing a key with the rule lifted: %v", err)
	}
	if e, err := kv.Get(ctx, shred.KeyID("F1")); err != nil || string(e.Value()) != "v1:other" {
		t.Fatalf("F1's key after the replacement: %v", err)
	}
	// The setup step and a rotation's state pass.
	for _, cfg := range []jetstream.StreamConfig{eventstore.KeyStreamConfig(eventstore.StreamOptions{}), func() jetstream.StreamConfig {
		c := eventstore.KeyStreamConfig(eventstore.StreamOptions{})
		c.MaxMsgsPerSubject, c.DiscardNewPerSubject = eventstore.RotationKeysPerSubject, false
		return c
	}()} {
		if _, err := admin.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if err := g.Check(ctx, s.JS); err != nil {
			t.Errorf("MaxMsgsPerSubject %d, DiscardNewPerSubject %v: %v", cfg.MaxMsgsPerSubject, cfg.DiscardNewPerSubject, err)
		}
	}
}
