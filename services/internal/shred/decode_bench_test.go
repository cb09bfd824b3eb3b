package shred_test

import (
	"context"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// BenchmarkDecode is what a reader of the stream pays for one stored
// family.referred with two personal fields: decoding it in plaintext, and
// decoding it sealed (opened with a cached key, then decoded).
func BenchmarkDecode(b *testing.B) {
	st := testenv.OpenStore(b, nil)
	m, err := shred.LoadOrCreateDevMasterKey(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	k := shred.New(st.JS, m)
	ev, err := events.Build(events.BIF, "F-1", &events.FamilyReferred{
		Reason: "Familien har brug for støtte til at komme tættere på arbejdsmarkedet og i skole",
		Note:   "Aftalt på mødet med familien og skolen, opfølgning om tre måneder",
	}, events.WithID("e1"), events.WithTime(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)))
	if err != nil {
		b.Fatal(err)
	}
	events.StampSchema(&ev)
	plain, err := events.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	subject := events.Subject("F-1", events.BIF, "family.referred")
	env, err := events.DecodeStored(subject, plain, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	sealed, err := k.Seal(ctx, env, plain)
	if err != nil {
		b.Fatal(err)
	}
	recorded := time.Now()
	b.Run("plain", func(b *testing.B) {
		k.Required = false
		defer func() { k.Required = true }()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Decode(ctx, subject, plain, recorded); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sealed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Decode(ctx, subject, sealed, recorded); err != nil {
				b.Fatal(err)
			}
		}
	})
}
