package standalone

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// RotateUsage is the rotate-master-key command's synopsis.
const RotateUsage = `usage: standalone rotate-master-key -old-key-file OLD -master-key-file NEW [-data DIR | -nats-url URL -nats-nkey FILE]

Rewraps every data key of the JF_KEYS bucket, now wrapped by the master key
in OLD, with the master key in NEW (or JF_MASTER_KEY). Stop the services
first; start them again with the new key. Without -nats-url it opens the
embedded store of -data; with it, it connects as the given user, which must
be the admin: the bucket's keys are written once, and a rewrap lifts that
rule for its run. Running it again is safe.`

// RotateMasterKeyCommand is ` + "`standalone rotate-master-key`" + `.
func RotateMasterKeyCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var cfg config.Config
	fs := cfg.FlagSet("standalone rotate-master-key", getenv)
	fs.SetOutput(stderr)
	oldFile := fs.String("old-key-file", "", "file holding the master key the data keys are wrapped by now")
	fs.Usage = func() { fmt.Fprintln(stderr, RotateUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "standalone rotate-master-key:", err)
		return 2
	}
	if fs.NArg() > 0 || *oldFile == "" || (cfg.MasterKeyFile == "" && cfg.MasterKey == "") {
		fmt.Fprintln(stderr, RotateUsage)
		return 2
	}
	n, err := RotateMasterKey(ctx, cfg, *oldFile)
	if err != nil {
		fmt.Fprintln(stderr, "standalone rotate-master-key:", err)
		return 1
	}
	fmt.Fprintf(stdout, "rewrapped %d data keys\n", n)
	return 0
}

// RotateMasterKey rewraps the bucket's data keys from the key in oldFile
// to cfg's master key.
func RotateMasterKey(ctx context.Context, cfg config.Config, oldFile string) (int, error) {
	old, err := shred.LoadMasterKeyFile(oldFile)
	if err != nil {
		return 0, err
	}
	next, err := cfg.LoadMasterKey(false)
	if err != nil {
		return 0, err
	}
	log := slog.New(slog.DiscardHandler)
	opts, err := cfg.StoreOptions("rotate-master-key", log)
	if err != nil {
		return 0, err
	}
	// The standalone's guard, with its high-water mark: opening the
	// embedded store creates the streams that are missing, and a stream
	// the standalone has seen hold messages must not come back empty.
	if opts.Guard, err = eventstore.NewGuard(cfg.GuardOptions("standalone", log)); err != nil {
		return 0, err
	}
	// A rewrap lifts the bucket's write-once rule for its run, which
	// only an admin may: on NATS the user given, on the embedded server
	// an admin key made for this run.
	var admin eventstore.Identity
	if cfg.NATSURL == "" {
		opts.Embedded.Listen = "off"
		if admin, err = eventstore.NewIdentity(); err != nil {
			return 0, err
		}
		opts.Embedded.Admin = &admin
	}
	st, err := eventstore.Open(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if opts.Guard.Refusing() {
		return 0, opts.Guard.Refusal()
	}
	js := st.JS
	if cfg.NATSURL == "" {
		nc, err := eventstore.Connect("", st.Server, "rotate-master-key", admin.Option())
		if err != nil {
			return 0, err
		}
		defer nc.Close()
		if js, err = jetstream.New(nc); err != nil {
			return 0, err
		}
	}
	return shred.New(js, next).Rewrap(ctx, old)
}
