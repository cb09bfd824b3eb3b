package projector_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// benchEvents is the stream size of BenchmarkCatchUp (JF_BENCH_EVENTS).
func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("JF_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// fill publishes n valid events over fams families, asynchronously.
func fill(tb testing.TB, st *eventstore.Store, n, fams int) uint64 {
	tb.Helper()
	ctx := context.Background()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var last uint64
	var futures []jetstream.PubAckFuture
	for i := range n {
		fam := "F" + strconv.Itoa(i%fams)
		var (
			dept events.Department
			data events.Payload
		)
		switch k := i / fams; {
		case k == 0:
			dept, data = events.SOF, testenv.Enrolment()
		case k == 1:
			dept, data = events.SOF, &events.CaseworkerAssigned{EmployeeID: "E" + strconv.Itoa(1000+i%7)}
		case k%4 == 0:
			dept, data = events.BUF, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: float64(i % 40)}
		case k%4 == 1:
			dept, data = events.SUF, &events.HealthAssessed{PersonID: "P1", BarrierToWork: i%2 == 0}
		case k%4 == 2:
			dept, data = events.BIF, &events.EmploymentStarted{PersonID: "P1", Kind: "small-job", HoursPerWeek: 5}
		default:
			dept, data = events.SOF, &events.MeetingHeld{Kind: "family", Participants: []string{"E1001", "E1002"}}
		}
		ce, err := events.Build(dept, fam, data, events.WithTime(base.Add(time.Duration(i)*time.Second)))
		if err != nil {
			tb.Fatal(err)
		}
		b, _ := events.Marshal(ce)
		f, err := st.JS.PublishAsync(events.Subject(fam, dept, data.EventName()), b)
		if err != nil {
			tb.Fatal(err)
		}
		futures = append(futures, f)
		if len(futures) == 4000 || i == n-1 {
			for _, f := range futures {
				select {
				case a := <-f.Ok():
					last = max(last, a.Sequence)
				case err := <-f.Err():
					tb.Fatal(err)
				case <-ctx.Done():
				}
			}
			futures = futures[:0]
		}
	}
	return last
}

// BenchmarkCatchUp measures how fast a fresh projector applies a stream
// of JF_BENCH_EVENTS events (default 100k) over 1000 families and is ready.
func BenchmarkCatchUp(b *testing.B) {
	st := newStore(b)
	n := benchEvents()
	last := fill(b, st, n, 1000)
	for b.Loop() {
		start := time.Now()
		p := newProjector(b, st, b.TempDir(), 0, nil)
		// Caught up means applied and ready: a bulk load ends by
		// building the timeline's indexes.
		for p.Position() < last || p.Ready(context.Background()) != nil {
			time.Sleep(5 * time.Millisecond)
		}
		d := time.Since(start)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(n)/d.Seconds(), "events/s")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heapMiB")
		fmt.Fprintf(os.Stderr, "caught up with %d events in %s (%.0f events/s)\n", n, d.Round(time.Millisecond), float64(n)/d.Seconds())
		_ = p.Close()
	}
}
