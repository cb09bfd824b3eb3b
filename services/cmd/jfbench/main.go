// Command jfbench runs `make bench`: it measures the raw limits of
// JetStream and the real services on the same machine in one run and
// prints the figures. -phases picks the measurements: ingest (the
// department services), audit (replay, as-of, verify) and webapp (the
// family page of a family with 10,000 events), each on a fresh embedded
// NATS of its own size. `jfbench projector -projector bin/projector`
// measures the projector (catch-up, queries, read-your-writes, RSS) as its
// own process; `jfbench encryption -projector bin/projector` the cost of
// encrypting personal fields, on against off, at ingest and in the
// projector's timeline; `jfbench evaluation -projector bin/projector` the
// evaluation of 10,000 families over 10M events in such a process.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"

	"kk.dk/jobogfamilie/services/internal/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "projector" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		code := bench.ProjectorCommand(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	if len(os.Args) > 1 && os.Args[1] == "encryption" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		code := bench.EncryptionCommand(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	if len(os.Args) > 1 && os.Args[1] == "evaluation" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		code := bench.EvaluationCommand(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	o := bench.Defaults()
	flag.IntVar(&o.Preload, "preload", o.Preload, "events in the stream before measuring")
	flag.IntVar(&o.Families, "families", o.Families, "families the preload is spread over")
	flag.IntVar(&o.RawCount, "raw", o.RawCount, "messages for the raw publish measurement")
	flag.IntVar(&o.BatchRequests, "batch-requests", o.BatchRequests, "batch requests to send")
	flag.IntVar(&o.BatchSize, "batch-size", o.BatchSize, "events per batch request")
	flag.IntVar(&o.BatchClients, "batch-clients", o.BatchClients, "concurrent batch clients")
	flag.IntVar(&o.SingleCount, "single", o.SingleCount, "single-event requests to send")
	flag.IntVar(&o.SingleClients, "single-clients", o.SingleClients, "concurrent single-event clients")
	flag.StringVar(&o.Sync, "sync", o.Sync, "embedded store fsync: interval or always")
	flag.StringVar(&o.Dir, "dir", "", "working directory (default: a temporary one, removed afterwards)")
	flag.StringVar(&o.ProfileDir, "profile-dir", "", "write CPU profiles and execution traces of the batch and single-event phases (batch.pprof, batch.trace, single.pprof …, the peer's peer-batch.pprof …) here")
	ao := bench.AuditDefaults()
	flag.IntVar(&ao.Events, "audit-events", ao.Events, "events in the stream of the audit phase")
	flag.IntVar(&ao.Families, "audit-families", ao.Families, "families the audit phase's events are spread over")
	flag.IntVar(&ao.BigFamily, "audit-big", ao.BigFamily, "events of the audit phase's big family (as-of timeline)")
	flag.IntVar(&ao.AsOfQueries, "audit-asof", ao.AsOfQueries, "as-of timeline reads of the big family")
	wo := bench.WebAppDefaults()
	flag.IntVar(&wo.Events, "webapp-events", wo.Events, "events of the family whose web app page the webapp phase times")
	flag.IntVar(&wo.Views, "webapp-views", wo.Views, "family page views the webapp phase times")
	ro := bench.RestartDefaults()
	restartSizes := flag.String("restart-sizes", "1000000,10000000", "comma-separated stream lengths of the restart phase")
	flag.IntVar(&ro.Families, "restart-families", ro.Families, "families the restart phase's events are spread over")
	replayChild := flag.String(bench.ReplayChildFlag, "", "internal: be the audit phase's replay process against this NATS URL")
	ingestChild := flag.String(bench.IngestChildFlag, "", "internal: be the ingest phase's ingest process against this NATS URL")
	forwarderChild := flag.String(bench.ForwarderChildFlag, "", "internal: be the ingest phase's peer forwarder process against this NATS URL")
	phases := flag.String("phases", "ingest,restart,audit,webapp", "comma-separated phases to run: ingest, restart, audit, webapp")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "jfbench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "jfbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *ingestChild != "" {
		if err := bench.IngestChild(ctx, *ingestChild, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "jfbench:", err)
			os.Exit(1)
		}
		return
	}
	if *forwarderChild != "" {
		if err := bench.ForwarderChild(ctx, *forwarderChild, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "jfbench:", err)
			os.Exit(1)
		}
		return
	}
	if *replayChild != "" {
		if err := bench.ReplayChild(ctx, *replayChild, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "jfbench:", err)
			os.Exit(1)
		}
		return
	}
	run := map[string]func() error{
		"ingest": func() error { return bench.Run(ctx, o) },
		"audit": func() error {
			if o.Dir != "" {
				ao.Dir = filepath.Join(o.Dir, "audit")
			}
			return bench.Audit(ctx, ao)
		},
		"webapp": func() error {
			if o.Dir != "" {
				wo.Dir = filepath.Join(o.Dir, "webapp")
			}
			return bench.WebApp(ctx, wo)
		},
		"restart": func() error {
			ro.Sizes = nil
			for _, f := range strings.Split(*restartSizes, ",") {
				var n int
				if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil || n < 1 {
					return fmt.Errorf("-restart-sizes: %q is not a positive count", f)
				}
				ro.Sizes = append(ro.Sizes, n)
			}
			ro.Sync, ro.Dir = o.Sync, o.Dir
			return bench.Restart(ctx, ro)
		},
	}
	for _, ph := range strings.Split(*phases, ",") {
		fn, ok := run[strings.TrimSpace(ph)]
		if !ok {
			fmt.Fprintf(os.Stderr, "jfbench: unknown phase %q (ingest, restart, audit, webapp)\n", ph)
			os.Exit(2)
		}
		if err := fn(); err != nil {
			fmt.Fprintln(os.Stderr, "jfbench:", err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
	}
}
