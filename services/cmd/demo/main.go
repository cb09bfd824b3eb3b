// Command demo loads the demo data (internal/demo: synthetic Tingbjerg-like
// families over 2023 and 2024) into a running Job og Familie system through
// its ingest API, with the dev department tokens, then has the data
// protection officer (-dpo-token, default dev-dpo) erase one family whose
// course has ended (demo.ErasedFamily), so that the demo shows an erasure.
// Loading the same seed again stores nothing new and erases nothing more.
//
//	demo -url http://127.0.0.1:8080 -seed 1 -families 50
//
// Against one process per department, give each its URL with -sof-url,
// -bif-url, -buf-url and -suf-url; the erasure is then left out unless
// -dpo-token is given, and goes to -url. -dpo-token="" erases nothing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := realMain(ctx, os.Args[1:], os.Stderr)
	var ue usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// usageError is a flag refused: exit code 2, as the servers' bad flags.
type usageError struct{ error }

func realMain(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(out)
	o := demo.Options{Progress: out, DepartmentURLs: map[events.Department]string{}}
	fs.StringVar(&o.BaseURL, "url", envOr("JF_DEMO_URL", "http://127.0.0.1:8080"), "base URL of the ingest API, e.g. the standalone's (JF_DEMO_URL)")
	fs.Int64Var(&o.Seed, "seed", 1, "seed of the synthetic data; the same seed gives the same events")
	fs.IntVar(&o.Families, "families", demo.DefaultFamilies, "number of families")
	// JF_DEMO_DPO_TOKEN is read after parsing: as a default, the usage
	// would print it.
	fs.StringVar(&o.DPOToken, "dpo-token", "dev-dpo", "data protection officer's token that erases one demo family at -url; '' erases none (JF_DEMO_DPO_TOKEN)")
	deptURLs := map[events.Department]*string{}
	for _, d := range events.Departments {
		deptURLs[d] = fs.String(string(d)+"-url", "", "base URL of "+string(d)+"'s ingest service, if not -url")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if err := config.FromEnvironment(fs, os.Getenv, map[string]string{"dpo-token": "JF_DEMO_DPO_TOKEN"}); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("demo: unexpected arguments %v", fs.Args())}
	}
	if o.Families < 1 {
		return usageError{fmt.Errorf("demo: -families must be at least 1, not %d", o.Families)}
	}
	for d, u := range deptURLs {
		if *u != "" {
			o.DepartmentURLs[d] = *u
		}
	}
	if len(o.DepartmentURLs) > 0 && !isSet(fs, "dpo-token") && os.Getenv("JF_DEMO_DPO_TOKEN") == "" {
		// The departments' processes serve no privacy API: erase only
		// when told where and with which token.
		o.DPOToken = ""
	}
	start := time.Now()
	st, err := demo.Load(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "demo: done in %s: %d events of %d families (%d new, %d already stored) in %d requests\n",
		time.Since(start).Round(100*time.Millisecond), st.Events, st.Families, st.Stored(), st.Duplicates, st.Requests)
	// The erasure, or finding it done by an earlier load, was reported
	// as it happened (Options.Progress is out).
	if len(o.DepartmentURLs) == 0 {
		fmt.Fprintf(out, "demo: try  curl -s -H 'Authorization: Bearer dev-coordinator' %s/v1/families\n", o.BaseURL)
	}
	return nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
