package deploytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// TestAdminBacksUpAndRestores: deploy/README.md backs up FAMILY_EVENTS
// with `nats stream backup` as admin and restores it with `nats stream
// restore` into a cluster without the stream. Both speak the JetStream
// API as the nats CLI does (jsm.go): a snapshot request naming an inbox,
// where the chunks arrive, each acknowledged on the $JS.SNAPSHOT.ACK.…
// reply subject the server gives it; a restore request, whose answer
// names the $JS.SNAPSHOT.RESTORE.… subject the chunks are sent to. With
// admin's publish allow list and inbox-only subscription that works: no
// permissions violation, and the restored stream holds every event.
func TestAdminBacksUpAndRestores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := startCluster(t)
	if err := standalone.SetupStreams(ctx, serviceConfig(t, src, "admin"), io.Discard); err != nil {
		t.Fatal(err)
	}
	snc, _ := src.connect(t, "sof")
	sjs, err := jetstream.New(snc)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for range n {
		if _, err := sjs.Publish(ctx, events.Subject("FBACKUP", events.SOF, "meeting.held"),
			rawEvent(t, events.SOF, "FBACKUP", &events.MeetingHeld{Kind: "network"})); err != nil {
			t.Fatal(err)
		}
	}

	admin, errs := src.connect(t, "admin")
	snap, data := snapshot(t, admin, eventstore.FamilyStream)
	// More than one chunk: the server waited for the first one's
	// acknowledgement before it sent the next.
	if snap.State.Msgs != n || len(data) <= snapshotChunk {
		t.Fatalf("the backup holds %d messages in %d bytes, want %d in more than one chunk", snap.State.Msgs, len(data), n)
	}
	noViolation(t, admin, errs)

	// A new cluster, without the streams: the restore creates
	// FAMILY_EVENTS with its configuration and every message.
	dst := startCluster(t)
	dadmin, derrs := dst.connect(t, "admin")
	restore(t, dadmin, server.JSApiStreamRestoreRequest{Config: *snap.Config, State: *snap.State}, data)
	noViolation(t, dadmin, derrs)
	djs, err := jetstream.New(dadmin)
	if err != nil {
		t.Fatal(err)
	}
	checkFor(t, 20*time.Second, func() error {
		if got := streamMsgs(t, djs, eventstore.FamilyStream); got != n {
			return fmt.Errorf("the restored %s holds %d messages, want %d", eventstore.FamilyStream, got, n)
		}
		return nil
	})
	st, err := djs.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := st.CachedInfo().Config; !cfg.DenyDelete || !cfg.DenyPurge || cfg.Replicas != 3 {
		t.Errorf("the restored %s: deny delete %v, deny purge %v, %d replicas", eventstore.FamilyStream, cfg.DenyDelete, cfg.DenyPurge, cfg.Replicas)
	}
}

// TestAdminReceivesNoEvents: deploy/README.md, "Every user subscribes
// only to _INBOX.>, where replies and pulled messages arrive". admin (and
// sys) had no subscribe rule, so admin could subscribe to families.> and
// receive every event as an ingest service published it. The server
// refuses that subscription now; admin reads the streams through the API.
func TestAdminReceivesNoEvents(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ctx := context.Background()
	if err := standalone.SetupStreams(ctx, serviceConfig(t, c, "admin"), io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"admin", "sys"} {
		nc, errs := c.connect(t, user)
		for _, subj := range []string{"families.>", ">"} {
			sub, err := nc.SubscribeSync(subj)
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			sof, _ := c.connect(t, "sof")
			sjs, err := jetstream.New(sof)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sjs.Publish(ctx, events.Subject("FSPY", events.SOF, "meeting.held"),
				rawEvent(t, events.SOF, "FSPY", &events.MeetingHeld{Kind: "network"})); err != nil {
				t.Fatal(err)
			}
			if m, err := sub.NextMsg(time.Second); err == nil {
				t.Errorf("%s, subscribed to %s, received %s: %.80s", user, subj, m.Subject, m.Data)
			}
			expectViolation(t, errs, subj)
		}
	}
}

// snapshotChunk is the size of the chunks of a backup, and of the
// server's window of chunks not acknowledged yet: it sends the next only
// once the last is acknowledged.
const snapshotChunk = 1024

// snapshot takes a backup of stream as `nats stream backup` does, with
// nc's credentials, and returns the server's answer and the snapshot.
func snapshot(t *testing.T, nc *nats.Conn, stream string) (server.JSApiStreamSnapshotResponse, []byte) {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	req, err := json.Marshal(server.JSApiStreamSnapshotRequest{DeliverSubject: inbox, NoConsumers: true,
		ChunkSize: snapshotChunk, WindowSize: snapshotChunk})
	if err != nil {
		t.Fatal(err)
	}
	m, err := nc.Request("$JS.API.STREAM.SNAPSHOT."+stream, req, 10*time.Second)
	if err != nil {
		t.Fatalf("snapshot of %s: %v", stream, err)
	}
	var resp server.JSApiStreamSnapshotResponse
	if err := json.Unmarshal(m.Data, &resp); err != nil || resp.Error != nil || resp.Config == nil || resp.State == nil {
		t.Fatalf("snapshot of %s: %v: %s", stream, err, m.Data)
	}
	var data bytes.Buffer
	for {
		chunk, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("snapshot of %s after %d bytes: %v", stream, data.Len(), err)
		}
		if len(chunk.Data) == 0 {
			// The end, with status 204, or an error status.
			if s := chunk.Header.Get("Status"); s != "" && s != "204" {
				t.Fatalf("snapshot of %s: status %s %s", stream, s, chunk.Header.Get("Description"))
			}
			return resp, data.Bytes()
		}
		data.Write(chunk.Data)
		if chunk.Reply != "" {
			if err := chunk.Respond(nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// restore sends a backup to the cluster as `nats stream restore` does.
func restore(t *testing.T, nc *nats.Conn, req server.JSApiStreamRestoreRequest, data []byte) {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	// A cluster just started may not yet count all its peers online:
	// the restore is refused for want of peers to place it on (10005),
	// and asked again until they are.
	var resp server.JSApiStreamRestoreResponse
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		m, err := nc.Request("$JS.API.STREAM.RESTORE."+req.Config.Name, b, 10*time.Second)
		if err != nil {
			t.Fatalf("restore of %s: %v", req.Config.Name, err)
		}
		resp = server.JSApiStreamRestoreResponse{}
		err = json.Unmarshal(m.Data, &resp)
		if err == nil && resp.Error != nil && resp.Error.ErrCode == 10005 && time.Since(start) < 30*time.Second {
			continue
		}
		if err != nil || resp.Error != nil || resp.DeliverSubject == "" {
			t.Fatalf("restore of %s: %v: %s", req.Config.Name, err, m.Data)
		}
		break
	}
	for off := 0; off < len(data); off += snapshotChunk {
		chunk := data[off:min(off+snapshotChunk, len(data))]
		r, err := nc.Request(resp.DeliverSubject, chunk, 10*time.Second)
		// On a cluster the server that took the restore may be another
		// than the client's, and its interest in DeliverSubject reaches
		// the client's server a moment later: until then a chunk finds
		// no responder and is not delivered, so it is sent again (as
		// `nats stream restore` does not need to: it waits for the
		// interest before its first chunk).
		for tries := 0; errors.Is(err, nats.ErrNoResponders) && off == 0 && tries < 50; tries++ {
			time.Sleep(100 * time.Millisecond)
			r, err = nc.Request(resp.DeliverSubject, chunk, 10*time.Second)
		}
		if err != nil {
			t.Fatalf("restore of %s at byte %d: %v", req.Config.Name, off, err)
		}
		if len(r.Data) > 0 {
			t.Fatalf("restore of %s at byte %d: %s", req.Config.Name, off, r.Data)
		}
	}
	r, err := nc.Request(resp.DeliverSubject, nil, time.Minute)
	if err != nil {
		t.Fatalf("restore of %s: the end: %v", req.Config.Name, err)
	}
	var done server.JSApiStreamCreateResponse
	if err := json.Unmarshal(r.Data, &done); err != nil || done.Error != nil {
		t.Fatalf("restore of %s: %v: %s", req.Config.Name, err, r.Data)
	}
}

// noViolation fails t if the server reported a permissions violation to
// nc (on errs).
func noViolation(t *testing.T, nc *nats.Conn, errs <-chan error) {
	t.Helper()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// The violations reach the error handler after the flush's answer,
	// by the server's own time: a loaded machine may take a while.
	time.Sleep(2 * time.Second)
	for {
		select {
		case err := <-errs:
			if errors.Is(err, nats.ErrPermissionViolation) {
				t.Errorf("admin: %v", err)
			}
		default:
			return
		}
	}
}
