package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/benchdata"
	"kk.dk/jobogfamilie/services/internal/demo"
	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// EvaluationOptions size a run of Evaluation.
type EvaluationOptions struct {
	// Families demo families (the pilot's kind of history, about a hundred
	// events each) are filled up to Events events in all with timeline
	// events of the same families, a quarter of which (employment.started)
	// the evaluation reads.
	Families, Events int
	// Runs evaluations of each kind are measured warm.
	Runs int
	// Projector is the projector binary to run as a child process.
	Projector string
	Dir       string
	Out       io.Writer
}

// EvaluationDefaults are the sizes: 10,000 families over 10M events.
func EvaluationDefaults() EvaluationOptions {
	return EvaluationOptions{Families: 10_000, Events: 10_000_000, Runs: 5, Projector: "bin/projector", Out: os.Stdout}
}

// Evaluation measures GET /v1/evaluation (one asOf, target ≤ 2 s) and
// GET /v1/evaluation/series (24 months, target ≤ 10 s) of a projector
// process that has caught up with a stream of o.Events events over
// o.Families families: the first request of each after the projector is
// ready (cold) and o.Runs more (warm, p50 and max), with the process's
// RSS; then the first evaluation after a restart on the same read model,
// and after a crash (SIGKILL) and a start on it.
// The events are published straight onto JetStream, not through ingest:
// first the filling events, then the demo families' own.
func Evaluation(ctx context.Context, o EvaluationOptions) error {
	out := o.Out
	if out == nil {
		out = os.Stdout
	}
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	st, err := benchdata.OpenStore(ctx, o.Dir, "bench-evaluation", eventstore.Durability{})
	if err != nil {
		return err
	}
	defer st.Close()

	start := time.Now()
	demoEvents := demo.Generate(1, o.Families)
	fill := max(0, o.Events-len(demoEvents))
	from, to := time.Date(2023, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)
	gen := &benchdata.Events{N: fill, Families: o.Families, Base: from, Spacing: to.Sub(from) / time.Duration(max(fill, 1)),
		Name: func(n int) string { return demo.FamilyID(1, n+1) }, Skip: 2}
	if _, err := gen.Publish(ctx, st.JS, nil); err != nil {
		return err
	}
	if err := publishDemo(ctx, st.JS, demoEvents); err != nil {
		return err
	}
	total := fill + len(demoEvents)
	p("evaluation: preloaded %d events over %d families (%d of the demo's kind, %d filling) in %s",
		total, o.Families, len(demoEvents), fill, time.Since(start).Round(time.Millisecond))
	demoEvents = nil

	logf, err := os.Create(filepath.Join(st.Dir, "projector-evaluation.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	dataDir := filepath.Join(st.Dir, "data-evaluation")
	proc, err := startEvaluationProjector(ctx, o.Projector, st, dataDir, logf, uint64(total))
	if err != nil {
		return err
	}
	defer proc.stop()
	p("evaluation: projector caught up and ready in %s; RSS %d MB", proc.ready.Round(time.Millisecond), rssOf(proc.pid, "VmRSS")>>20)

	one := proc.base + "/v1/evaluation?asOf=2024-12-31"
	series := proc.base + "/v1/evaluation/series?from=2023-01-01&to=2024-12-01&step=month"
	for _, k := range []struct{ name, url, target string }{
		{"one asOf", one, "2s"}, {"24-month series", series, "10s"},
	} {
		cold, err := timedGet(ctx, k.url)
		if err != nil {
			return err
		}
		var warm []time.Duration
		for range max(o.Runs, 1) {
			d, err := timedGet(ctx, k.url)
			if err != nil {
				return err
			}
			warm = append(warm, d)
		}
		slices.Sort(warm)
		p("evaluation: %-16s cold (first after ready) %s; warm %d runs: p50 %s, max %s (target <= %s)",
			k.name, cold.Round(time.Millisecond), len(warm), warm[len(warm)/2].Round(time.Millisecond), warm[len(warm)-1].Round(time.Millisecond), k.target)
	}
	p("evaluation: projector RSS %d MB, peak %d MB", rssOf(proc.pid, "VmRSS")>>20, rssOf(proc.pid, "VmHWM")>>20)
	// What the figures rest on: the families the evaluation found.
	n, err := enrolled(ctx, one)
	if err != nil {
		return err
	}
	p("evaluation: families enrolled by 2024-12-31: %s", n)

	// A restart on the same read model: the stop kept the index in a
	// file, which the first evaluation after the restart reads back,
	// then the rows after it (the timeline's rows, without the file).
	proc.stop()
	if proc, err = startEvaluationProjector(ctx, o.Projector, st, dataDir, logf, uint64(total)); err != nil {
		return err
	}
	defer proc.stop()
	one = proc.base + "/v1/evaluation?asOf=2024-12-31"
	first, err := timedGet(ctx, one)
	if err != nil {
		return err
	}
	again, err := timedGet(ctx, one)
	if err != nil {
		return err
	}
	p("evaluation: restarted on its read model: ready in %s; one asOf first %s (waits for the index kept at the stop to be read), then %s; RSS %d MB",
		proc.ready.Round(time.Millisecond), first.Round(time.Millisecond), again.Round(time.Millisecond), rssOf(proc.pid, "VmRSS")>>20)

	// A crash: the process is killed, and a start on its read model reads
	// the index last kept (here, at the stop above) and the rows after it.
	proc.kill()
	if proc, err = startEvaluationProjector(ctx, o.Projector, st, dataDir, logf, uint64(total)); err != nil {
		return err
	}
	defer proc.stop()
	one = proc.base + "/v1/evaluation?asOf=2024-12-31"
	if first, err = timedGet(ctx, one); err != nil {
		return err
	}
	if again, err = timedGet(ctx, one); err != nil {
		return err
	}
	p("evaluation: started after a crash (SIGKILL): ready in %s; one asOf first %s (waits for the index last kept to be read), then %s; RSS %d MB",
		proc.ready.Round(time.Millisecond), first.Round(time.Millisecond), again.Round(time.Millisecond), rssOf(proc.pid, "VmRSS")>>20)
	return nil
}

// evaluationProjector is a projector process of the evaluation bench.
type evaluationProjector struct {
	base  string
	pid   int
	ready time.Duration // from its start to applied and ready
	stop  func()        // SIGTERM, and wait for the exit
	kill  func()        // SIGKILL, and wait for the exit
}

// startEvaluationProjector runs the projector binary on st with its read
// model in dataDir and waits until it has applied total events and is
// ready.
func startEvaluationProjector(ctx context.Context, bin string, st *benchdata.Store, dataDir string, logf *os.File, total uint64) (*evaluationProjector, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-http", addr, "-nats-url", st.URL, "-nats-nkey", st.NKey,
		"-data", dataDir, "-log-level", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	signal := func(sig os.Signal) func() {
		return func() {
			once.Do(func() {
				_ = cmd.Process.Signal(sig)
				<-exited
			})
		}
	}
	stop := signal(syscall.SIGTERM)
	base := "http://" + addr
	for {
		if pos, _ := position(base); pos >= total && ready(base) == nil {
			break
		}
		if ctx.Err() != nil {
			stop()
			return nil, ctx.Err()
		}
		select {
		case err := <-exited:
			exited <- err
			return nil, fmt.Errorf("the projector exited (%v); see %s", err, logf.Name())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return &evaluationProjector{base: base, pid: cmd.Process.Pid, ready: time.Since(start), stop: stop, kill: signal(syscall.SIGKILL)}, nil
}

// publishDemo stores the demo's events as ingest would, without the
// family's expected sequence (the filling events came first).
func publishDemo(ctx context.Context, js jetstream.JetStream, evs []demo.Event) error {
	var futures []jetstream.PubAckFuture
	wait := func() error {
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		futures = futures[:0]
		return nil
	}
	for _, e := range evs {
		m := &nats.Msg{Subject: events.Subject(e.FamilyID, e.Department, e.Type), Data: e.JSON, Header: nats.Header{}}
		m.Header.Set(jetstream.MsgIDHeader, e.ID)
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return err
		}
		if futures = append(futures, f); len(futures) == 4000 {
			if err := wait(); err != nil {
				return err
			}
		}
	}
	return wait()
}

// enrolled is families.enrolled of the evaluation at url.
func enrolled(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer dev-analyst")
	resp, err := evaluationClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var a struct {
		Measures map[string]struct {
			Value *float64 `json:"value"`
		} `json:"measures"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return "", err
	}
	if v := a.Measures["families.enrolled"].Value; v != nil {
		return strconv.FormatFloat(*v, 'f', -1, 64), nil
	}
	return "suppressed", nil
}

var evaluationClient = &http.Client{Timeout: 5 * time.Minute}

// timedGet is one analyst's GET of url, timed until its whole answer is read.
func timedGet(ctx context.Context, url string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer dev-analyst")
	t0 := time.Now()
	resp, err := evaluationClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return d, err
}

// EvaluationCommand is `jfbench evaluation [-projector bin/projector] [-families N] [-events N] [-runs N]`.
func EvaluationCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := EvaluationDefaults()
	o.Out = stdout
	fs := flag.NewFlagSet("jfbench evaluation", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Families, "families", o.Families, "demo families")
	fs.IntVar(&o.Events, "events", o.Events, "events in the stream in all (the demo's, then filling events of the same families)")
	fs.IntVar(&o.Runs, "runs", o.Runs, "warm evaluations of each kind")
	fs.StringVar(&o.Projector, "projector", o.Projector, "projector binary to run")
	fs.StringVar(&o.Dir, "dir", "", "directory for the stream, read model and the projector's log (default: a temporary one, removed)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := Evaluation(ctx, o); err != nil {
		fmt.Fprintln(stderr, "jfbench evaluation:", err)
		return 1
	}
	return 0
}
