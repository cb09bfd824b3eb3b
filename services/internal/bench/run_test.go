package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeIngestEnv tells the test binary, started by Run as its ingest
// process, how its fake ingest behaves: "refuse-singles" answers every
// single event 503, "refuse-batches" every batch; "slow-profile" stores
// everything and takes fakeProfileDelay to start and to stop a profile.
// fakePeerEnv, when set, does the same for the peer, which is otherwise
// the real forwarder.
const (
	fakeIngestEnv = "BENCH_TEST_FAKE_INGEST"
	fakePeerEnv   = "BENCH_TEST_FAKE_PEER"
)

// fakeProfileDelay is long beside what the fake's work takes even on a
// loaded machine, so that a window holding the profile's start and stop
// cannot be mistaken for one that does not.
const fakeProfileDelay = 2 * time.Second

// TestMain lets Run start this test binary as its children: the peer
// forwarder (the real one unless fakePeerEnv is set), and a fake ingest
// (fakeIngestEnv), each fake with the real profile and stats endpoints.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-"+ForwarderChildFlag {
		if mode := os.Getenv(fakePeerEnv); mode != "" {
			fakeChild(mode)
			os.Exit(0)
		}
		if err := ForwarderChild(context.Background(), os.Args[2], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) > 2 && os.Args[1] == "-"+IngestChildFlag {
		fakeChild(os.Getenv(fakeIngestEnv))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeChild serves POST /departments/{dept}/v1/events as mode says
// (fakeIngestEnv) until stdin closes.
func fakeChild(mode string) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /departments/{dept}/v1/events", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		batch := r.Header.Get("Content-Type") == "application/cloudevents-batch+json"
		if batch && mode == "refuse-batches" || !batch && mode == "refuse-singles" {
			http.Error(w, "refused", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	mountChildEndpoints(mux, func() childStats { return childStats{} })
	h := http.Handler(mux)
	if mode == "slow-profile" {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/bench/profile" {
				time.Sleep(fakeProfileDelay)
			}
			mux.ServeHTTP(w, r)
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() { _ = http.Serve(ln, h) }()
	fmt.Println("http://" + ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// smallRun runs Run at a tiny size against the fake ingest in mode (and
// the peer in peerMode, the real forwarder if empty), with profiles into
// profileDir if it is not empty.
func smallRun(t *testing.T, mode, peerMode, profileDir string) (Options, string, error) {
	t.Helper()
	t.Setenv(fakeIngestEnv, mode)
	t.Setenv(fakePeerEnv, peerMode)
	var out bytes.Buffer
	o := Defaults()
	o.Preload, o.Families, o.RawCount = 100, 10, 100
	o.BatchRequests, o.BatchSize, o.BatchClients = 4, 10, 2
	o.SingleCount, o.SingleClients = 50, 4
	o.Dir, o.Out, o.ProfileDir = t.TempDir(), &out, profileDir
	err := Run(context.Background(), o)
	t.Logf("Run: %v\n%s", err, out.String())
	return o, out.String(), err
}

// rate is the events/s of the output's line that starts with prefix.
func rate(t *testing.T, out, prefix string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(prefix) + `[^:]*: (\d+) events/s`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no line %q… with events/s", prefix)
	}
	r, _ := strconv.ParseFloat(m[1], 64)
	return r
}

// TestRunTimesIngestAsThePeer: with -profile-dir, starting and stopping
// the profiles is outside ingest's clock as it is outside the peer's. The
// fake ingest takes fakeProfileDelay for each, so a window that held them
// would be at least twice that; a few local requests take far less.
func TestRunTimesIngestAsThePeer(t *testing.T) {
	o, out, err := smallRun(t, "slow-profile", "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		prefix string
		events int
	}{{"batch ingest", o.BatchRequests * o.BatchSize}, {"single events", o.SingleCount}} {
		r := rate(t, out, c.prefix)
		if window := time.Duration(float64(c.events) / r * float64(time.Second)); r == 0 || window >= fakeProfileDelay {
			t.Errorf("%s: %.0f events/s for %d events is a window of %v: it holds the profile's start or stop (%v each)",
				c.prefix, r, c.events, window, fakeProfileDelay)
		}
	}
}

// TestMeasureSinglesCountsOnlyStored: a refused single event is an error,
// not an event stored: it is neither in the rate nor in the latencies.
// Refusals here are slow, so that a refused request's latency among the
// others would be the largest.
func TestMeasureSinglesCountsOnlyStored(t *testing.T) {
	const slow = 1500 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, _ := io.ReadAll(r.Body); string(b) == "refuse" {
			time.Sleep(slow)
			http.Error(w, "refused", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	singles := make([][]byte, 50)
	for i := range singles {
		singles[i] = []byte("{}")
		if i%5 == 0 {
			singles[i] = []byte("refuse")
		}
	}
	errs := &errCount{}
	rate, lat := measureSingles(http.DefaultClient, srv.URL, singles, 4, errs)
	if errs.n.Load() != 10 || len(lat) != 40 || rate <= 0 {
		t.Fatalf("10 of 50 refused: errors %d, %d latencies (want 40), %.0f events/s", errs.n.Load(), len(lat), rate)
	}
	if lat[len(lat)-1] >= slow {
		t.Errorf("the largest latency, %v, is a refused request's", lat[len(lat)-1])
	}

	for i := range singles {
		singles[i] = []byte("refuse")
	}
	errs = &errCount{}
	if rate, lat := measureSingles(http.DefaultClient, srv.URL, singles[:8], 4, errs); rate != 0 || len(lat) != 0 || errs.n.Load() != 8 {
		t.Errorf("all 8 refused: %.0f events/s, %d latencies (p99 %v), errors %d; want 0, 0, 8", rate, len(lat), pct(lat, 99), errs.n.Load())
	}
}

// TestRunFailsOnRefusedSingles: when ingest, or the peer, refuses single
// events, Run ends with an error that names how many, and prints no
// single-event rate, latency or ratio.
func TestRunFailsOnRefusedSingles(t *testing.T) {
	for _, c := range []struct {
		ingest, peer, who string
		silent            []string // lines that must not be printed
	}{
		{"refuse-singles", "", "ingest, single events", []string{"single events", "single-event latency", "peer forwarder, single events"}},
		{"accept", "refuse-singles", "peer forwarder, single events", []string{"peer forwarder, single events"}},
	} {
		t.Run(c.who, func(t *testing.T) {
			o, out, err := smallRun(t, c.ingest, c.peer, "")
			want := fmt.Sprintf("%s: %d of %d requests failed", c.who, o.SingleCount, o.SingleCount)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Run: %v, want an error with %q", err, want)
			}
			for _, prefix := range c.silent {
				if strings.Contains("\n"+out, "\n"+prefix) {
					t.Errorf("a run whose single events were refused printed %q…", prefix)
				}
			}
		})
	}
}

// TestRunFailsOnRefusedBatches: when ingest, or the peer, refuses batches,
// Run ends with an error that names how many; the peer's errors are its
// own, not ingest's carried over; and no figure of the refused phase is
// printed.
func TestRunFailsOnRefusedBatches(t *testing.T) {
	for _, c := range []struct {
		ingest, peer, who string
		silent            []string // lines that must not be printed
	}{
		{"refuse-batches", "", "ingest, batches", []string{"batch ingest", "peer forwarder", "single"}},
		{"accept", "refuse-batches", "peer forwarder, batches", []string{"peer forwarder", "single"}},
	} {
		t.Run(c.who, func(t *testing.T) {
			o, out, err := smallRun(t, c.ingest, c.peer, "")
			want := fmt.Sprintf("%s: %d of %d requests failed", c.who, o.BatchRequests, o.BatchRequests)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Run: %v, want an error with %q", err, want)
			}
			for _, prefix := range c.silent {
				if strings.Contains("\n"+out, "\n"+prefix) {
					t.Errorf("a run whose batches were refused printed %q…", prefix)
				}
			}
		})
	}
}
