package loadtest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/loadtest"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// TestLoadCountsAgree: 32 department clients for a bounded time; the events
// acknowledged, the events in the stream and the entries in the read model
// must be the same, id for id. JF_LOAD_DURATION sets the time (make
// loadtest runs it for a minute; make test for a few seconds).
func TestLoadCountsAgree(t *testing.T) {
	dur := 3 * time.Second
	if v := os.Getenv("JF_LOAD_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		dur = d
	}
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.DataDir, cfg.NATSListen = "127.0.0.1:0", t.TempDir(), "off"
	sa, err := standalone.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sa.Stop() })
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := client.Get(sa.URL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
		time.Sleep(50 * time.Millisecond)
	}

	res, err := loadtest.Run(context.Background(), loadtest.Options{
		BaseURL: sa.URL(), Clients: 32, Duration: dur, FamiliesPerClient: 4,
		BatchEvery: batchEvery(), BatchSize: 20, Client: client,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load: %d requests, %d events acknowledged in %s = %.0f events/s; single-event latency p50 %s p99 %s; errors by status %v",
		res.Requests, res.Acked, res.Elapsed.Round(time.Millisecond), res.Throughput(),
		res.Percentile(50).Round(time.Microsecond), res.Percentile(99).Round(time.Microsecond), res.Errors)
	if len(res.Errors) > 0 {
		t.Errorf("requests failed: %v", res.Errors)
	}
	if res.Acked == 0 {
		t.Fatal("nothing was acknowledged")
	}

	st, err := sa.Store.JS.Stream(context.Background(), eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids, err := loadtest.ReadModelIDs(client, sa.URL(), res.Families, info.State.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	inModel := 0
	for id, n := range ids {
		inModel += n
		if n != 1 {
			t.Errorf("event %s is %d times in the read model", id, n)
		}
		if !res.IDs[id] {
			t.Errorf("event %s is in the read model but was never acknowledged", id)
		}
	}
	for id := range res.IDs {
		if ids[id] == 0 {
			t.Errorf("acknowledged event %s is missing from the read model", id)
		}
	}
	t.Logf("counts: acknowledged %d, in the stream %d, in the read model %d", res.Acked, info.State.Msgs, inModel)
	if uint64(res.Acked) != info.State.Msgs || res.Acked != inModel {
		t.Fatalf("counts differ: acknowledged %d, stream %d, read model %d", res.Acked, info.State.Msgs, inModel)
	}
	v, err := loadtest.Verify(&http.Client{Timeout: 5 * time.Minute}, sa.URL())
	if err != nil {
		t.Fatal(err)
	}
	if v["match"] != true {
		t.Fatalf("verify after the load: %v", v)
	}
	t.Logf("verify: %v events, live and replayed read models match", v["events"])
}

// batchEvery makes every tenth request a batch unless JF_LOAD_BATCH_EVERY
// says otherwise (0 for single events only).
func batchEvery() int {
	if v := os.Getenv("JF_LOAD_BATCH_EVERY"); v != "" {
		var n int
		if _, err := fmt.Sscan(v, &n); err == nil {
			return n
		}
	}
	return 10
}
