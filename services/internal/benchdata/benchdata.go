// Package benchdata makes valid catalog events fast, from templates, for
// the benches: families F<n> and one big family, BIG, whose events are
// spread evenly over the stream. Building each event through package
// events would cost more than the systems being measured.
package benchdata

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// Events generates N events over Families families, Big of them for BIG,
// as ingest makes and stores them: a UUIDv7-shaped id, dataschema set, and
// published with the headers ingest sets, Nats-Msg-Id and the family's
// expected last sequence. The stream keeps the headers, and every reader
// receives them.
type Events struct {
	N, Families, Big int
	// Base is the time of event 0; event i happened Spacing later per i.
	Base    time.Time
	Spacing time.Duration
	// BackfillBig moves every tenth event of BIG a year back in time, so
	// that its time lies before events recorded earlier.
	BackfillBig bool
	// Name is the id of family n (nil: "F<n>"); Skip leaves out each
	// family's first Skip templates (2: no enrolment, no caseworker), for
	// events that fill up families made elsewhere.
	Name func(n int) string
	Skip int
	// Personal puts personal free text into half of each family's
	// events after its first four: family.referred (reason and note) in
	// place of wellbeing.measured, and goal.set (title and description)
	// and education.started (programme) in turn in place of
	// employment.started. Each text holds PersonalMarker.
	Personal bool
	// Seal, when set, rewrites each message's data before it is
	// published, as ingest encrypts personal fields (package shred).
	Seal func(subject string, data []byte) ([]byte, error)

	last map[string]uint64 // each family's last sequence
	seq  uint64            // the stream's last sequence
}

// PersonalMarker is in every personal text of Events with Personal, so
// that a test can grep a store's files for it.
const PersonalMarker = "jfbench-personal-text"

// ingestID is an id shaped like the UUIDv7 strings ingest gives events.
func ingestID(i int) string {
	return fmt.Sprintf("019a0000-0000-7000-8000-%012x", i)
}

// Next returns the subject and CloudEvent JSON of event i.
func (g *Events) Next(i int) (string, []byte) {
	fam, k := "F"+strconv.Itoa(i%max(g.Families, 1)), i/max(g.Families, 1)+g.Skip
	if g.Name != nil {
		fam = g.Name(i % max(g.Families, 1))
	}
	every := max(1, g.N/max(g.Big, 1))
	if g.Big > 0 && i%every == 0 && i/every < g.Big {
		fam, k = "BIG", i/every
	}
	var dept, name, data string
	ver := 1
	switch {
	case k == 0:
		dept, name = "sof", "family.enrolled"
		data = `{"members":[{"personId":"P1","role":"parent"},{"personId":"C1","role":"child"}],"courseStart":"2024-01-15","childCaseIds":["CASE1"],"parentBenefits":[{"personId":"P1","benefit":"kontanthjaelp"}]}`
	case k == 1:
		dept, name, data = "sof", "caseworker.assigned", `{"employeeId":"E1001"}`
	case k == 2 || k == 3:
		// Both persons consent to data sharing, so that the coordinator's
		// reads measure the consent gate showing BUF and SUF events.
		person := map[int]string{2: "P1", 3: "C1"}[k]
		dept, name, data = "sof", "consent.given", `{"personId":"`+person+`","scope":"data-sharing"}`
	case g.Personal && k%4 == 0:
		dept, name, data = "sof", "family.referred", `{"reason":"Langvarig ledighed hos begge forældre og bekymring for barnets trivsel i skolen (`+PersonalMarker+` `+strconv.Itoa(i)+`)","note":"Henvist via SSP-møde, familien ønsker hjælp (`+PersonalMarker+`)"}`
	case g.Personal && k%8 == 2:
		dept, name, ver, data = "sof", "goal.set", 2, `{"goalId":"G`+strconv.Itoa(i)+`","title":"Mor er i praktik mindst 15 timer om ugen (`+PersonalMarker+`)","domains":["employment","family"],"description":"Praktikken skal passe med at hente børnene kl. 15, så hverdagen hænger sammen (`+PersonalMarker+` `+strconv.Itoa(i)+`)","personId":"P1","expressedBy":"family"}`
	case g.Personal && k%8 == 6:
		dept, name, data = "bif", "education.started", `{"personId":"P1","programme":"HF-enkeltfag dansk og matematik (`+PersonalMarker+` `+strconv.Itoa(i)+`)"}`
	case k%4 == 0:
		dept, name, data = "buf", "wellbeing.measured", `{"childId":"C1","instrument":"SDQ","score":`+strconv.Itoa(i%40)+`}`
	case k%4 == 1:
		dept, name, data = "suf", "health.assessed", `{"personId":"P1","barrierToWork":`+strconv.FormatBool(i%2 == 0)+`}`
	case k%4 == 2:
		dept, name, data = "bif", "employment.started", `{"personId":"P1","kind":"small-job","hoursPerWeek":`+strconv.Itoa(i%30+1)+`}`
	default:
		dept, name, data = "sof", "meeting.held", `{"kind":"family","participants":["E1001","E1002"]}`
	}
	at := g.Base.Add(time.Duration(i) * g.Spacing)
	if g.BackfillBig && fam == "BIG" && k%10 == 9 {
		at = at.AddDate(-1, 0, 0)
	}
	spec, _ := events.ByType(events.TypeOf(name, ver))
	ev := `{"specversion":"1.0","id":"` + ingestID(i) + `","source":"/departments/` + dept +
		`","type":"` + spec.Type() + `","subject":"` + fam + `","time":"` + at.Format(time.RFC3339) +
		`","datacontenttype":"application/json","dataschema":"` + spec.SchemaURL() + `","data":` + data + `}`
	return "families." + fam + "." + dept + "." + name, []byte(ev)
}

// Msg is event i as ingest publishes it, with the family's last sequence
// as the expected one, assuming that every message made before it is
// stored, in order (after Publish).
func (g *Events) Msg(i int) *nats.Msg {
	subj, b := g.Next(i)
	fam := strings.SplitN(subj, ".", 3)[1]
	m := &nats.Msg{Subject: subj, Data: b, Header: nats.Header{}}
	if g.Seal != nil {
		sealed, err := g.Seal(subj, b)
		if err != nil {
			panic(fmt.Sprintf("benchdata: sealing event %d: %v", i, err))
		}
		m.Data = sealed
	}
	m.Header.Set(jetstream.MsgIDHeader, ingestID(i))
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(g.last[fam], 10))
	m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, "families."+fam+".>")
	g.seq++
	g.last[fam] = g.seq
	return m
}

// start reads the stream's last sequence, from which Msg counts.
func (g *Events) start(ctx context.Context, js jetstream.JetStream) error {
	if g.last != nil {
		return nil
	}
	s, err := js.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return err
	}
	g.seq, g.last = s.CachedInfo().State.LastSeq, map[string]uint64{}
	return nil
}

// Publish stores all N events with async publishes, a window at a time,
// and returns their total size; after is called with each index once it
// has been sent (may be nil).
func (g *Events) Publish(ctx context.Context, js jetstream.JetStream, after func(i int)) (int, error) {
	var (
		size    int
		futures []jetstream.PubAckFuture
	)
	if err := g.start(ctx, js); err != nil {
		return 0, err
	}
	for i := range g.N {
		m := g.Msg(i)
		size += len(m.Data)
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return size, err
		}
		futures = append(futures, f)
		if len(futures) == 4000 || i == g.N-1 {
			for _, f := range futures {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					return size, err
				case <-ctx.Done():
					return size, ctx.Err()
				}
			}
			futures = futures[:0]
		}
		if after != nil {
			after(i)
		}
	}
	return size, nil
}

// Store is a benchmark's event store: an embedded NATS with its file store
// under dir (a temporary directory when dir is ""), listening on a free
// port, the streams created. Close removes a temporary directory.
type Store struct {
	NC  *nats.Conn
	JS  jetstream.JetStream
	URL string
	// NKey is the seed file of the server's service key, for processes
	// that connect to URL (-nats-nkey, JF_NATS_NKEY).
	NKey string
	// AdminNKey is the seed file of a key with every right, for a bench
	// that needs a stream of its own beside the system's (the peer
	// forwarder's).
	AdminNKey string
	Dir       string

	close func()
}

// OpenStore starts the store; name identifies its client connection.
func OpenStore(ctx context.Context, dir, name string, dur eventstore.Durability) (*Store, error) {
	var cleanup []func()
	closeAll := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "jfbench-*")
		if err != nil {
			return nil, err
		}
		cleanup = append(cleanup, func() { os.RemoveAll(d) })
		dir = d
	}
	admin, err := eventstore.NewIdentity()
	if err != nil {
		closeAll()
		return nil, err
	}
	ns, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0", Durability: dur, Admin: &admin})
	if err != nil {
		closeAll()
		return nil, err
	}
	cleanup = append(cleanup, func() { ns.Shutdown(); ns.WaitForShutdown() })
	nkey := filepath.Join(dir, "nats", "service.nk")
	if err := ns.Service.WriteSeedFile(nkey); err != nil {
		closeAll()
		return nil, err
	}
	adminKey := filepath.Join(dir, "nats", "admin.nk")
	if err := admin.WriteSeedFile(adminKey); err != nil {
		closeAll()
		return nil, err
	}
	nc, err := eventstore.Connect(ns.ClientURL(), nil, name, ns.Service.Option())
	if err != nil {
		closeAll()
		return nil, err
	}
	cleanup = append(cleanup, nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		closeAll()
		return nil, err
	}
	if err := eventstore.CheckStreams(ctx, js); err != nil {
		closeAll()
		return nil, err
	}
	return &Store{NC: nc, JS: js, URL: ns.ClientURL(), NKey: nkey, AdminNKey: adminKey, Dir: dir, close: closeAll}, nil
}

// Close stops the server and removes a temporary directory.
func (s *Store) Close() { s.close() }
