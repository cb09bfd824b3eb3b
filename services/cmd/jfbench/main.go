// Command jfbench runs `make bench`: it measures the raw limits of
// JetStream and the real services on the same machine in one run and
// prints the figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"

	"kk.dk/jobogfamilie/services/internal/bench"
)

func main() {
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
	if err := bench.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "jfbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
