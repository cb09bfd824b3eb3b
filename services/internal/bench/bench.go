// Package bench measures the system against the raw limits of its parts,
// in one run on one machine, and prints the figures. It backs `make bench`;
// speed targets are checked here, never by timed tests.
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/benchdata"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/ingest"
	"kk.dk/jobogfamilie/services/internal/server"
	"kk.dk/jobogfamilie/services/internal/service"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// Options size a run.
type Options struct {
	// Preload is how many events are in the stream before measuring.
	Preload int
	// Families spreads events over this many families.
	Families int
	// RawCount is how many messages the raw publish measurement sends.
	RawCount int
	// BatchRequests of BatchSize events each are sent by BatchClients.
	BatchRequests, BatchSize, BatchClients int
	// SingleCount single events are sent by SingleClients.
	SingleCount, SingleClients int
	// Sync is the embedded store's durability setting.
	Sync string
	Dir  string
	Out  io.Writer
	// ProfileDir, when set, receives a CPU profile and an execution trace
	// of the ingest process and of the peer in each measured phase
	// (batch.pprof and batch.trace, peer-single.pprof …), and a CPU profile
	// of the bench process beside each (batch-bench.pprof …).
	ProfileDir string
}

// Defaults are the sizes of the targets.
func Defaults() Options {
	return Options{Preload: 1_000_000, Families: 10_000, RawCount: 200_000,
		BatchRequests: 2000, BatchSize: 100, BatchClients: 16,
		SingleCount: 60_000, SingleClients: 32, Sync: "interval", Out: os.Stdout}
}

// Run executes every measurement and prints a report.
func Run(ctx context.Context, o Options) error {
	for _, c := range []struct {
		flag string
		n    int
	}{{"raw", o.RawCount}, {"batch-requests", o.BatchRequests}, {"batch-size", o.BatchSize}, {"batch-clients", o.BatchClients},
		{"single", o.SingleCount}, {"single-clients", o.SingleClients}} {
		if c.n < 1 {
			return fmt.Errorf("bench: -%s must be at least 1, not %d: a phase of nothing measures nothing", c.flag, c.n)
		}
	}
	p := func(format string, a ...any) { fmt.Fprintf(o.Out, format+"\n", a...) }
	p("# make bench: %s, %d cores, %s, store sync %s", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.Version(), o.Sync)

	dur, err := eventstore.ParseDurability(o.Sync)
	if err != nil {
		return err
	}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return err
		}
	}
	st, err := benchdata.OpenStore(ctx, o.Dir, "bench-ingest-raw", dur)
	if err != nil {
		return err
	}
	defer st.Close()
	js, natsURL := st.JS, st.URL

	gen := newGenerator(o.Families)
	start := time.Now()
	if _, err := rawPublish(ctx, js, gen, o.Preload, func(n int) {
		p("  preload: %d/%d events", n, o.Preload)
	}); err != nil {
		return err
	}
	p("preloaded %d events over %d families in %s (message size ~%d bytes)", o.Preload, o.Families, time.Since(start).Round(time.Millisecond), gen.size)

	spent, err := rawPublish(ctx, js, gen, o.RawCount, nil)
	if err != nil {
		return err
	}
	raw := float64(o.RawCount) / spent.Seconds()
	p("raw JetStream async publish (limit): %.0f msg/s over %d messages", raw, o.RawCount)

	// Ingest runs as it is deployed: the department service alone in its
	// process, against the shared event store.
	start = time.Now()
	child, err := startIngestChild(ctx, natsURL, st.NKey, filepath.Join(st.Dir, "ingest"))
	if err != nil {
		return err
	}
	defer child.Stop()
	url := child.URL
	profileFile := func(name string) string {
		if o.ProfileDir == "" {
			return ""
		}
		f, _ := filepath.Abs(filepath.Join(o.ProfileDir, name))
		return f
	}
	p("ingest index caught up with %d events in %s", o.Preload+o.RawCount, time.Since(start).Round(time.Millisecond))

	// The peer: a minimal forwarder in a process of its own, on a stream
	// of its own on the same server (forwarder.go).
	peer, err := startChild(ctx, ForwarderChildFlag, natsURL, st.AdminNKey)
	if err != nil {
		return err
	}
	defer peer.Stop()
	peerRaw, err := rawIntoPeerStream(ctx, natsURL, st.AdminNKey, gen, min(o.RawCount, 50_000))
	if err != nil {
		return err
	}
	p("raw JetStream async publish into the peer's stream (empty but for the peer's writes): %.0f msg/s", peerRaw)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}

	// Batch ingest.
	errs := &errCount{}
	// Request bodies are made before the clock starts, so that the figure
	// is the server's, not the generator's.
	batches := make([][]byte, o.BatchRequests)
	for i := range batches {
		parts := make([][]byte, o.BatchSize)
		for k := range parts {
			parts[k] = gen.ingestEvent(i%o.BatchClients*1000 + k%7)
		}
		batches[i] = append(append([]byte("["), bytes.Join(parts, []byte(","))...), ']')
	}
	singles := make([][]byte, o.SingleCount)
	for i := range singles {
		singles[i] = gen.ingestEvent(i % o.SingleClients)
	}
	// Ingest's phases are timed by the loops that time the peer's, the
	// clock inside Profile: starting and stopping the profiles is in
	// neither's figure.
	var batchRate float64
	var batchStored int
	if err := child.Profile(profileFile("batch.pprof"), func() {
		batchRate, batchStored = measureBatches(client, url, batches, o.BatchSize, o.BatchClients, errs)
	}); err != nil {
		return err
	}
	if err := errs.failed("ingest, batches", o.BatchRequests); err != nil {
		return err
	}
	p("batch ingest (%d per request, %d clients): %.0f events/s = %.2f x raw (target >= 0.5)",
		o.BatchSize, o.BatchClients, batchRate, batchRate/raw)
	if st, err := child.Stats(); err == nil {
		p("  %d batch requests went to JetStream in %d atomic batches", st.BatchRequests, st.AtomicBatches)
	}
	// Each measurement counts its own errors.
	errs = &errCount{}
	var peerBatch float64
	if err := peer.Profile(profileFile("peer-batch.pprof"), func() {
		peerBatch, _ = measureBatches(client, peer.URL, batches, o.BatchSize, o.BatchClients, errs)
	}); err != nil {
		return err
	}
	if err := errs.failed("peer forwarder, batches", o.BatchRequests); err != nil {
		return err
	}
	p("peer forwarder, non-atomic batches (same requests): %.0f events/s = %.2f x raw; ingest / forwarder = %.2f (goal >= 0.8)",
		peerBatch, peerBatch/raw, batchRate/peerBatch)

	// Single events from concurrent clients.
	errs = &errCount{}
	var singleRate float64
	var lat []time.Duration
	if err := child.Profile(profileFile("single.pprof"), func() {
		singleRate, lat = measureSingles(client, url, singles, o.SingleClients, errs)
	}); err != nil {
		return err
	}
	if err := errs.failed("ingest, single events", o.SingleCount); err != nil {
		return err
	}
	p("single events (%d clients): %.0f events/s = %.2f x raw (target >= 0.25)",
		o.SingleClients, singleRate, singleRate/raw)
	p("single-event latency: p50 %s, p90 %s, p99 %s (target p99 <= 10ms), max %s",
		pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[len(lat)-1].Round(time.Microsecond))
	errs = &errCount{}
	var peerSingle float64
	var peerLat []time.Duration
	if err := peer.Profile(profileFile("peer-single.pprof"), func() {
		peerSingle, peerLat = measureSingles(client, peer.URL, singles, o.SingleClients, errs)
	}); err != nil {
		return err
	}
	if err := errs.failed("peer forwarder, single events", o.SingleCount); err != nil {
		return err
	}
	p("peer forwarder, single events (same requests): %.0f events/s = %.2f x raw, p50 %s, p99 %s; ingest / forwarder = %.2f (goal >= 1.0 with ingest p99 <= 10ms)",
		peerSingle, peerSingle/raw, pct(peerLat, 50), pct(peerLat, 99), singleRate/peerSingle)
	cs, err := child.Stats()
	if err != nil {
		return err
	}
	p("ingest process: heap in use %d MiB, peak RSS %d MiB (its index of %d events)", cs.HeapInuse>>20, cs.PeakRSS>>20, o.Preload+o.RawCount+batchStored+len(lat))
	return nil
}

// startIngest runs the ingest API of all departments against natsURL and
// waits until its index has caught up with the stream; mount adds the
// bench's own endpoints.
func startIngest(ctx context.Context, natsURL string, mount func(*http.ServeMux, *ingest.Service)) (string, func(), error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(ctx)
	store, err := eventstore.Open(ctx, eventstore.OpenOptions{URL: natsURL, NKeyFile: os.Getenv("JF_NATS_NKEY"), Name: "bench-ingest", Log: log})
	if err != nil {
		cancel()
		return "", nil, err
	}
	authn, err := auth.Load("")
	if err != nil {
		cancel()
		store.Close()
		return "", nil, err
	}
	// The index store lives in JF_DATA_DIR, as in a department process.
	parts := service.Parts{Store: store, Auth: authn, Log: log}
	parts.Config.DataDir = os.Getenv("JF_DATA_DIR")
	// With JF_MASTER_KEY, personal fields are encrypted as in a
	// department process, unless JF_ENCRYPTION is false (the encryption
	// phase); without it the process has no key store, for the phases
	// whose streams are published directly in plaintext.
	if text := os.Getenv("JF_MASTER_KEY"); text != "" {
		master, err := shred.ParseMasterKey(text)
		if err != nil {
			cancel()
			store.Close()
			return "", nil, err
		}
		parts.Keys = shred.New(store.JS, master)
		parts.Keys.Required = os.Getenv("JF_ENCRYPTION") != "false"
	}
	svc, err := ingest.NewService(ctx, parts, events.Departments)
	if err != nil {
		cancel()
		store.Close()
		return "", nil, err
	}
	mux := http.NewServeMux()
	service.Mount(mux, log, svc)
	mount(mux, svc)
	srv, err := server.Listen("127.0.0.1:0", mux)
	if err != nil {
		cancel()
		svc.Stop()
		store.Close()
		return "", nil, err
	}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx); close(done) }()
	for svc.Ready(ctx) != nil && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	stop := func() { cancel(); <-done; svc.Stop(); store.Close() }
	if err := ctx.Err(); err != nil {
		stop()
		return "", nil, err
	}
	return srv.URL(), stop, nil
}

// errCount counts the failed requests of one measurement and keeps the
// first failure.
type errCount struct {
	n     atomic.Int64
	first sync.Once
	msg   atomic.Value
}

func (e *errCount) add(text string) {
	e.n.Add(1)
	e.first.Do(func() {
		e.msg.Store(text)
		fmt.Fprintln(os.Stderr, "bench: first error:", text)
	})
}

// failed is nil when no request of the measurement failed and otherwise
// the error that ends the run, naming how many of total requests failed:
// a rate or a latency of the requests that got through would look like a
// measurement of the system and is not one.
func (e *errCount) failed(what string, total int) error {
	n := e.n.Load()
	if n == 0 {
		return nil
	}
	first, _ := e.msg.Load().(string)
	return fmt.Errorf("bench: %s: %d of %d requests failed (first: %s); a run with failed requests reports no figures", what, n, total, first)
}

func post(c *http.Client, url, ctype string, body []byte, errs *errCount) bool {
	req, _ := http.NewRequest("POST", url+"/departments/bif/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer dev-bif")
	req.Header.Set("Content-Type", ctype)
	resp, err := c.Do(req)
	if err != nil {
		errs.add(err.Error())
		return false
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		errs.add(fmt.Sprint(resp.StatusCode, " ", strings.TrimSpace(string(b))))
		return false
	}
	return true
}

// runClients runs total calls of fn over n goroutines; fn gets the client
// number and the call's index.
func runClients(n, total int, fn func(client, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for c := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				fn(c, i)
			}
		}()
	}
	wg.Wait()
}

// pct is the p-th percentile of sorted by nearest rank, rounded to the
// microsecond: the smallest sample that at least p % of the samples do not
// exceed, the ceil(p*n/100)-th of n (p99 of 100 samples is the 99th, not
// the largest); 0 without samples. Every phase's percentiles come from it.
func pct(sorted []time.Duration, p int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (p*n + 99) / 100 // ceil(p*n/100), in integers
	return sorted[min(n-1, max(0, rank-1))].Round(time.Microsecond)
}

// rawPublish sends n generated events with plain async publishes: the
// limit ingest is measured against. Messages are made in chunks before
// their chunk is timed, so the figure is JetStream's, not the generator's.
func rawPublish(ctx context.Context, js jetstream.JetStream, g *generator, n int, progress func(int)) (time.Duration, error) {
	var spent time.Duration
	const chunk = 50_000
	for done := 0; done < n; {
		size := min(chunk, n-done)
		msgs := make([]*nats.Msg, size)
		for i := range msgs {
			subj, id, data := g.stored()
			msgs[i] = nats.NewMsg(subj)
			msgs[i].Data = data
			msgs[i].Header.Set(jetstream.MsgIDHeader, id)
		}
		start := time.Now()
		for _, m := range msgs {
			for {
				_, err := js.PublishMsgAsync(m, jetstream.WithStallWait(5*time.Second))
				if err == nil {
					break
				}
				if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
					return spent, err
				}
				// The server is behind: let it catch up, then go on.
				<-js.PublishAsyncComplete()
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			return spent, ctx.Err()
		case <-time.After(5 * time.Minute):
			return spent, fmt.Errorf("bench: async publishes not acknowledged")
		}
		spent += time.Since(start)
		done += size
		if progress != nil && done%200_000 == 0 {
			progress(done)
		}
	}
	return spent, nil
}

// generator makes valid catalog events without invariants (meetings,
// employment, education), spread over families, with unique ids.
type generator struct {
	mu       sync.Mutex
	families int
	n        int
	size     int
	base     time.Time
}

// genSpacing is the time between two generated events: 10M of them,
// the restart phase's largest stream, span about three years from 2020,
// so that none lies in the future, which the catalog refuses.
const genSpacing = 10 * time.Second

func newGenerator(families int) *generator {
	return &generator{families: families, base: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (g *generator) next() (int, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	return g.n, fmt.Sprintf("bench-%09d", g.n)
}

func (g *generator) payload(n int) (events.Department, events.Payload) {
	switch n % 3 {
	case 0:
		return events.SOF, &events.MeetingHeld{Kind: "network", Participants: []string{"E1001", "E1002", "E2001"}}
	case 1:
		return events.BIF, &events.EmploymentStarted{PersonID: fmt.Sprintf("P%d", n%50_000), Kind: "small-job", HoursPerWeek: 12}
	}
	return events.BIF, &events.EducationStarted{PersonID: fmt.Sprintf("P%d", n%50_000), Programme: "hf-enkeltfag"}
}

// stored returns a preload message: subject, id and structured JSON.
func (g *generator) stored() (string, string, []byte) {
	n, id := g.next()
	dept, data := g.payload(n)
	fam := fmt.Sprintf("F%05d", n%g.families)
	ce, err := events.Build(dept, fam, data, events.WithID(id), events.WithTime(g.base.Add(time.Duration(n)*genSpacing)))
	if err != nil {
		panic(err)
	}
	events.StampSchema(&ce)
	b, err := events.Marshal(ce)
	if err != nil {
		panic(err)
	}
	g.size = len(b)
	return events.Subject(fam, dept, data.EventName()), id, b
}

// ingestEvent returns a structured BIF event for a family of this client,
// so concurrent clients do not contend for one family.
func (g *generator) ingestEvent(client int) []byte {
	n, id := g.next()
	fam := fmt.Sprintf("B%03d-%02d", client, n%16)
	data := &events.EmploymentStarted{PersonID: fmt.Sprintf("P%d", n%50_000), Kind: "small-job", HoursPerWeek: 12}
	if n%2 == 0 {
		data.Kind = "ordinary"
	}
	ce, err := events.Build(events.BIF, fam, data, events.WithID(strings.Replace(id, "bench", "ingest", 1)))
	if err != nil {
		panic(err)
	}
	b, err := events.Marshal(ce)
	if err != nil {
		panic(err)
	}
	return b
}
