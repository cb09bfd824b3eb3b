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
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/benchdata"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/server"
	"kk.dk/jobogfamilie/services/internal/service"
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
//   - full replay to JSON Lines, by audit replay's code in a process of
//     its own writing to /dev/null (with that process's peak RSS), and over
//     HTTP (GET /v1/audit/events read by a client in this process, with
//     the live heap before, during and after), against the raw rate
//     (target >= 0.6x);
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
	p("# audit bench: %s, %d cores, %s", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.Version())
	st, err := benchdata.OpenStore(ctx, o.Dir, "bench-audit", eventstore.Durability{})
	if err != nil {
		return err
	}
	defer st.Close()
	nc, js, dir := st.NC, st.JS, st.Dir

	start := time.Now()
	// Every tenth event of BIG is backfilled a year, so as-of has work to do.
	gen := &benchdata.Events{N: o.Events, Families: max(o.Families, 1), Big: min(o.BigFamily, o.Events),
		Base: time.Now().UTC().Add(-2 * 365 * 24 * time.Hour), Spacing: time.Minute,
		BackfillBig: true}
	var halfway time.Time // recorded about halfway through BIG's events
	size, err := gen.Publish(ctx, js, func(i int) {
		if i == gen.N/2 {
			halfway = time.Now().UTC()
		}
	})
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

	// Replay as `audit replay` does, in a process of its own, so that its
	// memory is its own and not the embedded NATS server's.
	child, err := replayInChild(ctx, st.URL, st.NKey)
	if err != nil {
		return err
	}
	if child.Lines != int64(o.Events) {
		return fmt.Errorf("bench: the replay process wrote %d lines of %d", child.Lines, o.Events)
	}
	rate := float64(child.Lines) / child.Seconds
	p("full replay to JSON Lines, audit replay's code in a process of its own (to /dev/null): %.0f events/s = %.2f x raw fetch (target >= 0.6); its peak RSS %d MiB for a %d MiB stream",
		rate, rate/raw, child.PeakRSS>>20, size>>20)

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
	service.Mount(mux, quiet, svc)
	srv, err := server.Listen("127.0.0.1:0", mux)
	if err != nil {
		return err
	}
	sctx, stopServer := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() { _ = srv.Serve(sctx); close(served) }()
	defer func() { stopServer(); <-served }()
	base := srv.URL()

	var lines atomic.Int64
	rate, mem, err := measureHeap(func() error {
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
	p("full replay to JSON Lines over HTTP (GET /v1/audit/events, client in process): %.0f events/s = %.2f x raw fetch (target >= 0.6); live heap (embedded NATS included) before %d MiB, at most %d MiB during, after %d MiB",
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
	half := halfway
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
		// Read as a client that knows the length would: into one buffer
		// of it (io.ReadAll's doubling copied and threw away twice the
		// 3.4 MB, in this process, which the service shares).
		body := bytes.NewBuffer(make([]byte, 0, max(resp.ContentLength, 0)+bytes.MinRead))
		_, err = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		b := body.Bytes()
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

// heap is the live heap around a measurement.
type heap struct{ before, peak, after uint64 }

// liveHeap is the heap the last GC found live: garbage not yet collected
// does not count, so a replay that keeps nothing shows none.
func liveHeap() uint64 {
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	return m[0].Value.Uint64()
}

// measureHeap runs fn, returning the rate of n over its run and the live
// heap before (after a GC), the most any GC during the run found live
// (sampled every 50 ms), and after (after a GC): flat memory shows as a
// peak near before, however long the stream.
func measureHeap(fn func() error, n *atomic.Int64) (float64, heap, error) {
	var h heap
	runtime.GC()
	h.before = liveHeap()
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
				if l := liveHeap(); l > peak.Load() {
					peak.Store(l)
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
	h.after = liveHeap()
	return float64(n.Load()) / took.Seconds(), h, err
}

// ChildReport is what the replay process reports.
type ChildReport struct {
	Lines   int64   `json:"lines"`
	Seconds float64 `json:"seconds"`
	PeakRSS int64   `json:"peakRSS"`
}

// ReplayChildFlag makes jfbench the replay process of the audit bench.
const ReplayChildFlag = "audit-replay-child"

// replayInChild runs this executable as the replay process.
func replayInChild(ctx context.Context, natsURL, nkey string) (ChildReport, error) {
	exe, err := os.Executable()
	if err != nil {
		return ChildReport{}, err
	}
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, "-"+ReplayChildFlag, natsURL)
	cmd.Env = append(os.Environ(), "JF_NATS_NKEY="+nkey)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return ChildReport{}, fmt.Errorf("bench: replay process: %v: %s", err, errOut.String())
	}
	var r ChildReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return ChildReport{}, fmt.Errorf("bench: replay process said %q: %w", out.String(), err)
	}
	return r, nil
}

// ReplayChild is the replay process: the whole stream through
// audit.Reader and audit.AppendLine, as `audit replay` writes it, to
// /dev/null; it reports the lines, the time and its peak RSS on out.
func ReplayChild(ctx context.Context, natsURL string, out io.Writer) error {
	var auth []nats.Option
	if f := os.Getenv("JF_NATS_NKEY"); f != "" {
		opt, err := nats.NkeyOptionFromSeed(f)
		if err != nil {
			return err
		}
		auth = append(auth, opt)
	}
	nc, err := eventstore.Connect(natsURL, nil, "bench-audit-replay", auth...)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	bw := bufio.NewWriterSize(devnull, 256<<10)
	var (
		line []byte
		n    int64
	)
	start := time.Now()
	err = (&audit.Reader{NC: nc, JS: js}).Replay(ctx, audit.Query{}, func(s audit.Stored) error {
		line = audit.AppendLine(line[:0], s)
		n++
		_, err := bw.Write(line)
		return err
	})
	if err == nil {
		err = bw.Flush()
	}
	took := time.Since(start)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(ChildReport{Lines: n, Seconds: took.Seconds(), PeakRSS: peakRSS()})
}

// peakRSS is this process's VmHWM in bytes (Linux), or 0.
func peakRSS() int64 { return rssOf(os.Getpid(), "VmHWM") }

// rawFetch reads n messages with an ordered consumer and nothing else:
// the JetStream limit of every reader of the stream.
func rawFetch(ctx context.Context, js jetstream.JetStream, n int) (float64, error) {
	cons, err := js.OrderedConsumer(ctx, eventstore.FamilyStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return 0, err
	}
	it, err := cons.Messages(eventstore.Pull(8000)...)
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
