package deploytest

import (
	"context"
	"io"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// TestProjectorPreloadsDataKeys: before catching up a backlog or
// rebuilding its read model the projector reads every data key at once
// (shred.Keyring.Preload), through an ordered consumer on KV_JF_KEYS. The
// projector user of deploy/ may do that, and no more of the bucket's
// consumers than the services may.
func TestProjectorPreloadsDataKeys(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ctx := context.Background()
	if err := standalone.SetupStreams(ctx, serviceConfig(t, c, "admin"), io.Discard); err != nil {
		t.Fatal(err)
	}
	master, err := shred.LoadMasterKeyFile(c.masterKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	sof := shred.New(c.jetStreamAs(t, "sof"), master)
	for _, fam := range []string{"FPRELOAD1", "FPRELOAD2"} {
		sealFamily(t, sof, fam)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	n, err := shred.New(c.jetStreamAs(t, "projector"), master).Preload(pctx)
	if err != nil || n != 2 {
		t.Fatalf("the projector's preload: %d keys in %s, %v; want both", n, time.Since(start).Round(time.Millisecond), err)
	}
}
