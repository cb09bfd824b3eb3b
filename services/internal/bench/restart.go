package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"kk.dk/jobogfamilie/services/internal/benchdata"
	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// RestartOptions size the restart phase.
type RestartOptions struct {
	// Sizes are the stream lengths measured, each on a fresh store.
	Sizes []int
	// Families spreads the events over this many families.
	Families int
	Sync     string
	Dir      string
	Out      io.Writer
}

// RestartDefaults are the sizes of the targets: 1M and 10M events.
func RestartDefaults() RestartOptions {
	return RestartOptions{Sizes: []int{1_000_000, 10_000_000}, Families: 10_000, Sync: "interval", Out: os.Stdout}
}

// restartFigures are one size's measurements.
type restartFigures struct {
	events       int
	rebuild      time.Duration
	rebuildPeak  int64
	restart      time.Duration
	rss, rssPeak int64
	storeBytes   int64
}

// Restart measures, for each size, the ingest process on a stream of that
// many events (published directly, asynchronously): the rebuild of its
// index store from the whole stream, then a restart on the store it left,
// from the process's start until its index is ready, and its memory.
func Restart(ctx context.Context, o RestartOptions) error {
	p := func(format string, a ...any) { fmt.Fprintf(o.Out, format+"\n", a...) }
	dur, err := eventstore.ParseDurability(o.Sync)
	if err != nil {
		return err
	}
	var figs []restartFigures
	for _, n := range o.Sizes {
		dir := ""
		if o.Dir != "" {
			dir = filepath.Join(o.Dir, fmt.Sprintf("restart-%d", n))
		}
		f, err := restartOne(ctx, dir, dur, n, o.Families, p)
		if err != nil {
			return err
		}
		figs = append(figs, f)
		// Each size as soon as it is measured: the larger take long.
		p("ingest restart, %d events: rebuild %s (peak RSS %d MiB), store %d MiB; restart to ready %.2f s (target <= 5), RSS %d MiB (target <= 256; peak %d MiB)",
			f.events, f.rebuild.Round(time.Millisecond), f.rebuildPeak>>20, f.storeBytes>>20, f.restart.Seconds(), f.rss>>20, f.rssPeak>>20)
	}
	for i := 1; i < len(figs); i++ {
		a, b := figs[0], figs[i]
		p("  %d / %d events: restart %.2f x (target <= 2), RSS %.2f x (target <= 1.5), peak RSS %.2f x",
			b.events, a.events, b.restart.Seconds()/a.restart.Seconds(), float64(b.rss)/float64(a.rss), float64(b.rssPeak)/float64(a.rssPeak))
	}
	return nil
}

func restartOne(ctx context.Context, dir string, dur eventstore.Durability, n, families int, p func(string, ...any)) (restartFigures, error) {
	f := restartFigures{events: n}
	st, err := benchdata.OpenStore(ctx, dir, "bench-restart", dur)
	if err != nil {
		return f, err
	}
	defer st.Close()
	gen := newGenerator(families)
	start := time.Now()
	if _, err := rawPublish(ctx, st.JS, gen, n, func(k int) {
		if k%1_000_000 == 0 {
			p("  restart phase: published %d/%d events", k, n)
		}
	}); err != nil {
		return f, err
	}
	p("restart phase: %d events over %d families published in %s", n, families, time.Since(start).Round(time.Millisecond))
	data := filepath.Join(st.Dir, "ingest")

	start = time.Now()
	child, err := startIngestChild(ctx, st.URL, st.NKey, data)
	if err != nil {
		return f, err
	}
	f.rebuild = time.Since(start)
	cs, err := child.Stats()
	child.Stop()
	if err != nil {
		return f, err
	}
	f.rebuildPeak = cs.PeakRSS
	f.storeBytes = dirSize(filepath.Join(data, "ingest", "index"))

	start = time.Now()
	child, err = startIngestChild(ctx, st.URL, st.NKey, data)
	if err != nil {
		return f, err
	}
	f.restart = time.Since(start)
	cs, err = child.Stats()
	child.Stop()
	if err != nil {
		return f, err
	}
	f.rss, f.rssPeak = cs.RSS, cs.PeakRSS
	return f, nil
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}
