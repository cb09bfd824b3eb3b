package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/benchdata"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// ProjectorOptions size a run of Bench.
type ProjectorOptions struct {
	// Events are preloaded over Families families, one of which (BIG)
	// gets BigFamily of them.
	Events, Families, BigFamily int
	// RawInsert rows measure the raw SQLite limit; 0 means Events, the
	// rows the catch-up inserts.
	RawInsert int
	// Queries timeline reads and Writes read-your-writes round trips.
	Queries, Writes int
	// Projector is the projector binary to run as a child process.
	Projector string
	Dir       string
	Out       io.Writer
}

// ProjectorDefaults are the sizes docs/PERFORMANCE.md reports.
func ProjectorDefaults() ProjectorOptions {
	return ProjectorOptions{Events: 1_000_000, Families: 10_000, BigFamily: 10_000,
		Queries: 2000, Writes: 500, Projector: "bin/projector", Out: os.Stdout}
}

// Projector measures the projector against the raw limits of its parts in one
// run on this machine and prints the figures (docs/PERFORMANCE.md):
//
//   - the stream is preloaded with events as ingest stores them (ids,
//     dataschema, and the headers every reader receives);
//   - raw JetStream fetch: an ordered consumer reads the preloaded stream;
//   - raw batched SQLite insert: the timeline rows, 1000 a transaction, into
//     the read model's timeline table with its secondary indexes in place; for
//     comparison also into the table with only its primary key, alone and
//     followed by building the secondary indexes (the path of the projector's
//     bulk load);
//   - catch-up: a projector process with an empty read model reads the
//     whole stream until it has applied it all and is ready, its indexes
//     built (target ≥ 0.7 × the lower raw limit), with its peak RSS
//     (target ≤ 300 MB);
//   - timeline query: the latest 100 entries of a family with BigFamily
//     events, over HTTP with the access log (target p99 ≤ 5 ms);
//   - read-your-writes: an event stored on JetStream as ingest stores it,
//     then GET with X-Min-Position (target p99 ≤ 25 ms).
//
// The projector runs as its own process (o.Projector), so that its RSS is
// its own.
func Projector(ctx context.Context, o ProjectorOptions) error {
	out := o.Out
	if out == nil {
		out = os.Stdout
	}
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	st, err := benchdata.OpenStore(ctx, o.Dir, "bench", eventstore.Durability{})
	if err != nil {
		return err
	}
	defer st.Close()
	js, dir := st.JS, st.Dir

	start := time.Now()
	gen := &benchdata.Events{N: o.Events, Families: o.Families, Big: o.BigFamily,
		Base: time.Now().UTC().Add(-365 * 24 * time.Hour), Spacing: time.Second}
	if _, err := gen.Publish(ctx, js, nil); err != nil {
		return err
	}
	p("preloaded %d events over %d families (family BIG: %d) in %s", o.Events, o.Families, o.BigFamily, time.Since(start).Round(time.Millisecond))

	fetch, err := rawFetch(ctx, js, o.Events)
	if err != nil {
		return err
	}
	p("raw JetStream fetch (limit): %.0f msg/s", fetch)
	if o.RawInsert <= 0 {
		o.RawInsert = o.Events
	}
	insert, err := rawInsert(ctx, dir, gen, o.RawInsert)
	if err != nil {
		return err
	}
	p("raw batched SQLite insert into the read model's timeline, its secondary indexes in place (limit): %.0f rows/s", insert.indexed)
	p("raw batched SQLite insert, primary key only: %.0f rows/s; then the secondary indexes built: %.0f rows/s", insert.plain, insert.plainBuilt)
	limit := min(fetch, insert.indexed)

	exe := o.Projector
	if exe == "" {
		return errors.New("no projector binary to run")
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "projector.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, exe, "-http", addr, "-nats-url", st.URL, "-nats-nkey", st.NKey, "-data", filepath.Join(dir, "data"), "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	start = time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	base := "http://" + addr
	var peak int64
	for {
		if rss := rssOf(cmd.Process.Pid, "VmRSS"); rss > peak {
			peak = rss
		}
		// Caught up means usable: a bulk load ends by building the
		// timeline's indexes, and the projector is ready only then.
		if pos, _ := position(base); pos >= uint64(o.Events) && ready(base) == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("the projector exited (%v); see %s", err, logf.Name())
		case <-time.After(20 * time.Millisecond):
		}
	}
	took := time.Since(start)
	rate := float64(o.Events) / took.Seconds()
	peak = max(peak, rssOf(cmd.Process.Pid, "VmHWM"))
	p("catch-up of %d events (process start to applied and ready, indexes built): %s = %.0f events/s = %.2f x the lower raw limit (target >= 0.7); %.2f x the primary-key-only insert then the index build, %.2f x the primary-key-only insert",
		o.Events, took.Round(time.Millisecond), rate, rate/limit, rate/insert.plainBuilt, rate/insert.plain)
	p("projector peak RSS while catching up: %d MB (target <= 300)", peak>>20)
	anonPeak := peakOf(cmd.Process.Pid, "RssAnon")

	lat, err := timelineLatency(ctx, base, o.Queries)
	if err != nil {
		return err
	}
	slices.Sort(lat)
	p("timeline query (latest 100 of %d, %d sequential GETs): p50 %s, p99 %s (target p99 <= 5ms)",
		o.BigFamily, o.Queries, pct(lat, 50), pct(lat, 99))
	lat, err = rywLatency(ctx, js, base, gen, o.Writes)
	if err != nil {
		return err
	}
	slices.Sort(lat)
	p("read-your-writes (JetStream write as ingest does it, then GET with X-Min-Position, %d times): p50 %s, p99 %s (target p99 <= 25ms)",
		o.Writes, pct(lat, 50), pct(lat, 99))
	p("projector peak RSS over the whole run: %d MB; after it was ready, its anonymous memory peaked at %d MB (the rest is file pages: the binary, and the read model's file as its readers map it)",
		rssOf(cmd.Process.Pid, "VmHWM")>>20, anonPeak()>>20)
	return nil
}

// peakOf samples a size field of the process's /proc status (rssOf) until
// the returned function is called, which returns the largest value seen.
func peakOf(pid int, field string) func() int64 {
	stop, done := make(chan struct{}), make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, rssOf(pid, field))
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(stop)
		return <-done
	}
}

// insertRates are the raw SQLite rates, in rows a second.
type insertRates struct {
	// indexed is the "raw batched SQLite insert": the rows inserted
	// into the timeline table as the read model's migrations make it, with
	// its secondary indexes in place. This is the limit.
	indexed float64
	// plain is the same insert into the table with only its primary key,
	// and plainBuilt that insert followed by building the secondary indexes on
	// it: the path the projector's bulk load takes, the cheapest way for
	// SQLite to hold the rows as the read model needs them. Printed for
	// comparison; they are not the limit.
	plain, plainBuilt float64
}

// rawInsert measures the raw SQLite rates of n timeline rows (insertRates),
// each in a read model file of its own under dir.
func rawInsert(ctx context.Context, dir string, g *benchdata.Events, n int) (insertRates, error) {
	var r insertRates
	spent, _, err := rawTimeline(ctx, filepath.Join(dir, "raw-indexed.db"), g, n, false)
	if err != nil {
		return r, err
	}
	r.indexed = float64(n) / spent.Seconds()
	spent, built, err := rawTimeline(ctx, filepath.Join(dir, "raw.db"), g, n, true)
	if err != nil {
		return r, err
	}
	r.plain = float64(n) / spent.Seconds()
	r.plainBuilt = float64(n) / (spent + built).Seconds()
	return r, nil
}

// rawTimeline inserts n timeline rows into a fresh read model at path,
// 1000 a transaction, with the read model's own schema, settings and
// insert statement, and a context that cannot be cancelled (as the
// projector's inserts). With bulk, the timeline's secondary indexes are
// dropped first and built after the insert, in built. Only time spent in
// SQLite counts, not making the rows.
func rawTimeline(ctx context.Context, path string, g *benchdata.Events, n int, bulk bool) (spent, built time.Duration, err error) {
	raw, err := readmodel.OpenRawTimeline(ctx, path)
	if err != nil {
		return 0, 0, err
	}
	defer raw.Close()
	if bulk {
		if err := raw.DropIndexes(ctx); err != nil {
			return 0, 0, err
		}
	}
	rows := make([][]any, 0, 1000)
	for lo := 0; lo < n; lo += 1000 {
		rows = rows[:0]
		for i := lo; i < min(lo+1000, n); i++ {
			subj, b := g.Next(i)
			tok := strings.SplitN(subj, ".", 4)
			var ev struct{ ID, Type string }
			_ = json.Unmarshal(b, &ev)
			seq := int64(i + 1)
			rows = append(rows, []any{seq, tok[1], ev.ID, seq * 1e9, time.Now().UnixNano(), tok[2], ev.Type,
				"Trivsel målt for C1: 12 (SDQ)", b[strings.Index(string(b), `"data":`)+7 : len(b)-1], "/departments/" + tok[2]})
		}
		t0 := time.Now()
		if err := raw.Insert(ctx, rows); err != nil {
			return 0, 0, err
		}
		spent += time.Since(t0)
	}
	if bulk {
		t0 := time.Now()
		if err := raw.BuildIndexes(ctx); err != nil {
			return 0, 0, err
		}
		built = time.Since(t0)
	}
	return spent, built, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// rssOf reads a size field (VmRSS, VmHWM, RssAnon) of /proc/<pid>/status in bytes.
func rssOf(pid int, field string) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

var benchClient = &http.Client{Timeout: 10 * time.Second}

func benchGet(url, token string, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := benchClient.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// position reads X-Position from the cheapest endpoint that carries it.
func position(base string) (uint64, error) {
	resp, err := benchGet(base+"/v1/admin/rebuild", "dev-operator", nil)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(resp.Header.Get(projector.HeaderPosition), 10, 64)
}

func ready(base string) error {
	resp, err := benchGet(base+"/readyz", "", nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return errors.New(resp.Status)
	}
	return nil
}

func timelineLatency(ctx context.Context, base string, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for range n {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		t0 := time.Now()
		resp, err := benchGet(base+"/v1/families/BIG/timeline?limit=100", "dev-coordinator", nil)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("timeline: %s", resp.Status)
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

func rywLatency(ctx context.Context, js jetstream.JetStream, base string, g *benchdata.Events, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for i := range n {
		m := g.Msg(g.N + i)
		t0 := time.Now()
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			return nil, err
		}
		fam := strings.SplitN(m.Subject, ".", 3)[1]
		resp, err := benchGet(base+"/v1/families/"+fam+"/timeline?limit=1", "dev-auditor",
			map[string]string{projector.HeaderMinPosition: strconv.FormatUint(ack.Sequence, 10)})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("read-your-writes: %s", resp.Status)
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

// ProjectorCommand is `jfbench projector [-projector bin/projector] [-events N] [-families N] [-big N]`.
func ProjectorCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := ProjectorDefaults()
	o.Out = stdout
	fs := flag.NewFlagSet("jfbench projector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Events, "events", o.Events, "events in the stream")
	fs.IntVar(&o.Families, "families", o.Families, "families they belong to")
	fs.IntVar(&o.BigFamily, "big", o.BigFamily, "events of the family BIG, whose timeline is queried")
	fs.IntVar(&o.RawInsert, "raw-insert", o.RawInsert, "rows of the raw SQLite insert (default: -events)")
	fs.IntVar(&o.Queries, "queries", o.Queries, "timeline queries")
	fs.IntVar(&o.Writes, "writes", o.Writes, "read-your-writes round trips")
	fs.StringVar(&o.Projector, "projector", o.Projector, "projector binary to run")
	fs.StringVar(&o.Dir, "dir", "", "directory for the stream, read models and the projector's log (default: a temporary one, removed)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := Projector(ctx, o); err != nil {
		fmt.Fprintln(stderr, "jfbench projector:", err)
		return 1
	}
	return 0
}
