package standalone

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// SetupUsage is the synopsis of `standalone setup-streams`.
const SetupUsage = `usage: standalone setup-streams -nats-url nats://admin:PW@host:4222[,…] [-replicas 3] [-nats-nkey FILE]

Creates FAMILY_EVENTS and ACCESS_LOG on an external NATS, or updates them to
the configuration of this release. Run it once as the admin user before the
services start, and again after an upgrade that says so; the services only
check that the streams exist.`

// SetupStreamsCommand is `standalone setup-streams`: the setup and
// migration step of a deployment, run as its admin NATS user. It returns
// the exit code: 0 done, 1 failed, 2 usage.
func SetupStreamsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var cfg config.Config
	fs := cfg.FlagSet("standalone setup-streams", getenv)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, SetupUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "standalone setup-streams:", err)
		return 2
	}
	if fs.NArg() > 0 || cfg.NATSURL == "" {
		fmt.Fprintln(stderr, SetupUsage)
		return 2
	}
	if err := SetupStreams(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "standalone setup-streams:", err)
		return 1
	}
	return 0
}

// SetupStreams creates or updates both streams on cfg.NATSURL at
// cfg.Replicas and prints their configuration.
func SetupStreams(ctx context.Context, cfg config.Config, out io.Writer) error {
	ctx, cancel := context.WithTimeoutCause(ctx, time.Minute, errors.New("no answer from NATS within a minute"))
	defer cancel()
	// A user without the right gets a permissions violation, not an
	// answer: say so at once.
	refused := make(chan error, 1)
	opts := []nats.Option{nats.Name("setup-streams"), nats.Timeout(5 * time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				select {
				case refused <- err:
				default:
				}
				cancel()
			}
		})}
	if cfg.NATSNKey != "" {
		opt, err := nats.NkeyOptionFromSeed(cfg.NATSNKey)
		if err != nil {
			return err
		}
		opts = append(opts, opt)
	}
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		return fmt.Errorf("connect: %w", eventstore.RedactURLError(err, cfg.NATSURL))
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := ensureWhileClusterForms(ctx, js, cfg, out); err != nil {
		select {
		case perr := <-refused:
			return fmt.Errorf("this NATS user may not create or update the streams (run it as the admin user): %w", perr)
		default:
		}
		return err
	}
	for _, name := range []string{eventstore.FamilyStream, eventstore.AccessLogStream} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return err
		}
		info := s.CachedInfo()
		fmt.Fprintf(out, "%s: subjects %v, %d replicas, deny delete %v, deny purge %v, %d messages\n",
			name, info.Config.Subjects, info.Config.Replicas, info.Config.DenyDelete, info.Config.DenyPurge, info.State.Msgs)
	}
	return nil
}

// errNoPeers is JetStream's "no suitable peers for placement": a cluster
// that has just started may not yet know all its peers, so an R3 stream
// cannot be placed for a few seconds.
const errNoPeers = 10005

// ensureWhileClusterForms runs EnsureStreams, and while the cluster answers
// that it has too few peers for the replicas asked, says so and tries
// again until ctx ends.
func ensureWhileClusterForms(ctx context.Context, js jetstream.JetStream, cfg config.Config, out io.Writer) error {
	said := false
	for {
		err := eventstore.EnsureStreams(ctx, js, eventstore.StreamOptions{Replicas: cfg.Replicas, DedupeWindow: cfg.Dedupe})
		var apiErr *jetstream.APIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.ErrorCode != errNoPeers {
			return err
		}
		if !said {
			fmt.Fprintf(out, "waiting for %d cluster peers to place the streams (%v)\n", cfg.Replicas, apiErr.Description)
			said = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		case <-time.After(250 * time.Millisecond):
		}
	}
}
