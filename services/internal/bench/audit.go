package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/server"
)

// AuditOptions size the audit measurements.
type AuditOptions struct {
	// Events are preloaded over Families families; family BIG gets
	// BigFamily of them, spread over the whole stream, a tenth backfilled.
	Events, Families, BigFamily int
	// AsOfQueries as-of timelines of BIG are read.
	AsOfQueries int
	Dir         string
	Out         io.Writer
}

// AuditDefaults are the sizes of the audit issue's targets.
func AuditDefaults() AuditOptions {
	return AuditOptions{Events: 1_000_000, Families: 10_000, BigFamily: 10_000, AsOfQueries: 20, Out: os.Stdout}
}

// Audit measures the audit service against raw JetStream in one run and
// prints the figures (docs/PERFORMANCE.md):
//
//   - raw JetStream fetch: an ordered consumer reads the whole stream and
//     does nothing with it;
//   - full replay to JSON Lines, in process (what `audit replay` does,
//     written to io.Discard) and over HTTP (GET /v1/audit/events read by a
//     client in the same process), against the raw rate (target >= 0.6x),
//     with the process heap before, at its peak during, and after;
//   - the as-of timeline of a family with BigFamily events over HTTP
//     (target <= 200 ms);
//   - verify: a replay of the whole stream into a fresh projection and
//     the comparison with the live model (target <= 2 minutes at 1M).
//
// The projector (for the read model) runs in this process and starts only
// after the replay figures, so that its catch-up does not share the cores
// with them.
func Audit(ctx context.Context, o AuditOptions) error {
	out := o.Out
	if out == nil {
		out = os.Stdout
	}
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "jfbench-audit-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	p("# audit bench: %s, %d cores, %s", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.Version())
	ns, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err := eventstore.Connect(ns.ClientURL(), nil, "bench-audit")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := eventstore.EnsureStreams(ctx, js, eventstore.StreamOptions{}); err != nil {
		return err
	}

	start := time.Now()
	gen := newAuditEvents(o.Events, o.Families, o.BigFamily)
	size, err := gen.publish(ctx, js)
	if err != nil {
		return err
	}
	p("preloaded %d events (%d MiB) over %d families, family BIG %d events, in %s",
		o.Events, size>>20, o.Families, o.BigFamily, time.Since(start).Round(time.Millisecond))

	raw, err := rawFetch(ctx, js, o.Events)
	if err != nil {
		return err
	}
	p("raw JetStream fetch (limit): %.0f msg/s", raw)

	// Replay in process, as the CLI does.
	reader := &audit.Reader{NC: nc, JS: js}
	var lines atomic.Int64
	rate, mem, err := measureHeap(func() error {
		bw := bufio.NewWriterSize(io.Discard, 256<<10)
		var line []byte
		return reader.Replay(ctx, audit.Query{}, func(s audit.Stored) error {
			line = audit.AppendLine(line[:0], s)
			lines.Add(1)
			_, err := bw.Write(line)
			return err
		})
	}, &lines)
	if err != nil {
		return err
	}
	if lines.Load() != int64(o.Events) {
		return fmt.Errorf("bench: replay wrote %d lines of %d", lines.Load(), o.Events)
	}
	p("full replay to JSON Lines, in process (audit replay): %.0f events/s = %.2f x raw fetch (target >= 0.6); heap in use before %d MiB, peak %d MiB, after %d MiB",
		rate, rate/raw, mem.before>>20, mem.peak>>20, mem.after>>20)

	// The API, on a projector that has not started yet.
	authn, err := auth.Load("")
	if err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	proj, err := projector.New(ctx, projector.Options{DataDir: filepath.Join(dir, "data"), NC: nc, JS: js, Auth: authn, Log: quiet})
	if err != nil {
		return err
	}
	defer proj.Close()
	svc, err := audit.New(audit.Options{NC: nc, JS: js, View: proj.AuditView(), Auth: authn, Log: quiet, DataDir: filepath.Join(dir, "data")})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	svc.Mount(mux)
	srv, err := server.Listen("127.0.0.1:0", mux)
	if err != nil {
		return err
	}
	sctx, stopServer := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() { _ = srv.Serve(sctx); close(served) }()
	defer func() { stopServer(); <-served }()
	base := srv.URL()

	lines.Store(0)
	rate, mem, err = measureHeap(func() error {
		resp, err := benchRequest(ctx, "GET", base+"/v1/audit/events")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET /v1/audit/events: %s", resp.Status)
		}
		buf := make([]byte, 256<<10)
		for {
			n, err := resp.Body.Read(buf)
			lines.Add(int64(bytes.Count(buf[:n], []byte{'\n'})))
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}, &lines)
	if err != nil {
		return err
	}
	if lines.Load() != int64(o.Events) {
		return fmt.Errorf("bench: GET /v1/audit/events gave %d lines of %d", lines.Load(), o.Events)
	}
	p("full replay to JSON Lines over HTTP (GET /v1/audit/events, client in process): %.0f events/s = %.2f x raw fetch (target >= 0.6); heap in use before %d MiB, peak %d MiB, after %d MiB",
		rate, rate/raw, mem.before>>20, mem.peak>>20, mem.after>>20)

	// The read model.
	start = time.Now()
	proj.Start(ctx)
	for proj.Position() < uint64(o.Events) || proj.Ready(ctx) != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
	p("projector caught up with %d events in %s (to serve as-of and verify)", o.Events, time.Since(start).Round(time.Millisecond))

	// As-of timelines of BIG: now (everything) and halfway through.
	half := gen.halfway
	var lat []time.Duration
	var bodySize int
	for i := range o.AsOfQueries {
		asOf := time.Now().UTC()
		if i%2 == 1 {
			asOf = half
		}
		t0 := time.Now()
		resp, err := benchRequest(ctx, "GET", base+"/v1/audit/families/BIG/timeline?asOf="+asOf.Format(time.RFC3339Nano))
		if err != nil {
			return err
		}
		var v struct {
			Entries []json.RawMessage `json:"entries"`
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("as-of timeline: %s %s", resp.Status, b)
		}
		lat = append(lat, time.Since(t0))
		if i == 0 {
			if err := json.Unmarshal(b, &v); err != nil {
				return err
			}
			if len(v.Entries) != o.BigFamily {
				return fmt.Errorf("bench: as-of timeline of BIG has %d entries, not %d", len(v.Entries), o.BigFamily)
			}
			bodySize = len(b)
		}
	}
	slices.Sort(lat)
	p("as-of timeline of a family with %d events (%d GETs, %d KiB each when complete): p50 %s, max %s (target <= 200ms)",
		o.BigFamily, o.AsOfQueries, bodySize>>10, pct(lat, 50), lat[len(lat)-1].Round(time.Millisecond))

	// Verify.
	start = time.Now()
	res, err := svc.Verify(ctx)
	if err != nil {
		return err
	}
	took := time.Since(start)
	p("verify of %d events (replay into a fresh projection and digests of both): %s = %.0f events/s, match %v (target <= 2m at 1M)",
		res.Events, took.Round(time.Millisecond), float64(res.Events)/took.Seconds(), res.Match)
	if !res.Match {
		return fmt.Errorf("bench: verify found a difference: %+v", res.FirstDifference)
	}
	return nil
}

func benchRequest(ctx context.Context, method, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer dev-auditor")
	return http.DefaultClient.Do(req)
}

// heap is the process heap in use around a measurement.
type heap struct{ before, peak, after uint64 }

// measureHeap runs fn, returning the rate of n over its run and the heap
// in use before (after a GC), at its peak (sampled every 50 ms) and after
// (after a GC): flat memory shows as a peak near before, however long the
// stream.
func measureHeap(fn func() error, n *atomic.Int64) (float64, heap, error) {
	var h heap
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	h.before = ms.HeapInuse
	done := make(chan struct{})
	var wg sync.WaitGroup
	var peak atomic.Uint64
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	})
	start := time.Now()
	err := fn()
	took := time.Since(start)
	close(done)
	wg.Wait()
	h.peak = max(peak.Load(), h.before)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	h.after = ms.HeapInuse
	return float64(n.Load()) / took.Seconds(), h, err
}

// rawFetch reads n messages with an ordered consumer and nothing else,
// as the projector's bench does.
func rawFetch(ctx context.Context, js jetstream.JetStream, n int) (float64, error) {
	cons, err := js.OrderedConsumer(ctx, eventstore.FamilyStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return 0, err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(8000))
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	start := time.Now()
	for range n {
		if _, err := it.Next(jetstream.NextContext(ctx)); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// auditEvents makes valid catalog events fast, from templates: families
// F<n>, and BIG with its events spread evenly over the stream, every tenth
// of them backfilled a year.
type auditEvents struct {
	n, families, big int
	base             time.Time
	halfway          time.Time // recorded about halfway through BIG's events
}

func newAuditEvents(n, families, big int) *auditEvents {
	return &auditEvents{n: n, families: max(families, 1), big: min(big, n), base: time.Now().UTC().Add(-2 * 365 * 24 * time.Hour)}
}

// schema is the dataschema ingest stamps on events of the type.
func (g *auditEvents) schema(name string) string {
	spec, ok := events.ByName(name)
	if !ok {
		panic("bench: unknown event " + name)
	}
	return spec.SchemaURL()
}

func (g *auditEvents) next(i int) (string, []byte) {
	fam, k := "F"+strconv.Itoa(i%g.families), i/g.families
	every := max(1, g.n/max(g.big, 1))
	if g.big > 0 && i%every == 0 && i/every < g.big {
		fam, k = "BIG", i/every
	}
	var dept, name, data string
	switch {
	case k == 0:
		dept, name = "sof", "family.enrolled"
		data = `{"members":[{"personId":"P1","role":"parent"},{"personId":"C1","role":"child"}],"courseStart":"2024-01-15","childCaseIds":["CASE1"],"parentBenefits":[{"personId":"P1","benefit":"kontanthjaelp"}]}`
	case k == 1:
		dept, name, data = "sof", "caseworker.assigned", `{"employeeId":"E1001"}`
	case k%4 == 0:
		dept, name, data = "buf", "wellbeing.measured", `{"childId":"C1","instrument":"SDQ","score":`+strconv.Itoa(i%40)+`}`
	case k%4 == 1:
		dept, name, data = "suf", "health.assessed", `{"personId":"P1","barrierToWork":`+strconv.FormatBool(i%2 == 0)+`}`
	case k%4 == 2:
		dept, name, data = "bif", "employment.started", `{"personId":"P1","kind":"small-job","hoursPerWeek":`+strconv.Itoa(i%30+1)+`}`
	default:
		dept, name, data = "sof", "meeting.held", `{"kind":"family","participants":["E1001","E1002"]}`
	}
	at := g.base.Add(time.Duration(i) * time.Minute)
	if fam == "BIG" && k%10 == 9 {
		at = at.AddDate(-1, 0, 0)
	}
	ev := `{"specversion":"1.0","id":"audit-bench-` + strconv.Itoa(i) + `","source":"/departments/` + dept +
		`","type":"dk.kk.jobogfamilie.` + name + `.v1","subject":"` + fam + `","time":"` + at.Format(time.RFC3339) +
		`","datacontenttype":"application/json","dataschema":"` + g.schema(name) + `","data":` + data + `}`
	return "families." + fam + "." + dept + "." + name, []byte(ev)
}

// publish stores the events with async publishes, a window at a time, and
// notes when BIG is halfway.
func (g *auditEvents) publish(ctx context.Context, js jetstream.JetStream) (int, error) {
	var (
		size    int
		futures []jetstream.PubAckFuture
	)
	for i := range g.n {
		subj, b := g.next(i)
		size += len(b)
		f, err := js.PublishAsync(subj, b)
		if err != nil {
			return size, err
		}
		futures = append(futures, f)
		if len(futures) == 4000 || i == g.n-1 {
			for _, f := range futures {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					return size, err
				case <-ctx.Done():
					return size, ctx.Err()
				}
			}
			futures = futures[:0]
		}
		if i == g.n/2 {
			g.halfway = time.Now().UTC()
		}
	}
	return size, nil
}
