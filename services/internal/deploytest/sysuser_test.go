package deploytest

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// TestSysUserCannotPurgeTheAccount: the deploy sys user, of the system
// account, is for server and cluster reports (deploy/README.md). The
// system account's $JS.API.ACCOUNT.PURGE.<account> deletes every stream
// and consumer of an account, deny-delete and deny-purge notwithstanding;
// CONTRACT.md: "No principal may change the streams' limits or delete
// streams or consumers at run time". Sent by sys, it is refused and every
// stream, the data keys' included, is still there; the report sys is for
// still lists them.
func TestSysUserCannotPurgeTheAccount(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	if err := standalone.SetupStreams(context.Background(), serviceConfig(t, c, "admin"), io.Discard); err != nil {
		t.Fatal(err)
	}
	sof, _ := c.connect(t, "sof")
	sjs, err := jetstream.New(sof)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		if _, err := sjs.Publish(ctx, events.Subject("FSYS", events.SOF, "meeting.held"),
			rawEvent(t, events.SOF, "FSYS", &events.MeetingHeld{Kind: "network"})); err != nil {
			t.Fatal(err)
		}
	}
	streams := []string{eventstore.FamilyStream, eventstore.AccessLogStream, eventstore.KeyStream}

	sys, errs := c.connect(t, "sys")
	purge := "$JS.API.ACCOUNT.PURGE.JOBOGFAMILIE"
	// The server refuses the publish itself; the request gets no answer.
	if resp, err := sys.Request(purge, nil, 2*time.Second); err == nil {
		t.Errorf("the purge was answered: %s", resp.Data)
	}
	expectViolation(t, errs, purge)

	// A purge that had been accepted deletes the streams within a
	// moment: give it that moment.
	time.Sleep(2 * time.Second)
	for _, name := range streams {
		if _, err := sjs.Stream(ctx, name); err != nil {
			t.Errorf("%s after sys's purge request: %v", name, err)
		}
	}

	// What sys is for: the JetStream report of every server, which
	// holds the account's streams.
	resp, err := sys.Request("$SYS.REQ.SERVER.PING.JSZ", []byte(`{"accounts":true,"streams":true}`), 10*time.Second)
	if err != nil {
		t.Fatalf("sys's JetStream report: %v", err)
	}
	var jsz struct {
		Data struct {
			Accounts []struct {
				Name    string `json:"name"`
				Streams []struct {
					Name string `json:"name"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		} `json:"data"`
	}
	if err := json.Unmarshal(resp.Data, &jsz); err != nil {
		t.Fatalf("sys's JetStream report: %v: %s", err, resp.Data)
	}
	n := 0
	for _, a := range jsz.Data.Accounts {
		if a.Name == "JOBOGFAMILIE" {
			n += len(a.Streams)
		}
	}
	// One server's answer: the streams it holds a replica of, every one
	// of them at three replicas on three servers.
	if n != len(streams) {
		t.Errorf("sys's JetStream report holds %d streams of JOBOGFAMILIE, want %d: %.300s", n, len(streams), resp.Data)
	}
}
