package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/server"
)

// ForwarderChildFlag makes jfbench the peer forwarder process of the
// ingest bench.
const ForwarderChildFlag = "forwarder-child"

// forwardStream is the peer's stream: FAMILY_EVENTS's configuration (file
// store, replicas, limits) on subjects of its own, on the same server, so
// that the peer's writes cost the server what ingest's do and never reach
// ingest's index.
const forwardStream = "BENCH_FORWARD"

// forwarder is the peer in the bench: the minimal HTTP → JetStream
// forwarder most teams write (or get from Watermill). It publishes the
// body and waits for the acknowledgement; a batch it splits into its
// events, publishes each asynchronously and waits for all of them (not
// atomic: some may be stored and others not). No validation, no
// idempotency, no concurrency control.
type forwarder struct {
	js jetstream.JetStream
}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	subject := "forward." + r.PathValue("dept")
	if r.Header.Get("Content-Type") != "application/cloudevents-batch+json" {
		if _, err := f.js.Publish(r.Context(), subject, body); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		return
	}
	var batch []json.RawMessage
	if err := json.Unmarshal(body, &batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	acks := make([]jetstream.PubAckFuture, len(batch))
	for i, e := range batch {
		if acks[i], err = f.js.PublishAsync(subject, e); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	for _, a := range acks {
		select {
		case <-a.Ok():
		case err := <-a.Err():
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		case <-r.Context().Done():
			return
		}
	}
	w.WriteHeader(http.StatusCreated)
}

// ForwarderChild is the peer forwarder's process: POST
// /departments/{dept}/v1/events against natsURL (with the key in
// JF_NATS_NKEY, which may create its stream), in a process of its own as
// ingest's is, with the same /bench/profile and /bench/stats endpoints. It
// writes its URL as one line on out and runs until stdin closes or ctx
// ends.
func ForwarderChild(ctx context.Context, natsURL string, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := eventstore.Open(ctx, eventstore.OpenOptions{URL: natsURL, NKeyFile: os.Getenv("JF_NATS_NKEY"), Name: "bench-forwarder", Log: log})
	if err != nil {
		return err
	}
	defer store.Close()
	cfg := eventstore.FamilyStreamConfig(eventstore.StreamOptions{Replicas: 1})
	cfg.Name, cfg.Description, cfg.Subjects = forwardStream, "jfbench: the peer forwarder's events", []string{"forward.>"}
	if _, err := store.JS.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("bench: the forwarder's stream: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /departments/{dept}/v1/events", &forwarder{js: store.JS})
	mountChildEndpoints(mux, func() childStats { return childStats{} })
	srv, err := server.Listen("127.0.0.1:0", mux)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx); close(done) }()
	fmt.Fprintln(out, srv.URL())
	<-ctx.Done()
	<-done
	return nil
}

// rawIntoPeerStream publishes n generated events asynchronously into the
// forwarder's stream, as rawPublish does into FAMILY_EVENTS, with the key
// in adminNKey: the raw limit of a stream that holds only the peer's
// writes, where FAMILY_EVENTS holds the whole preload.
func rawIntoPeerStream(ctx context.Context, natsURL, adminNKey string, g *generator, n int) (float64, error) {
	opt, err := nats.NkeyOptionFromSeed(adminNKey)
	if err != nil {
		return 0, err
	}
	nc, err := nats.Connect(natsURL, opt)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return 0, err
	}
	msgs := make([]*nats.Msg, n)
	for i := range msgs {
		_, id, data := g.stored()
		msgs[i] = nats.NewMsg("forward.raw")
		msgs[i].Data = data
		msgs[i].Header.Set(jetstream.MsgIDHeader, id)
	}
	start := time.Now()
	for _, m := range msgs {
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(5*time.Second)); err != nil {
			return 0, err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("bench: async publishes into the peer's stream not acknowledged")
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// measureBatches sends the batch bodies to url from clients concurrent
// clients and returns events per second and how many events were stored
// (size for each request answered 201).
func measureBatches(client *http.Client, url string, batches [][]byte, size, clients int, errs *errCount) (float64, int) {
	var sent atomic.Int64
	start := time.Now()
	runClients(clients, len(batches), func(c, i int) {
		if post(client, url, "application/cloudevents-batch+json", batches[i], errs) {
			sent.Add(int64(size))
		}
	})
	return float64(sent.Load()) / time.Since(start).Seconds(), int(sent.Load())
}

// measureSingles sends the single events to url from clients concurrent
// clients and returns the events stored (answered 201) per second and
// their latencies, sorted. A request that failed counts in errs only: its
// event is not in the rate, its latency not in the percentiles.
func measureSingles(client *http.Client, url string, singles [][]byte, clients int, errs *errCount) (float64, []time.Duration) {
	lat := make([]time.Duration, len(singles))
	start := time.Now()
	runClients(clients, len(singles), func(c, i int) {
		t0 := time.Now()
		stored := post(client, url, "application/cloudevents+json", singles[i], errs)
		lat[i] = time.Since(t0)
		if !stored {
			lat[i] = -1
		}
	})
	took := time.Since(start)
	lat = slices.DeleteFunc(lat, func(d time.Duration) bool { return d < 0 })
	slices.Sort(lat)
	return float64(len(lat)) / took.Seconds(), lat
}
