// Command projector runs the projector, the coordinator API and the web app
// (/app/) against the event store (an external NATS with -nats-url, or an
// embedded one).
// `projector rebuild` asks a running projector to rebuild its read model.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/service"
	"kk.dk/jobogfamilie/services/internal/webapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "rebuild" {
		os.Exit(projector.RebuildCommand(ctx, os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
	}
	code := process.Main(ctx, "projector", os.Args[1:], projector.RunWith(
		func(ctx context.Context, p service.Parts, pj *projector.Projector) (service.Service, error) {
			return webapp.NewService(ctx, p, pj)
		}))
	stop()
	os.Exit(code)
}
