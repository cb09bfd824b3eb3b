package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// Usage is the audit binary's synopsis. Each subcommand's line gives
// every flag its -h lists (TestUsageListsEveryFlag holds them together).
const Usage = `usage:
  audit serve [-http ADDR] [-data DIR] [-nats-url URL] …   the auditor API (flags as every binary)
  audit replay -nats-url URL [-nats-nkey FILE] [-master-key-file FILE -purpose TEXT] [-family ID] [-type T] [-from T] [-to T] [-after SEQ]
  audit replay -url http://host:port -token TOKEN [same filters] [-purpose TEXT]
  audit verify -nats-url URL [-nats-nkey FILE] [-model FILE|DATADIR] [-master-key-file FILE] [-tmp DIR]
  audit verify -url http://host:port -token TOKEN
  audit export -nats-url URL [-nats-nkey FILE] -out DIR [-from-seq N] [-to-seq M] [-family ID] [-link-every N] [-master-key-file FILE -purpose TEXT]
  audit verify-export DIR
  audit erase-due -url http://host:port -token DPO_TOKEN [-yes -reason TEXT -archive DIR -nats-url URL [-nats-nkey FILE] -master-key-file FILE]

A read from NATS that decrypts (-master-key-file or JF_MASTER_KEY) needs
-purpose: it is recorded in the access log before anything is written, as
principal "cli:audit (<os user>)", one entry for the family read
(access.<familyId>) or one for every family (access.bulk.audit); the NATS
user must be allowed to publish there. erase-due records each family's
archive so, with a purpose of its own.`

// Command runs a CLI subcommand (replay, verify, export, verify-export,
// erase-due) and returns the process exit code: 0 done (and, for the
// checks, all is well), 1 failed or found a difference, 2 usage (an
// unknown subcommand, flag or argument, a malformed flag value, a missing
// or conflicting flag). -h (or -help) prints the subcommand's flags on
// stderr and exits 0, as a Go program whose flags exit on error does.
func Command(ctx context.Context, name string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var err error
	switch name {
	case "replay":
		err = replayCommand(ctx, args, getenv, stdout, stderr)
	case "verify":
		err = verifyCommand(ctx, args, getenv, stdout, stderr)
	case "export":
		err = exportCommand(ctx, args, getenv, stdout, stderr)
	case "verify-export":
		err = verifyExportCommand(args, stdout, stderr)
	case "erase-due":
		err = eraseDueCommand(ctx, args, getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stderr, Usage)
		return 0
	default:
		fmt.Fprintln(stderr, Usage)
		return 2
	}
	var (
		ue usageError
		fe flagError
	)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &fe):
		// The flag package has printed the error and the flags.
		return 2
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "audit %s: %v\n%s\n", name, err, Usage)
		return 2
	case errors.Is(err, errFound):
		return 1
	}
	fmt.Fprintf(stderr, "audit %s: %v\n", name, err)
	return 1
}

type usageError string

func (e usageError) Error() string { return string(e) }

// flagError is an error of a subcommand's flags as the flag package finds
// it: an unknown flag, a malformed value, a flag without its value.
type flagError struct{ err error }

func (e flagError) Error() string { return e.err.Error() }
func (e flagError) Unwrap() error { return e.err }

// parseFlags parses a subcommand's flags; every subcommand parses its
// flags through it, so that Command exits 2 (usage) for any error in them.
// -h is flag.ErrHelp, as fs.Parse returns it. The flags that hold a secret
// (secretFlags) are read from the environment (getenv, nil for none)
// after parsing, so that the usage never prints the secret as a default.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return flagError{err}
	}
	if getenv == nil {
		return nil
	}
	return config.FromEnvironment(fs, getenv, secretFlags)
}

// given reports whether the flag name was given on the command line,
// empty included.
func given(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// secretFlags are the subcommands' flags whose environment variable holds
// a secret: each is read after parsing (parseFlags), never a default.
var secretFlags = map[string]string{"token": "JF_TOKEN"}

// errFound: a check ran and found a difference (already reported).
var errFound = errors.New("audit: difference found")

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// apiFlags are the flags of a subcommand that can use a running audit API.
type apiFlags struct {
	url, token string
}

func (a *apiFlags) bind(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&a.url, "url", getenv("JF_AUDIT_URL"), "base URL of a running audit API, instead of NATS (JF_AUDIT_URL)")
	fs.StringVar(&a.token, "token", "", "auditor bearer token for -url (JF_TOKEN)")
}

func (a apiFlags) request(ctx context.Context, method, path string) (*http.Response, error) {
	if a.token == "" {
		return nil, usageError("-url needs -token (or JF_TOKEN) with an auditor token")
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.url, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	return http.DefaultClient.Do(req)
}

func apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return fmt.Errorf("%s %s: %d %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, strings.TrimSpace(string(b)))
}

// natsURLVar defines -nats-url, JF_NATS_URL by default. The usage
// shows that default without the password the URL may carry.
func natsURLVar(fs *flag.FlagSet, getenv func(string) string, usage string) *string {
	v := getenv("JF_NATS_URL")
	fs.Var(natsURLFlag{&v}, "nats-url", usage)
	return &v
}

// natsURLFlag is -nats-url's value; it prints itself redacted.
type natsURLFlag struct{ s *string }

func (f natsURLFlag) String() string {
	if f.s == nil {
		return ""
	}
	return eventstore.RedactURL(*f.s)
}

func (f natsURLFlag) Set(v string) error {
	*f.s = v
	return nil
}

// connect opens a NATS connection for a CLI command; the streams must
// exist (nothing is created).
func connect(natsURL, nkey string) (*nats.Conn, jetstream.JetStream, error) {
	if natsURL == "" {
		return nil, nil, usageError("give -nats-url (or JF_NATS_URL), or -url of a running audit API")
	}
	var auth []nats.Option
	if nkey != "" {
		opt, err := nats.NkeyOptionFromSeed(nkey)
		if err != nil {
			return nil, nil, fmt.Errorf("nkey %s: %w", nkey, err)
		}
		auth = append(auth, opt)
	}
	nc, err := eventstore.Connect(natsURL, nil, "audit-cli", auth...)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

func replayCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := natsURLVar(fs, getenv, "NATS URL (JF_NATS_URL)")
	natsNKey := fs.String("nats-nkey", getenv("JF_NATS_NKEY"), "NKey seed file for -nats-url, e.g. <data>/nats/operator.nk of a standalone (JF_NATS_NKEY)")
	var api apiFlags
	api.bind(fs, getenv)
	family := fs.String("family", "", "only this family's events")
	types := fs.String("type", "", "only these types: catalog names or CloudEvents types, comma-separated")
	from := fs.String("from", "", "only events recorded at or after this RFC 3339 time or date (a day in Copenhagen)")
	to := fs.String("to", "", "only events recorded before this RFC 3339 time or date (a day in Copenhagen)")
	after := fs.Uint64("after", 0, "only events after this stream sequence")
	why := fs.String("purpose", "", "why the families' data is read, recorded with the read in the access log: sent as X-Purpose with -url; required with -master-key-file")
	masterFile := fs.String("master-key-file", getenv("JF_MASTER_KEY_FILE"), "master key file: decrypt personal fields, a read recorded in the access log with -purpose (JF_MASTER_KEY_FILE, or the key in JF_MASTER_KEY); without, encrypted events are unreadable lines")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unexpected arguments %v", fs.Args()))
	}
	if err := checkPurposeFlag(*why, api.url == "" && decrypts(*masterFile, getenv)); err != nil {
		return err
	}
	params := url.Values{}
	for k, v := range map[string]string{"family": *family, "type": *types, "from": *from, "to": *to} {
		if v != "" {
			params.Set(k, v)
		}
	}
	if given(fs, "family") {
		// Given empty, it is refused as family= is (ParseEventsQuery),
		// not taken for every family.
		params.Set("family", *family)
	}
	if *after > 0 {
		params.Set("after", strconv.FormatUint(*after, 10))
	}
	q, err := ParseEventsQuery(params)
	if err != nil {
		return usageError(problemDetail(err))
	}
	out := bufio.NewWriterSize(stdout, 256<<10)
	if api.url != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(api.url, "/")+"/v1/audit/events?"+params.Encode(), nil)
		if err != nil {
			return err
		}
		if api.token == "" {
			return usageError("-url needs -token (or JF_TOKEN) with an auditor token")
		}
		req.Header.Set("Authorization", "Bearer "+api.token)
		if *why != "" {
			req.Header.Set(HeaderPurpose, *why)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return apiError(resp)
		}
		if _, err := io.Copy(out, resp.Body); err != nil {
			return fmt.Errorf("the stream was cut: %w", err)
		}
		return out.Flush()
	}
	nc, js, err := connect(*natsURL, *natsNKey)
	if err != nil {
		return err
	}
	defer nc.Close()
	// Without a read model a family is read with a filtered consumer:
	// correct, but the server scans the stream; -url uses the index.
	keys, err := masterKeys(js, *masterFile, getenv)
	if err != nil {
		return err
	}
	if keys != nil {
		acc := newCLIAccess(js, getenv, auth.Auditor, *why)
		if err := acc.record(ctx, "audit replay"+q.commandFlags(), q.FamilyID); err != nil {
			return err
		}
	}
	r := &Reader{NC: nc, JS: js, Keys: keys}
	var line []byte
	err = r.Replay(ctx, q, func(s Stored) error {
		line = AppendLine(line[:0], s)
		_, err := out.Write(line)
		return err
	})
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	return err
}

// problemDetail is the detail of a problem, for the CLI's messages.
func problemDetail(err error) string {
	var pr *problem.Problem
	if errors.As(err, &pr) {
		return pr.Detail
	}
	return err.Error()
}

func verifyCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := natsURLVar(fs, getenv, "NATS URL (JF_NATS_URL)")
	natsNKey := fs.String("nats-nkey", getenv("JF_NATS_NKEY"), "NKey seed file for -nats-url, e.g. <data>/nats/operator.nk of a standalone (JF_NATS_NKEY)")
	var api apiFlags
	api.bind(fs, getenv)
	model := fs.String("model", envOr(getenv, "JF_DATA_DIR", "./data"), "the live read model: a projector's data directory (its CURRENT model) or a model file (JF_DATA_DIR)")
	tmp := fs.String("tmp", "", "where the temporary projection is built (default: the system's temporary directory)")
	masterFile := fs.String("master-key-file", getenv("JF_MASTER_KEY_FILE"), "master key file, with -model: the replay decrypts personal fields as the projector did (JF_MASTER_KEY_FILE, or the key in JF_MASTER_KEY)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unexpected arguments %v", fs.Args()))
	}
	start := time.Now()
	progress := func(p readmodel.VerifyProgress) {
		switch p.Phase {
		case readmodel.PhaseReplay:
			pct := 100.0
			if p.Target > 0 {
				pct = 100 * float64(p.Applied) / float64(p.Target)
			}
			fmt.Fprintf(stderr, "verify: replay %d of %d (%.0f%%) %s\n", p.Applied, p.Target, pct, time.Since(start).Round(time.Second))
		case readmodel.PhaseDone:
		default:
			fmt.Fprintf(stderr, "verify: %s %s\n", p.Phase, time.Since(start).Round(time.Second))
		}
	}
	var res readmodel.VerifyResult
	if api.url != "" {
		var err error
		if res, err = verifyRemote(ctx, api, progress); err != nil {
			return err
		}
	} else {
		nc, js, err := connect(*natsURL, *natsNKey)
		if err != nil {
			return err
		}
		defer nc.Close()
		path, err := readmodel.ResolveModel(*model)
		if err != nil {
			return fmt.Errorf("the live read model: %w", err)
		}
		fmt.Fprintf(stderr, "verify: live read model %s\n", path)
		keys, err := masterKeys(js, *masterFile, getenv)
		if err != nil {
			return err
		}
		if keys == nil {
			fmt.Fprintln(stderr, "verify: no -master-key-file: an event whose personal fields are encrypted cannot be replayed and will be a difference")
		}
		if res, err = readmodel.VerifyFile(ctx, js, path, readmodel.VerifyOptions{Dir: *tmp, Progress: progress, Keys: keys}); err != nil {
			return err
		}
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Fprintln(stdout, string(b))
	if !res.Match {
		fmt.Fprintf(stderr, "verify: MISMATCH after %d events: %s\n", res.Events, res.FirstDifference.Detail)
		return errFound
	}
	fmt.Fprintf(stderr, "verify: match: %d events, digest %s (%s)\n", res.Events, res.Live, time.Since(start).Round(time.Millisecond))
	return nil
}

// verifyRemote runs POST /v1/audit/verify and follows its progress with
// GET /v1/audit/verify until the answer comes.
func verifyRemote(ctx context.Context, api apiFlags, progress func(readmodel.VerifyProgress)) (readmodel.VerifyResult, error) {
	type answer struct {
		res readmodel.VerifyResult
		err error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := api.request(ctx, http.MethodPost, "/v1/audit/verify")
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- answer{err: apiError(resp)}
			return
		}
		var res readmodel.VerifyResult
		err = json.NewDecoder(resp.Body).Decode(&res)
		done <- answer{res, err}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case a := <-done:
			return a.res, a.err
		case <-ctx.Done():
			return readmodel.VerifyResult{}, ctx.Err()
		case <-tick.C:
			resp, err := api.request(ctx, http.MethodGet, "/v1/audit/verify")
			if err != nil {
				continue
			}
			var st VerifyStatus
			if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&st) == nil && st.State == VerifyRunning {
				progress(st.Progress)
			}
			resp.Body.Close()
		}
	}
}

func exportCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := natsURLVar(fs, getenv, "NATS URL (JF_NATS_URL)")
	natsNKey := fs.String("nats-nkey", getenv("JF_NATS_NKEY"), "NKey seed file for -nats-url, e.g. <data>/nats/operator.nk of a standalone (JF_NATS_NKEY)")
	out := fs.String("out", "", "directory to write the archive to (created; must not hold one)")
	var o ExportOptions
	fs.Uint64Var(&o.FromSeq, "from-seq", 0, "first stream sequence (default: the first)")
	fs.Uint64Var(&o.ToSeq, "to-seq", 0, "last stream sequence (default: the last now)")
	fs.IntVar(&o.LinkEvery, "link-every", DefaultLinkEvery, "record a link of the hash chain in the manifest every so many lines")
	fs.StringVar(&o.Family, "family", "", "export only this family's events (its archive before erasure)")
	masterFile := fs.String("master-key-file", getenv("JF_MASTER_KEY_FILE"), "master key file: decrypt personal fields into the archive, a read recorded in the access log with -purpose (JF_MASTER_KEY_FILE, or the key in JF_MASTER_KEY)")
	why := fs.String("purpose", "", "why the families' data is read, recorded with the read in the access log; required with -master-key-file")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 || *out == "" {
		return usageError("give -out DIR")
	}
	if given(fs, "family") && !events.ValidID(o.Family) {
		// Given empty too: an export of one family never widens to all.
		return usageError(fmt.Sprintf("-family %q is not an id (%s)", o.Family, events.IDPattern))
	}
	if err := checkPurposeFlag(*why, decrypts(*masterFile, getenv)); err != nil {
		return err
	}
	nc, js, err := connect(*natsURL, *natsNKey)
	if err != nil {
		return err
	}
	defer nc.Close()
	if o.Keys, err = masterKeys(js, *masterFile, getenv); err != nil {
		return err
	}
	if o.Keys != nil {
		command := "audit export"
		if o.Family != "" {
			if !events.ValidID(o.Family) {
				return usageError(fmt.Sprintf("-family %q is not an id (%s)", o.Family, events.IDPattern))
			}
			command += " -family " + o.Family
		}
		if o.FromSeq > 0 {
			command += " -from-seq " + strconv.FormatUint(o.FromSeq, 10)
		}
		if o.ToSeq > 0 {
			command += " -to-seq " + strconv.FormatUint(o.ToSeq, 10)
		}
		acc := newCLIAccess(js, getenv, auth.Auditor, *why)
		if err := acc.record(ctx, command, o.Family); err != nil {
			return err
		}
	}
	start := time.Now()
	o.Progress = func(p ExportProgress) {
		pct := 100 * float64(p.Scanned) / float64(max(p.Positions, 1))
		rate := float64(p.Scanned) / max(time.Since(start).Seconds(), 1e-3)
		if o.Family == "" {
			fmt.Fprintf(stderr, "export: %d of %d events (%.0f%%), %.0f/s\n", p.Written, p.Positions, pct, rate)
			return
		}
		// The family's events are few among the positions the filtered
		// read passes: what is written, and how far through the range.
		fmt.Fprintf(stderr, "export: %d events of family %s written; stream positions %d of %d scanned (%.0f%%), %.0f/s\n",
			p.Written, o.Family, p.Scanned, p.Positions, pct, rate)
	}
	m, err := Export(ctx, js, *out, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported %d events, sequences %d..%d, to %s\nchain final hash %s\n", m.Count, m.FirstSequence, m.LastSequence, *out, m.Chain.Final)
	return nil
}

// decrypts reports whether a command is given a master key (in file or
// JF_MASTER_KEY), with which it decrypts the families' personal fields.
func decrypts(file string, getenv func(string) string) bool {
	return file != "" || getenv("JF_MASTER_KEY") != ""
}

// checkPurposeFlag checks -purpose, which a read that decrypts requires:
// it is recorded in the access log for good.
func checkPurposeFlag(why string, required bool) error {
	if required && strings.TrimSpace(why) == "" {
		return usageError("-master-key-file (or JF_MASTER_KEY) decrypts the families' personal fields: give -purpose, why they are read; " +
			"the read is recorded with it in the access log (ACCESS_LOG) before anything is written")
	}
	if err := accesslog.CheckPurpose("-purpose", strings.TrimSpace(why)); err != nil {
		return usageError(problemDetail(err))
	}
	return nil
}

// masterKeys is the keyring of the master key in file or JF_MASTER_KEY,
// nil when neither is given: a replay or export then writes encrypted
// events as unreadable lines.
func masterKeys(js jetstream.JetStream, file string, getenv func(string) string) (*shred.Keyring, error) {
	if file == "" && getenv("JF_MASTER_KEY") == "" {
		return nil, nil
	}
	m, err := config.Config{MasterKeyFile: file, MasterKey: getenv("JF_MASTER_KEY")}.LoadMasterKey(false)
	if err != nil {
		return nil, err
	}
	return shred.New(js, m), nil
}

func verifyExportCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit verify-export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), "usage: audit verify-export DIR") }
	if err := parseFlags(fs, args, nil); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("give the archive's directory")
	}
	res, err := VerifyExport(fs.Arg(0))
	if err != nil {
		return err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	_ = enc.Encode(res)
	_, _ = stdout.Write(b.Bytes())
	if !res.OK {
		fmt.Fprintf(stderr, "verify-export: TAMPERED: %s\n", res.Problem)
		return errFound
	}
	fmt.Fprintf(stderr, "verify-export: intact: %d lines, chain %s\n", res.Lines, res.Final)
	return nil
}
