// Command bif is the ingest service of BIF: it validates the events the
// department's systems send and stores them on the event store.
package main

import (
	"os"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/ingest"
)

func main() { os.Exit(ingest.Main(events.BIF)) }
