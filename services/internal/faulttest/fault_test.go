package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/demo"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/loadtest"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

var standaloneBin string

// TestMain builds the real standalone binary once: these tests kill and
// signal a process, which only a separate process allows.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jf-faulttest-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	standaloneBin = filepath.Join(dir, "standalone")
	build := exec.Command("go", "build", "-o", standaloneBin, "kk.dk/jobogfamilie/services/cmd/standalone")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the standalone:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running standalone process.
type proc struct {
	cmd    *exec.Cmd
	url    string
	logs   *logBuffer
	exited chan struct{} // closed when the process has exited, with err
	err    error
}

// logBuffer is a process's output, read while the process writes it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// stop ends p with SIGTERM, gracefully, or kills it.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("the standalone did not stop 30 s after SIGTERM")
	}
}

// start runs the standalone on data until the test ends and waits until
// it is ready. It listens on a port it picks itself, which no other
// process can have taken first, and says which when it runs ("standalone
// running", at level info): a restart listens elsewhere, and its clients
// follow p.url.
func start(t *testing.T, data string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"-http", "127.0.0.1:0", "-data", data, "-nats-listen", "off", "-log-level", "info"}, extra...)
	cmd := exec.Command(standaloneBin, args...)
	p := &proc{cmd: cmd, logs: &logBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p.url == "" {
			p.url = runningURL(p.logs.String())
		}
		if p.url != "" {
			if resp, err := client.Get(p.url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return p
				}
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("standalone exited (%v):\n%s", p.err, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("standalone not ready:\n%s", p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runningURL is the HTTP URL of the standalone's "standalone running" log
// line in logs, or "" before it.
func runningURL(logs string) string {
	for line := range strings.Lines(logs) {
		var rec struct{ Msg, HTTP string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "standalone running" {
			return rec.HTTP
		}
	}
	return ""
}

// writers post events for their own families until stopped; every event is
// retried with the same id until it gets a 2xx, as a department system
// would, across crashes and restarts of the server. They stop at the
// test's end too, giving up what they were retrying, when the test ended
// before finish.
type writers struct {
	mu      sync.Mutex
	acked   map[string]sent
	url     atomic.Value
	stop    atomic.Bool
	abandon atomic.Bool
	retries atomic.Int64
	wg      sync.WaitGroup
}

// sent is an acknowledged event: its body as sent, and the position the
// answer gave it.
type sent struct {
	body     []byte
	position uint64
}

// post sends one structured event to ingest and returns the answer's
// status, the position it gives and its body; err is a request that got no
// answer.
func post(client *http.Client, url string, body []byte) (status int, position uint64, raw []byte, err error) {
	req, err := http.NewRequest("POST", url+"/departments/sof/v1/events", bytes.NewReader(body))
	if err != nil {
		return 0, 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer dev-sof")
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, nil, err
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, nil, err
	}
	var r struct{ Position uint64 }
	_ = json.Unmarshal(raw, &r)
	return resp.StatusCode, r.Position, raw, nil
}

func startWriters(t *testing.T, n int, url string) *writers {
	w := &writers{acked: map[string]sent{}}
	w.url.Store(url)
	client := &http.Client{Timeout: 5 * time.Second}
	for c := range n {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for i := 0; !w.stop.Load(); i++ {
				id := fmt.Sprintf("fault-%d-%d", c, i)
				ce, err := events.Build(events.SOF, fmt.Sprintf("K%d", c), &events.MeetingHeld{Kind: "network"}, events.WithID(id))
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := events.Marshal(ce)
				for !w.abandon.Load() {
					status, pos, rb, err := post(client, w.url.Load().(string), body)
					if err == nil {
						if status == 201 || status == 200 {
							w.mu.Lock()
							w.acked[id] = sent{body: body, position: pos}
							w.mu.Unlock()
							break
						}
						if status != 503 {
							t.Errorf("event %s: status %d %s", id, status, rb)
							return
						}
					}
					w.retries.Add(1)
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	t.Cleanup(func() { w.abandon.Store(true); w.finish() })
	return w
}

func (w *writers) count() int { w.mu.Lock(); defer w.mu.Unlock(); return len(w.acked) }

// ackedSoFar is a copy of the events acknowledged so far.
func (w *writers) ackedSoFar() map[string]sent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.acked)
}

func (w *writers) waitFor(t *testing.T, n int) {
	t.Helper()
	target := w.count() + n
	deadline := time.Now().Add(60 * time.Second)
	for w.count() < target {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d events acknowledged", w.count(), target)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *writers) finish() { w.stop.Store(true); w.wg.Wait() }

// resend sends every event of evs again to url, as a department system
// whose acknowledgement was lost in the fault does (the writers resend only
// the event whose answer they were waiting for, and a kill rarely falls
// between the store and the answer): each must be answered 200, a
// duplicate at the position it was stored at, and be stored no second
// time, which checkExactlyOnce counts in the stream.
func resend(t *testing.T, url string, evs map[string]sent) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	wrong := 0
	for _, id := range slices.Sorted(maps.Keys(evs)) {
		ev := evs[id]
		var (
			status int
			pos    uint64
			raw    []byte
			err    error
		)
		// An unavailable store (503) or no answer: asked again, as the
		// writers do.
		for deadline := time.Now().Add(30 * time.Second); ; {
			status, pos, raw, err = post(client, url, ev.body)
			if err == nil && status != 503 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil || status != 200 || pos != ev.position {
			if wrong++; wrong <= 5 {
				t.Errorf("event %s, acknowledged at %d, sent again: %d at %d %s %v; want 200 at %d", id, ev.position, status, pos, raw, err, ev.position)
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d acknowledged events sent again were not answered as duplicates", wrong, len(evs))
	} else {
		t.Logf("%d acknowledged events sent again, each a duplicate", len(evs))
	}
}

// checkExactlyOnce: every acknowledged event is in the read model once,
// and nothing else is; then stored counts the messages of FAMILY_EVENTS
// (it may stop p), which must be the acknowledged events, each once.
func checkExactlyOnce(t *testing.T, p *proc, w *writers, clients int, stored func() uint64) {
	t.Helper()
	var fams []string
	for c := range clients {
		fams = append(fams, fmt.Sprintf("K%d", c))
	}
	// X-Min-Position waits for the projector to reach every position the
	// writers were given.
	var last uint64
	for _, ev := range w.acked {
		last = max(last, ev.position)
	}
	ids, err := loadtest.ReadModelIDs(&http.Client{Timeout: 10 * time.Second}, p.url, fams, last)
	if err != nil {
		t.Fatal(err)
	}
	for id := range w.acked {
		if ids[id] != 1 {
			t.Errorf("acknowledged event %s is %d times in the read model", id, ids[id])
		}
	}
	for id, n := range ids {
		if _, ok := w.acked[id]; !ok {
			t.Errorf("event %s (%d times) in the read model was never acknowledged", id, n)
		}
	}
	v, err := loadtest.Verify(&http.Client{Timeout: 60 * time.Second}, p.url)
	if err != nil {
		t.Fatal(err)
	}
	if v["match"] != true {
		t.Fatalf("verify after the fault: %v", v)
	}
	t.Logf("verify: %v events, live and replayed read models match", v["events"])
	if n := stored(); n != uint64(len(w.acked)) {
		t.Errorf("%s holds %d messages for %d distinct acknowledged events", eventstore.FamilyStream, n, len(w.acked))
	}
	if !t.Failed() {
		t.Logf("%d events acknowledged, each exactly once in the stream and the read model; %d attempts retried", len(w.acked), w.retries.Load())
	}
}

// familyMessages is the number of messages of FAMILY_EVENTS on the server
// ns, read as its admin.
func familyMessages(t *testing.T, ns *server.Server) uint64 {
	t.Helper()
	nc, js := testenv.AdminJS(t, "", ns)
	defer nc.Close()
	st, err := js.Stream(context.Background(), eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// storedEvents stops p and counts the messages of FAMILY_EVENTS in its
// store, in data, opened in this process.
func storedEvents(t *testing.T, p *proc, data string) func() uint64 {
	return func() uint64 {
		t.Helper()
		p.stop(t)
		admin := testenv.AdminKey()
		e, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: filepath.Join(data, "nats"), Listen: "off", Admin: &admin})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { e.Shutdown(); e.WaitForShutdown() }()
		return familyMessages(t, e.Server)
	}
}

func TestKill9MidLoadLosesAndDuplicatesNothing(t *testing.T) {
	data := t.TempDir()
	p := start(t, data)
	const clients = 8
	w := startWriters(t, clients, p.url)
	w.waitFor(t, 200)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	before := w.ackedSoFar()
	t.Logf("killed with -9 after %d events", len(before))
	p = start(t, data)
	w.url.Store(p.url)
	resend(t, p.url, before)
	w.waitFor(t, 200)
	w.finish()
	checkExactlyOnce(t, p, w, clients, storedEvents(t, p, data))
}

func TestSIGTERMUnderLoadIsGraceful(t *testing.T) {
	data := t.TempDir()
	p := start(t, data)
	const clients = 8
	w := startWriters(t, clients, p.url)
	w.waitFor(t, 200)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", p.err, p.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30 s after SIGTERM\n%s", p.logs)
	}
	before := w.ackedSoFar()
	t.Logf("stopped by SIGTERM after %d events", len(before))
	p = start(t, data)
	w.url.Store(p.url)
	resend(t, p.url, before)
	w.waitFor(t, 100)
	w.finish()
	if t.Failed() {
		t.Logf("logs:\n%s", p.logs)
	}
	checkExactlyOnce(t, p, w, clients, storedEvents(t, p, data))
}

// TestNATSRestartUnderLoad: the services run against an external NATS,
// which is stopped under load and started again on the same store.
func TestNATSRestartUnderLoad(t *testing.T) {
	store := t.TempDir()
	startNATS := func(listen string) (*server.Server, error) {
		admin := testenv.AdminKey()
		ns, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: store, Listen: listen, ServiceSeed: testenv.ServiceSeed(), Admin: &admin})
		if err != nil {
			return nil, err
		}
		return ns.Server, nil
	}
	// The first start picks its port; the restart must listen where the
	// standalone connects.
	ns, err := startNATS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	natsAddr := strings.TrimPrefix(ns.ClientURL(), "nats://")
	p := start(t, t.TempDir(), "-nats-url", "nats://"+natsAddr, "-nats-nkey", testenv.ServiceKeyFile(t))
	const clients = 8
	w := startWriters(t, clients, p.url)
	w.waitFor(t, 200)
	ns.Shutdown()
	ns.WaitForShutdown()
	before := w.ackedSoFar()
	t.Logf("NATS stopped after %d events", len(before))
	// Keep NATS away until the clients have felt it.
	felt := w.retries.Load() + 3*clients
	for deadline := time.Now().Add(30 * time.Second); w.retries.Load() < felt; {
		if time.Now().After(deadline) {
			t.Fatalf("clients saw no failures while NATS was down (%d retries)", w.retries.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	testenv.RetryAddrInUse(t, 20, func(int) error {
		again, err := startNATS(natsAddr)
		if err == nil {
			ns = again
		}
		return err
	})
	resend(t, p.url, before)
	w.waitFor(t, 200)
	w.finish()
	checkExactlyOnce(t, p, w, clients, func() uint64 { return familyMessages(t, ns) })
}

// TestUnwritableDataDirIsNamed: a data directory the process cannot use
// stops it with the path and the reason, for the event store's part,
// the read model's and ingest's index store.
func TestUnwritableDataDirIsNamed(t *testing.T) {
	for _, part := range []string{"nats", "projector", "ingest"} {
		t.Run(part, func(t *testing.T) {
			data := t.TempDir()
			if err := os.WriteFile(filepath.Join(data, part), []byte("in the way"), 0o600); err != nil {
				t.Fatal(err)
			}
			// A process that hangs instead of stopping is killed at the
			// deadline, and that is the failure: a liveness bound, far
			// above what stopping takes, not a speed target.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, standaloneBin, "-http", "127.0.0.1:0", "-data", data, "-nats-listen", "off")
			cmd.WaitDelay = 5 * time.Second
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("did not exit with %s/%s in the way (killed after a minute):\n%s", data, part, out)
			}
			if err == nil {
				t.Fatalf("started with %s/%s in the way:\n%s", data, part, out)
			}
			want := filepath.Join(data, part) + ": not a directory"
			if !bytes.Contains(out, []byte(want)) {
				t.Fatalf("the error does not say %q:\n%s", want, out)
			}
		})
	}
}

// TestKill9KeepsTheEvaluationIndex: the index of the events the
// evaluation reads, written while the standalone runs, outlives a kill
// -9: the next start's first evaluation reads it rather than the rows,
// and the exact figures are those before the kill.
func TestKill9KeepsTheEvaluationIndex(t *testing.T) {
	data := t.TempDir()
	p := start(t, data, "-evaluation-keep-every", "100ms")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := demo.Load(ctx, demo.Options{BaseURL: p.url, Seed: 5, Families: 12})
	if err != nil {
		t.Fatal(err)
	}
	knownAt := time.Now().UTC().Format(time.RFC3339Nano)
	position := uint64(st.Stored()) // the stream's last event
	waitLogged(t, p, "projector: the evaluation's index kept for the next start", position)
	before, at := exactEvaluation(t, p.url, knownAt)
	if at != position {
		t.Fatalf("the evaluation is at %d, not at the stream's last event, %d", at, position)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited

	p = start(t, data)
	after, at := exactEvaluation(t, p.url, knownAt)
	if after != before || at != position {
		t.Errorf("after the kill, at %d:\n%s\nbefore it, at %d:\n%s", at, after, position, before)
	}
	waitLogged(t, p, "projector: the kept evaluation index read", position)
	if strings.Contains(p.logs.String(), "the kept evaluation index is not used") {
		t.Errorf("the index kept before the kill was not used:\n%s", p.logs)
	}
}

// exactEvaluation is an analyst's exact figures at a fixed asOf, as known
// at knownAt, and the position they rest on.
func exactEvaluation(t *testing.T, url, knownAt string) (string, uint64) {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/v1/evaluation?asOf=2026-06-30&suppress=false&knownAt="+knownAt, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer dev-analyst")
	req.Header.Set("X-Purpose", "evaluation")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		Position uint64
		Measures json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 || len(res.Measures) < 100 {
		t.Fatalf("evaluation: %d %v %s", resp.StatusCode, err, res.Measures)
	}
	return string(res.Measures), res.Position
}

// waitLogged waits until p has logged msg with the position at.
func waitLogged(t *testing.T, p *proc, msg string, at uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for line := range strings.Lines(p.logs.String()) {
			var rec struct {
				Msg      string
				Position uint64
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg && rec.Position == at {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q at %d logged:\n%s", msg, at, p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
