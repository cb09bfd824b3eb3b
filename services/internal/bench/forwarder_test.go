package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/benchdata"
	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// TestForwarderStoresWhatItAcknowledges: the bench's peer answers 201 only
// for what its stream holds, a single body as one message and a batch as
// one message per event, on its own stream and never on FAMILY_EVENTS; and
// its figures come from the same measuring loops as ingest's.
func TestForwarderStoresWhatItAcknowledges(t *testing.T) {
	ctx := context.Background()
	st, err := benchdata.OpenStore(ctx, t.TempDir(), "forwarder-test", eventstore.Durability{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	opt, err := nats.NkeyOptionFromSeed(st.AdminNKey)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(st.URL, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := eventstore.FamilyStreamConfig(eventstore.StreamOptions{Replicas: 1})
	cfg.Name, cfg.Subjects = forwardStream, []string{"forward.>"}
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(func() http.Handler {
		mux := http.NewServeMux()
		mux.Handle("POST /departments/{dept}/v1/events", &forwarder{js: js})
		return mux
	}())
	defer srv.Close()

	g := newGenerator(10)
	singles := [][]byte{g.ingestEvent(1), g.ingestEvent(2), g.ingestEvent(3)}
	batch := append(append([]byte("["), bytes.Join([][]byte{g.ingestEvent(4), g.ingestEvent(5)}, []byte(","))...), ']')
	errs := &errCount{}
	if rate, lat := measureSingles(http.DefaultClient, srv.URL, singles, 2, errs); rate <= 0 || len(lat) != 3 || errs.n.Load() != 0 {
		t.Fatalf("singles: rate %v, %d latencies, %d errors", rate, len(lat), errs.n.Load())
	}
	if rate, stored := measureBatches(http.DefaultClient, srv.URL, [][]byte{batch}, 2, 1, errs); rate <= 0 || stored != 2 || errs.n.Load() != 0 {
		t.Fatalf("batch: rate %v, %d stored, %d errors", rate, stored, errs.n.Load())
	}
	// Not a JSON array: refused, nothing stored.
	if post(http.DefaultClient, srv.URL, "application/cloudevents-batch+json", []byte(`{"no":"array"}`), errs) || errs.n.Load() != 1 {
		t.Fatalf("a batch that is no array was acknowledged")
	}
	s, err := js.Stream(ctx, forwardStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("forward.bif"))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Msgs; got != 5 {
		t.Errorf("the forwarder's stream holds %d messages, want 5 (3 singles, a batch of 2)", got)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Data, singles[0]) && !bytes.Equal(m.Data, singles[1]) && !bytes.Equal(m.Data, singles[2]) {
		t.Errorf("message 1 is not a body that was sent: %s", m.Data)
	}
	fam, err := st.JS.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := fam.Info(ctx); err != nil || fi.State.Msgs != 0 {
		t.Errorf("FAMILY_EVENTS holds %v messages (%v): the peer must not write there", fi.State.Msgs, err)
	}
}
