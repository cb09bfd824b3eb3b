package accesslog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestRecordEach: one read of several families is one acknowledged entry
// on each family's subject, all of the same read; a list with an empty
// family id writes nothing.
func TestRecordEach(t *testing.T) {
	t.Parallel()
	st := testenv.OpenStore(t, nil)
	ctx := context.Background()
	pr := auth.Principal{Name: "coordinator E1001", Kind: auth.Coordinator, EmployeeID: "E1001"}
	r := httptest.NewRequest("GET", "/app/families?status=enrolled", nil)
	fams := make([]string, 2*accesslog.MaxInFlight+1)
	for i := range fams {
		fams[i] = fmt.Sprintf("F%d", i)
	}
	if err := accesslog.RecordEach(ctx, st.JS, r, pr, []string{"F1", ""}, ""); err == nil {
		t.Fatal("an empty family id accepted")
	}
	if err := accesslog.RecordEach(ctx, st.JS, r, pr, fams, ""); err != nil {
		t.Fatal(err)
	}
	s, err := st.JS.Stream(ctx, eventstore.AccessLogStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(len(fams)) || accesslog.Acknowledged(st.JS) != info.State.LastSeq {
		t.Fatalf("%d entries, acknowledged %d of %d; want %d", info.State.Msgs, accesslog.Acknowledged(st.JS), info.State.LastSeq, len(fams))
	}
	for _, fam := range fams {
		m, err := s.GetLastMsgForSubject(ctx, accesslog.Subject(fam))
		if err != nil {
			t.Fatalf("%s: %v", fam, err)
		}
		var e accesslog.Entry
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatal(err)
		}
		if e.FamilyID != fam || e.Principal != pr.Name || e.Kind != auth.Coordinator || e.EmployeeID != "E1001" ||
			e.Endpoint != "GET /app/families?status=enrolled" || e.Purpose != "" || time.Since(e.Time) > time.Minute {
			t.Errorf("%s: %+v", fam, e)
		}
	}
}

// TestRecordIsStoredInAccessLogOnly: an entry counts as recorded only when
// ACCESS_LOG stored it. A stream update that narrowed ACCESS_LOG's subjects
// and another stream that took access.<family> would otherwise acknowledge
// the entry, and the read would go ahead with no entry in the access log.
func TestRecordIsStoredInAccessLogOnly(t *testing.T) {
	t.Parallel()
	id := testenv.AdminKey()
	st := testenv.OpenStore(t, &id)
	_, admin := testenv.AdminJS(t, "", st.Server)
	ctx := context.Background()
	testenv.UpdateStream(t, admin, eventstore.AccessLogStream, func(c *jetstream.StreamConfig) {
		c.Subjects = []string{"access.bulk.>"}
	})
	if _, err := admin.CreateStream(ctx, jetstream.StreamConfig{Name: "SHADOW", Subjects: []string{"access.*"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	pr := auth.Principal{Name: "coordinator E1001", Kind: auth.Coordinator, EmployeeID: "E1001"}
	r := httptest.NewRequest("GET", "/v1/families/F1", nil)
	if err := accesslog.Record(ctx, st.JS, r, pr, "F1", ""); err == nil {
		t.Error("Record: an entry another stream took was taken as recorded")
	}
	if err := accesslog.RecordEach(ctx, st.JS, r, pr, []string{"F1", "F2"}, ""); err == nil {
		t.Error("RecordEach: entries another stream took were taken as recorded")
	}
	shadow, err := admin.Stream(ctx, "SHADOW")
	if err != nil {
		t.Fatal(err)
	}
	if n := shadow.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("SHADOW stored %d entries", n)
	}
}
