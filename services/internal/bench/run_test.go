package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// fakeIngestEnv tells the test binary, started by Run as its ingest
// process, how its fake ingest behaves: "refuse-singles" answers every
// single event 503, "refuse-batches" every batch; "slow-profile" stores
// everything and takes fakeProfileDelay to start and to stop a profile.
const fakeIngestEnv = "BENCH_TEST_FAKE_INGEST"

const fakeProfileDelay = 500 * time.Millisecond

// TestMain lets Run start this test binary as its children: the real peer
// forwarder, and a fake ingest (fakeIngestEnv) with the real profile and
// stats endpoints.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-"+ForwarderChildFlag {
		if err := ForwarderChild(context.Background(), os.Args[2], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) > 2 && os.Args[1] == "-"+IngestChildFlag {
		fakeIngest(os.Getenv(fakeIngestEnv))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fakeIngest(mode string) {
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

// smallRun runs Run at a tiny size against the fake ingest in mode, with
// profiles into profileDir if it is not empty.
func smallRun(t *testing.T, mode, profileDir string) (Options, string, error) {
	t.Helper()
	t.Setenv(fakeIngestEnv, mode)
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
	o, out, err := smallRun(t, "slow-profile", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		prefix string
		events int
	}{{"batch ingest", o.BatchRequests * o.BatchSize}, {"single events", o.SingleCount}} {
		r := rate(t, out, c.prefix)
		if window := time.Duration(float64(c.events) / r * float64(time.Second)); r == 0 || window >= 2*fakeProfileDelay {
			t.Errorf("%s: %.0f events/s for %d events is a window of %v: it holds the profile's start and stop (%v each)",
				c.prefix, r, c.events, window, fakeProfileDelay)
		}
	}
}
