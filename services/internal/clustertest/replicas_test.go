package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/ingest"
	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/service"
	"kk.dk/jobogfamilie/services/internal/standalone"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// balancer is the load balancer of deploy/lb/nginx.conf as the test's
// coordinator meets it: requests go round robin to the replicas, and one
// that does not answer (connection refused) is passed over for the next.
type balancer struct {
	mu       sync.Mutex
	backends map[string]string // instance → base URL; "" while down
	order    []string
	next     int
	served   map[string]int // successful reads per instance
}

func (b *balancer) set(instance, url string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends[instance] = url
}

// get sends one GET through the balancer and returns the status, the body
// and the instance that answered.
func (b *balancer) get(t *testing.T, path string, hdr map[string]string) (int, []byte, string) {
	t.Helper()
	b.mu.Lock()
	start := b.next
	b.next++
	b.mu.Unlock()
	var errs []error
	for i := range b.order {
		b.mu.Lock()
		in := b.order[(start+i)%len(b.order)]
		base := b.backends[in]
		b.mu.Unlock()
		if base == "" {
			continue
		}
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer dev-coordinator")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", in, err))
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 200 {
			b.mu.Lock()
			b.served[in]++
			b.mu.Unlock()
		}
		return resp.StatusCode, body, in
	}
	t.Fatalf("no replica answered GET %s: %v", path, errors.Join(errs...))
	return 0, nil, ""
}

// startDeployment starts the three-node cluster, makes its streams as the
// setup step does, and starts ingest on it. cfg configures every process
// of the deployment: the cluster's URLs, three replicas and one master key,
// so that the projectors open the data keys ingest wrapped.
func startDeployment(t *testing.T) (config.Config, *process.Running) {
	t.Helper()
	nodes := startCluster(t)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", n.port))
	}
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.DataDir, cfg.NATSURL, cfg.Replicas = "127.0.0.1:0", t.TempDir(), strings.Join(urls, ","), 3
	cfg.MasterKeyFile = testenv.MasterKeyFile(t)
	if err := standalone.SetupStreams(context.Background(), cfg, io.Discard); err != nil {
		t.Fatalf("setup-streams: %v", err)
	}
	ing, err := process.Start(context.Background(), cfg, "ingest", testenv.QuietLog(), func(ctx context.Context, p service.Parts) (service.Service, error) {
		return ingest.NewService(ctx, p, events.Departments)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ing.Stop() })
	testenv.WaitReady(t, ing.URL())
	return cfg, ing
}

// startProjector runs a projector process of instance on the cluster.
func startProjector(t *testing.T, cfg config.Config, instance, dataDir string) *process.Running {
	t.Helper()
	cfg.Instance, cfg.DataDir = instance, dataDir
	run, err := process.Start(context.Background(), cfg, "projector", testenv.QuietLog(), func(ctx context.Context, p service.Parts) (service.Service, error) {
		return projector.NewService(ctx, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitReady(t, run.URL())
	return run
}

// TestReadReplicas runs two projector read replicas (-instance a and b) and
// one ingest process against the three-node cluster, and a coordinator
// who writes and then reads through a round-robin balancer with
// X-Min-Position. Every read sees the coordinator's own last write,
// whichever replica answers; with replica a stopped, the reads go on at b;
// restarted, a catches up from its checkpoint on its own consumer. Each
// read is in ACCESS_LOG exactly once.
func TestReadReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	cfg, ing := startDeployment(t)

	dirA, dirB := t.TempDir(), t.TempDir()
	a := startProjector(t, cfg, "a", dirA)
	stopA := func() { _ = a.Stop() }
	t.Cleanup(func() { stopA() })
	b := startProjector(t, cfg, "b", dirB)
	t.Cleanup(func() { _ = b.Stop() })
	lb := &balancer{backends: map[string]string{"a": a.URL(), "b": b.URL()}, order: []string{"a", "b"}, served: map[string]int{}}

	const fam = "REPL-1"
	var written []string
	post := func(dept events.Department, data events.Payload) uint64 {
		t.Helper()
		ce, err := events.Build(dept, fam, data)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := events.Marshal(ce)
		r := testenv.Do(t, ing.URL(), "POST", "/departments/"+string(dept)+"/v1/events", "dev-"+string(dept), body,
			map[string]string{"Content-Type": "application/cloudevents+json"})
		if r.Status != 201 {
			t.Fatalf("POST: %d %s", r.Status, r.Raw)
		}
		written = append(written, ce.ID())
		return uint64(r.Body["position"].(float64))
	}
	post(events.SOF, &events.FamilyReferred{Reason: "Kompleks sag"})
	post(events.SOF, testenv.Enrolment())
	post(events.SOF, &events.CaseworkerAssigned{EmployeeID: "E1001"})

	reads := 0
	// writeThenRead: the coordinator's colleague at BIF writes, and the
	// coordinator reads the timeline with the write's position; the read
	// must hold every event written so far.
	writeThenRead := func(i int) string {
		t.Helper()
		last := post(events.BIF, &events.EducationStarted{PersonID: "P1", Programme: "hf-" + strconv.Itoa(i)})
		status, body, in := lb.get(t, "/v1/families/"+fam+"/timeline?order=asc&limit=500",
			map[string]string{projector.HeaderMinPosition: strconv.FormatUint(last, 10), "X-Purpose": "replica test"})
		if status != 200 {
			t.Fatalf("read %d via %s: %d %s", i, in, status, body)
		}
		reads++
		checkTimeline(t, in, body, written)
		return in
	}

	for i := range 10 {
		writeThenRead(i)
	}
	if lb.served["a"] == 0 || lb.served["b"] == 0 {
		t.Fatalf("reads served %v: the balancer did not use both replicas", lb.served)
	}

	// Replica a goes down: every read is answered by b.
	stopA()
	lb.set("a", "")
	before := lb.served["b"]
	for i := 10; i < 20; i++ {
		if in := writeThenRead(i); in != "b" {
			t.Fatalf("read %d answered by %s while a is down", i, in)
		}
	}
	if lb.served["b"] != before+10 {
		t.Fatalf("b served %d of the 10 reads while a was down", lb.served["b"]-before)
	}

	// a comes back on its data directory and consumer, catches up with
	// what it missed, and serves again.
	last := post(events.BIF, &events.EducationStarted{PersonID: "P1", Programme: "hf-back"})
	a = startProjector(t, cfg, "a", dirA)
	stopA = func() { _ = a.Stop() }
	r := testenv.Do(t, a.URL(), "GET", "/v1/families/"+fam+"/timeline?order=asc&limit=500", "dev-coordinator", nil,
		map[string]string{projector.HeaderMinPosition: strconv.FormatUint(last, 10), "X-Purpose": "replica test"})
	if r.Status != 200 {
		t.Fatalf("restarted a: %d %s", r.Status, r.Raw)
	}
	reads++
	checkTimeline(t, "a", []byte(r.Raw), written)
	lb.set("a", a.URL())
	servedA := lb.served["a"]
	for i := 20; i < 30; i++ {
		writeThenRead(i)
	}
	if lb.served["a"] == servedA {
		t.Fatalf("the restarted replica a served none of the reads after it came back: %v", lb.served)
	}

	// Each replica reads through its own durable consumer; there is no
	// consumer of the single projector's name.
	nc, err := nats.Connect(cfg.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, in := range []string{"a", "b"} {
		c, err := js.Consumer(ctx, eventstore.FamilyStream, eventstore.ProjectorConsumer(in))
		if err != nil {
			t.Fatalf("consumer of %s: %v", in, err)
		}
		if cfg := c.CachedInfo().Config; cfg.Durable != "projector-"+in {
			t.Errorf("consumer of %s is named %q", in, cfg.Durable)
		}
	}
	if _, err := js.Consumer(ctx, eventstore.FamilyStream, projector.ConsumerName); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("a consumer %q exists (%v): the replicas must not share one", projector.ConsumerName, err)
	}

	// Every read, on whichever replica, is in the access log exactly once.
	checkFor(t, 10*time.Second, func() error {
		st, err := js.Stream(ctx, eventstore.AccessLogStream)
		if err != nil {
			return err
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(accesslog.Subject(fam)))
		if err != nil {
			return err
		}
		if got := info.State.Subjects[accesslog.Subject(fam)]; got != uint64(reads) {
			return fmt.Errorf("%d access-log entries for %d reads (served %v)", got, reads, lb.served)
		}
		return nil
	})
	t.Logf("%d reads, served %v", reads, lb.served)

	// A third replica given another master key (its own dev key, as each
	// process made before) is not ready, and its readiness says why,
	// naming both keys.
	c := cfg
	c.Instance, c.DataDir, c.MasterKeyFile = "c", t.TempDir(), testenv.MasterKeyFile(t)
	wrong, err := process.Start(context.Background(), c, "projector", testenv.QuietLog(), func(ctx context.Context, p service.Parts) (service.Service, error) {
		return projector.NewService(ctx, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wrong.Stop() })
	checkFor(t, 10*time.Second, func() error {
		r := testenv.Do(t, wrong.URL(), "GET", "/readyz", "", nil, nil)
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Raw, "master-key") ||
			!strings.Contains(r.Raw, a.Keys.MasterID()) || !strings.Contains(r.Raw, wrong.Keys.MasterID()) {
			return fmt.Errorf("readyz of a replica with another master key: %d %s", r.Status, r.Raw)
		}
		return nil
	})
}

// checkTimeline: the timeline body (read from instance in) holds every
// id written, each once.
func checkTimeline(t *testing.T, in string, body []byte, written []string) {
	t.Helper()
	var page struct {
		Entries []struct {
			ID string `json:"id"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("timeline from %s: %v", in, err)
	}
	seen := map[string]int{}
	for _, e := range page.Entries {
		seen[e.ID]++
	}
	for _, id := range written {
		if seen[id] != 1 {
			t.Fatalf("timeline from %s has event %s %d times after X-Min-Position; want once", in, id, seen[id])
		}
	}
}
