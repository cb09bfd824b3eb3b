package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// roleClient is one role's connection; the server's permission violations
// arrive on errs.
type roleClient struct {
	nc   *nats.Conn
	errs chan error
}

// allowed sends one request and reports whether the server let it through
// (anything answered, a JetStream error included) or refused it as a
// permissions violation.
func (c *roleClient) allowed(t *testing.T, subject string, hdr nats.Header, body []byte) (bool, string) {
	t.Helper()
	for len(c.errs) > 0 {
		<-c.errs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		m   *nats.Msg
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := c.nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: subject, Header: hdr, Data: body})
		done <- result{m, err}
	}()
	for {
		select {
		case r := <-done:
			switch {
			case r.err == nil:
				return true, string(r.m.Data)
			case errors.Is(r.err, nats.ErrPermissionViolation), errors.Is(r.err, nats.ErrNoResponders):
				return false, r.err.Error()
			}
			t.Fatalf("%s: no answer and no refusal: %v", subject, r.err)
		case err := <-c.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
				return false, err.Error()
			}
		}
	}
}

// TestKeyBucketPermissions runs every role of the embedded server against
// the data keys' bucket JF_KEYS on a real server with Permissions: the
// setup key creates and updates the bucket; the service (ingest, the
// readers and erasure in one process) reads, creates and destroys a key;
// the operator only reads the wrapped keys; a department's key reaches
// nothing of it; and nobody purges or deletes the bucket.
func TestKeyBucketPermissions(t *testing.T) {
	t.Parallel()
	roles := append([]string{eventstore.RoleSetup, eventstore.RoleService, eventstore.RoleOperator}, eventstore.Departments...)
	ids := map[string]eventstore.Identity{}
	var users []*server.NkeyUser
	for _, r := range roles {
		id, err := eventstore.NewIdentity()
		if err != nil {
			t.Fatal(err)
		}
		p, err := eventstore.Permissions(r)
		if err != nil {
			t.Fatal(err)
		}
		ids[r] = id
		users = append(users, &server.NkeyUser{Nkey: id.Public(), Permissions: p})
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		Nkeys: users, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	clients := map[string]*roleClient{}
	for _, r := range roles {
		c := &roleClient{errs: make(chan error, 64)}
		nc, err := nats.Connect(s.ClientURL(), ids[r].Option(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case c.errs <- err:
			default:
			}
		}))
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		t.Cleanup(nc.Close)
		c.nc = nc
		clients[r] = c
	}
	ctx := context.Background()

	// The setup step makes the streams and the bucket; no service may.
	sjs, err := jetstream.New(clients[eventstore.RoleSetup].nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := eventstore.EnsureStreams(ctx, sjs, eventstore.StreamOptions{}); err != nil {
		t.Fatalf("setup: %v", err)
	}
	for _, r := range []string{eventstore.RoleService, eventstore.RoleOperator, "sof"} {
		js, _ := jetstream.New(clients[r].nc)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := eventstore.EnsureStreams(cctx, js, eventstore.StreamOptions{})
		cancel()
		if err == nil {
			t.Errorf("%s created or updated the streams and the bucket", r)
		}
	}

	// The service's life of a key, as package shred lives it: create,
	// read, destroy (secure delete, then a delete marker).
	vjs, err := jetstream.New(clients[eventstore.RoleService].nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := vjs.KeyValue(ctx, eventstore.KeyBucket)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Create(ctx, "F1.0", []byte("v1:wrapped"))
	if err != nil {
		t.Fatalf("service creating a key: %v", err)
	}
	if e, err := kv.Get(ctx, "F1.0"); err != nil || string(e.Value()) != "v1:wrapped" {
		t.Fatalf("service reading a key: %v", err)
	}
	ks, err := vjs.Stream(ctx, eventstore.KeyStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.SecureDeleteMsg(ctx, rev); err != nil {
		t.Fatalf("service erasing a key's message: %v", err)
	}
	if err := kv.Delete(ctx, "F1.0"); err != nil {
		t.Fatalf("service marking a key deleted: %v", err)
	}
	if _, err := kv.Create(ctx, "F2.0", []byte("v1:wrapped")); err != nil {
		t.Fatal(err)
	}

	config := func(cfg jetstream.StreamConfig) []byte {
		b, _ := json.Marshal(cfg)
		return b
	}
	defused := eventstore.KeyStreamConfig(eventstore.StreamOptions{})
	defused.Storage = jetstream.MemoryStorage // JetStream refuses the change
	newKey := nats.Header{jetstream.ExpectedLastSubjSeqHeader: []string{"0"}}
	cases := []struct {
		name, subject string
		hdr           nats.Header
		body          []byte
		who           []string
	}{
		{"stream info", "$JS.API.STREAM.INFO." + eventstore.KeyStream, nil, nil,
			[]string{eventstore.RoleSetup, eventstore.RoleService, eventstore.RoleOperator}},
		{"stream create", "$JS.API.STREAM.CREATE." + eventstore.KeyStream, nil, config(eventstore.KeyStreamConfig(eventstore.StreamOptions{})),
			[]string{eventstore.RoleSetup}},
		{"stream update", "$JS.API.STREAM.UPDATE." + eventstore.KeyStream, nil, config(defused),
			[]string{eventstore.RoleSetup}},
		{"direct get by sequence", "$JS.API.DIRECT.GET." + eventstore.KeyStream, nil, []byte(`{"seq":1}`),
			[]string{eventstore.RoleService, eventstore.RoleOperator}},
		{"direct get of a key", "$JS.API.DIRECT.GET." + eventstore.KeyStream + ".$KV.JF_KEYS.F2.0", nil, nil,
			[]string{eventstore.RoleService, eventstore.RoleOperator}},
		{"create a key", "$KV.JF_KEYS.F3.0", newKey, []byte("v1:x"),
			[]string{eventstore.RoleService}},
		{"write outside the keys' subjects", "$KV.JF_KEYS.F3.0.x", newKey, []byte("v1:x"), nil},
		// An allowed delete finds no such message: nothing is harmed.
		{"delete a key's message", "$JS.API.STREAM.MSG.DELETE." + eventstore.KeyStream, nil, []byte(`{"seq":1099511627776}`),
			[]string{eventstore.RoleService}},
		{"purge the bucket", "$JS.API.STREAM.PURGE." + eventstore.KeyStream, nil, []byte(`{"filter":"$KV.JF_KEYS.FNOBODY.0"}`), nil},
		{"delete the bucket", "$JS.API.STREAM.DELETE." + eventstore.KeyStream, nil, nil, nil},
	}
	for _, c := range cases {
		for _, r := range roles {
			got, detail := clients[r].allowed(t, c.subject, c.hdr, c.body)
			if want := slices.Contains(c.who, r); got != want {
				t.Errorf("%s (%s) as %s: allowed %v, want %v (%s)", c.name, c.subject, r, got, want, detail)
			}
		}
	}
	// The denials held: the keys the service made are still there.
	if _, err := kv.Get(ctx, "F2.0"); err != nil {
		t.Errorf("a key after the refused requests: %v", err)
	}
}
