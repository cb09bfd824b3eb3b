package deploytest

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// TestExactEvaluationOnDeployProjector: the evaluation's exact figures
// (suppress=false) are served by the projector only once their read is
// recorded on access.bulk.evaluation (docs/EVALUATION.md); the deploy
// projector user must be allowed that subject, or every such request
// answers 503 on the cluster. Each read adds exactly one entry there.
func TestExactEvaluationOnDeployProjector(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ctx := context.Background()
	if err := standalone.SetupStreams(ctx, serviceConfig(t, c, "admin"), io.Discard); err != nil {
		t.Fatal(err)
	}
	cfg := runService(t, "projector", serviceConfig(t, c, "projector"), projector.Run)
	waitReady(t, cfg.HTTPAddr)
	anc, _ := c.connect(t, "admin")
	ajs, err := jetstream.New(anc)
	if err != nil {
		t.Fatal(err)
	}
	// The moment and the series, each suppressed and exact.
	for _, path := range []string{"/v1/evaluation?", "/v1/evaluation/series?from=2024-01-01&to=2024-03-01&step=month&"} {
		for _, q := range []string{"suppress=true", "suppress=false"} {
			before := subjectMsgs(t, ajs, eventstore.AccessLogStream, accesslog.EvaluationSubject)
			req, err := http.NewRequest("GET", "http://"+cfg.HTTPAddr+path+q, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer dev-analyst")
			req.Header.Set(accesslog.HeaderPurpose, "deploytest")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s%s: %d %.300s", path, q, resp.StatusCode, b)
				continue
			}
			want := before
			if q == "suppress=false" {
				want++
			}
			if after := subjectMsgs(t, ajs, eventstore.AccessLogStream, accesslog.EvaluationSubject); after != want {
				t.Errorf("%s%s took %s from %d to %d entries, want %d", path, q, accesslog.EvaluationSubject, before, after, want)
			}
		}
	}
}
