package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"kk.dk/jobogfamilie/services/internal/testenv"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// node is one nats-server of the test cluster, restartable on its ports
// and store.
type node struct {
	name        string
	port, route int
	dir         string
	routes      []*url.URL
	srv         *server.Server
}

// start starts the node again on its ports, which the other nodes' routes
// and the services' URLs name: while another process holds one (a
// client connection's local end, usually), it waits and tries again.
func (n *node) start(t *testing.T) {
	t.Helper()
	testenv.RetryAddrInUse(t, 20, func(int) error { return n.tryStart(20 * time.Second) })
}

// tryStart starts the node on its ports; one it cannot listen on fails it
// at once (testenv.StartServer).
func (n *node) tryStart(ready time.Duration) error {
	opts := &server.Options{
		ServerName: n.name, Host: "127.0.0.1", Port: n.port,
		JetStream: true, StoreDir: n.dir, NoSigs: true, NoLog: true,
		Cluster: server.ClusterOpts{Name: "jf-test", Host: "127.0.0.1", Port: n.route},
		Routes:  n.routes,
	}
	srv, err := testenv.StartServer(opts, ready)
	if err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	n.srv = srv
	return nil
}

func (n *node) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func startCluster(t *testing.T) []*node {
	t.Helper()
	// A cluster test that hangs says where, before go test's -timeout
	// (the report's timer is stopped by the test's last cleanup, so a
	// hang in a cleanup is reported too).
	testenv.HangReport(t, 10*time.Minute)
	// Ports are chosen before the servers start, because each node's
	// routes name the others'; with every package's tests running at once,
	// another process may take one meanwhile. Then the cluster starts again
	// on fresh ports.
	var nodes []*node
	testenv.RetryAddrInUse(t, 3, func(int) error {
		nodes = newNodes(t)
		for _, n := range nodes {
			if err := n.tryStart(10 * time.Second); err != nil {
				for _, n := range nodes {
					n.stop()
				}
				return err
			}
		}
		return nil
	})
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	checkFor(t, 30*time.Second, func() error {
		for _, n := range nodes {
			if n.srv.JetStreamIsLeader() {
				return nil
			}
		}
		return fmt.Errorf("no JetStream meta leader yet")
	})
	return nodes
}

// newNodes makes three nodes on fresh ports, each routed to the others.
func newNodes(t *testing.T) []*node {
	nodes := make([]*node, 3)
	ports := testenv.FreePorts(t, 2*len(nodes))
	for i := range nodes {
		nodes[i] = &node{name: fmt.Sprintf("n%d", i+1), port: ports[2*i], route: ports[2*i+1], dir: t.TempDir()}
	}
	for _, n := range nodes {
		for _, o := range nodes {
			if o != n {
				n.routes = append(n.routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", o.route)})
			}
		}
	}
	return nodes
}

var checkFor = testenv.CheckFor

func streamLeader(nodes []*node) *node {
	for _, n := range nodes {
		if n.srv != nil && n.srv.JetStreamIsStreamLeader("$G", eventstore.FamilyStream) {
			return n
		}
	}
	return nil
}

// TestClusterKeepsEveryAcknowledgedEventThroughNodeFailures runs the whole
// system against three nats-servers with the streams at R3, ingests
// continuously, stops the stream leader and then another node and brings
// them back. Every event that got a 2xx must then appear exactly once in
// its family's timeline, and the projector must have carried on.
func TestClusterKeepsEveryAcknowledgedEventThroughNodeFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	nodes := startCluster(t)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", n.port))
	}
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.DataDir, cfg.NATSURL, cfg.Replicas = "127.0.0.1:0", t.TempDir(), strings.Join(urls, ","), 3
	// Services never create the streams: the deployment's setup step does,
	// as its admin user (here the cluster has no users).
	if err := standalone.SetupStreams(context.Background(), cfg, io.Discard); err != nil {
		t.Fatalf("setup-streams: %v", err)
	}
	sa, err := standalone.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sa.Stop() })
	checkFor(t, 60*time.Second, func() error {
		resp, err := http.Get(sa.URL() + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("readyz %d %s", resp.StatusCode, b)
		}
		return nil
	})

	const writers = 4
	var (
		mu    sync.Mutex
		acked = map[string]string{} // event id -> family
		stop  atomic.Bool
		ended atomic.Bool // the test ended early: give up retrying too
		wg    sync.WaitGroup
		fails atomic.Int64
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				fam := fmt.Sprintf("C%d-%d", w, i%5)
				id := fmt.Sprintf("cluster-%d-%d", w, i)
				ce, err := events.Build(events.BIF, fam, &events.EducationStarted{PersonID: "P1", Programme: "hf"}, events.WithID(id))
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := events.Marshal(ce)
				// A client retries with the same id until it gets an answer;
				// that is what makes a lost acknowledgement harmless. A
				// system that gives none for two minutes fails the test.
				first := time.Now()
				for attempt := 0; !ended.Load(); attempt++ {
					status, rule := post(client, sa.URL(), body)
					if status == 201 || status == 200 {
						mu.Lock()
						acked[id] = fam
						mu.Unlock()
						break
					}
					fails.Add(1)
					// Retried as the API asks: an unavailable or unconfirmed
					// store (503, or no answer), and a concurrency conflict
					// (409 with rule concurrency: "retry with the same event
					// id"), which a loaded machine produced around a node
					// failure. A refusal (any other 409) is a failure.
					if retry := status == 503 || status == 0 || status == 409 && rule == "concurrency"; !retry {
						t.Errorf("event %s: status %d %s", id, status, rule)
						return
					}
					if time.Since(first) > 2*time.Minute {
						t.Errorf("event %s: no answer in %v, after %d attempts; the last: status %d %s",
							id, time.Since(first).Round(time.Second), attempt+1, status, rule)
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	// A test that fails before its writers finish stops them here.
	t.Cleanup(func() { ended.Store(true); stop.Store(true); wg.Wait() })

	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitMore := func(n int) {
		t.Helper()
		target := count() + n
		checkFor(t, 60*time.Second, func() error {
			if c := count(); c < target {
				return fmt.Errorf("%d of %d events acknowledged", c, target)
			}
			return nil
		})
	}
	waitMore(50)
	leader := streamLeader(nodes)
	if leader == nil {
		t.Fatal("no stream leader")
	}
	t.Logf("stopping the stream leader %s after %d events", leader.name, count())
	leader.stop()
	waitMore(50)
	leader.start(t)
	waitMore(50)
	var other *node
	for _, n := range nodes {
		if n != leader {
			other = n
			break
		}
	}
	t.Logf("stopping %s after %d events", other.name, count())
	other.stop()
	waitMore(50)
	other.start(t)
	waitMore(50)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d events acknowledged, %d failed attempts retried", count(), fails.Load())

	// Every acknowledged event exactly once in its family's timeline.
	families := map[string]bool{}
	for _, fam := range acked {
		families[fam] = true
	}
	seen := map[string]int{}
	checkFor(t, 60*time.Second, func() error {
		clear(seen)
		for fam := range families {
			if err := timeline(client, sa.URL(), fam, seen); err != nil {
				return err
			}
		}
		for id := range acked {
			if seen[id] != 1 {
				return fmt.Errorf("event %s appears %d times in the timeline", id, seen[id])
			}
		}
		return nil
	})
	for id, n := range seen {
		if _, ok := acked[id]; !ok {
			t.Errorf("event %s is in the timeline %d times but was never acknowledged", id, n)
		}
	}
	// Leader changes and restarts are no damage: no integrity check of
	// the event store failed on the way (a failure is counted).
	resp, err := http.Get(sa.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The guard's gauges are there: a page without them would hide its
	// failures too.
	if resp.StatusCode != 200 || !strings.Contains(string(metrics), "\njf_store_integrity_ok{") {
		t.Fatalf("/metrics: %d, without the integrity checks' gauges:\n%.2000s", resp.StatusCode, metrics)
	}
	for _, l := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(l, "jf_store_integrity_failures_total{") {
			t.Errorf("an integrity check failed through the node failures: %s", l)
		}
	}
}

// post sends one event and returns the status and, for a problem, its
// rule (a 409 says whether it is a refusal or a concurrency conflict).
func post(c *http.Client, base string, body []byte) (int, string) {
	req, _ := http.NewRequest("POST", base+"/departments/bif/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer dev-bif")
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var pb struct {
		Rule string `json:"rule"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&pb)
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, pb.Rule
}

// timeline counts the ids of a family's whole timeline into seen.
func timeline(c *http.Client, base, fam string, seen map[string]int) error {
	cursor := ""
	for {
		u := base + "/v1/families/" + fam + "/timeline?order=asc&limit=500"
		if cursor != "" {
			u = base + "/v1/families/" + fam + "/timeline?cursor=" + url.QueryEscape(cursor)
		}
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer dev-auditor")
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		var page struct {
			Entries []struct {
				ID       string `json:"id"`
				Sequence uint64 `json:"sequence"`
			} `json:"entries"`
			NextCursor *string `json:"nextCursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("timeline %s: status %d", fam, resp.StatusCode)
		}
		if err != nil {
			return err
		}
		for _, e := range page.Entries {
			seen[e.ID]++
		}
		if page.NextCursor == nil {
			return nil
		}
		cursor = *page.NextCursor
	}
}
