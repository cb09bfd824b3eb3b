// Package config reads the settings every Job og Familie process shares:
// flags with environment fallbacks and the defaults of CONTRACT.md.
package config

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"kk.dk/jobogfamilie/services/internal/evaluation"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// Config is one process's settings.
type Config struct {
	HTTPAddr   string // -http / JF_HTTP_ADDR
	DataDir    string // -data / JF_DATA_DIR
	NATSURL    string // -nats-url / JF_NATS_URL: external NATS; empty embeds one
	NATSListen string // -nats-listen / JF_NATS_LISTEN: embedded server's client address, "off" for none
	NATSNKey   string // -nats-nkey / JF_NATS_NKEY: NKey seed file for -nats-url
	ConfigPath string // -config / JF_CONFIG: principals file; empty is the dev config
	Sync       string // -nats-sync / JF_NATS_SYNC: always | interval | <duration>
	Replicas   int    // -replicas / JF_REPLICAS: stream replicas (3 on a cluster)
	Dedupe     time.Duration
	LogLevel   string // -log-level / JF_LOG_LEVEL
	// AppSecureCookie marks the web app's session cookie Secure; set it
	// whenever the app is reached over TLS (-app-secure-cookie /
	// JF_APP_SECURE_COOKIE).
	AppSecureCookie bool
	// AppTrustedProxies are the addresses (comma-separated IPs or CIDR
	// prefixes) of the reverse proxies in front of the web app, whose
	// X-Forwarded-For names the client that the login rate limit counts
	// (-app-trusted-proxies / JF_APP_TRUSTED_PROXIES).
	AppTrustedProxies string
	// StoreCheckInterval is how often the streams' integrity is checked
	// (-store-check-interval / JF_STORE_CHECK_INTERVAL).
	StoreCheckInterval time.Duration
	// EvaluationTarget is the evaluation's families.target
	// (-evaluation-target / JF_EVALUATION_TARGET); EvaluationThreshold the
	// smallest count a suppressed evaluation shows
	// (-evaluation-threshold / JF_EVALUATION_THRESHOLD).
	EvaluationTarget, EvaluationThreshold int
	// EvaluationKeepEvery is how often a projector writes the
	// evaluation's index beside its read model, so that a start after a
	// crash reads only the rows after it; 0 writes it only at a stop
	// (-evaluation-keep-every / JF_EVALUATION_KEEP_EVERY).
	EvaluationKeepEvery time.Duration
	// Sunsets end the acceptance of earlier versions of event types
	// (-sunset-<name>.v<version>, -sunset-file / JF_SUNSET_FILE; see
	// sunset.go).
	Sunsets    Sunsets
	SunsetFile string
	sunsetSet  Sunsets
	// Instance names one of several projector processes on one NATS
	// deployment (read replicas): its durable consumer is
	// projector-<instance> and its state <data>/projector-<instance>/.
	// Empty is the single projector's names (-instance / JF_INSTANCE).
	Instance string
	// OIDC: JWT access tokens of an IdP next to the static tokens, and
	// the web app's login through it (see OIDCFlags).
	OIDC OIDC
	// IngestCacheFamilies bounds the family states an ingest process keeps
	// in memory; the rest are read from its local index store
	// (-ingest-cache-families / JF_INGEST_CACHE_FAMILIES).
	IngestCacheFamilies int
	// ProjectorCacheFamilies bounds the folded family states a caught-up
	// projector keeps in memory; the rest are folded again from the read
	// model's rows when their next event arrives
	// (-projector-cache-families / JF_PROJECTOR_CACHE_FAMILIES).
	ProjectorCacheFamilies int
	// ProjectorCatchUpFamilies bounds the folded family states a projector
	// keeps in memory while it catches up, rebuilds or verifies; the rest
	// wait in a temporary file until their next event
	// (-projector-catchup-families / JF_PROJECTOR_CATCHUP_FAMILIES).
	ProjectorCatchUpFamilies int
	// MasterKeyFile holds the master key that wraps the families' data
	// keys (-master-key-file / JF_MASTER_KEY_FILE); JF_MASTER_KEY, read
	// from the environment only, holds the key itself instead. With
	// neither, the dev config makes one in <data>/keys/master.key.
	MasterKeyFile, MasterKey string
	// Encryption encrypts personal fields at ingest and makes readers
	// quarantine a personal field stored in the clear (-encryption /
	// JF_ENCRYPTION, default on; off only to measure its cost).
	Encryption bool
	// RetentionYears is how long a family's data is kept after its course
	// ended, or after its last event when it was never enrolled
	// (-retention-years / JF_RETENTION_YEARS, default 5).
	RetentionYears int
}

// OIDC are the identity provider's settings; an empty Issuer means none.
type OIDC struct {
	Issuer        string        // -oidc-issuer / JF_OIDC_ISSUER
	Audience      string        // -oidc-audience / JF_OIDC_AUDIENCE
	RoleClaim     string        // -oidc-role-claim / JF_OIDC_ROLE_CLAIM
	EmployeeClaim string        // -oidc-employee-claim / JF_OIDC_EMPLOYEE_CLAIM
	ClientID      string        // -oidc-client-id / JF_OIDC_CLIENT_ID: the web app's login
	ClientSecret  string        // -oidc-client-secret / JF_OIDC_CLIENT_SECRET
	JWKSLifetime  time.Duration // -oidc-jwks-lifetime / JF_OIDC_JWKS_LIFETIME
}

// flags binds the OIDC settings to fs.
func (o *OIDC) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.Issuer, "oidc-issuer", "", "OIDC issuer URL whose JWT access tokens are accepted; empty for none (JF_OIDC_ISSUER)")
	fs.StringVar(&o.Audience, "oidc-audience", "", "the aud every JWT access token must contain (JF_OIDC_AUDIENCE)")
	fs.StringVar(&o.RoleClaim, "oidc-role-claim", "roles", "claim with the role; a dotted name reaches into objects (JF_OIDC_ROLE_CLAIM)")
	fs.StringVar(&o.EmployeeClaim, "oidc-employee-claim", "employee_id", "claim with a coordinator's employee id (JF_OIDC_EMPLOYEE_CLAIM)")
	fs.StringVar(&o.ClientID, "oidc-client-id", "", "the web app's OIDC client id; set, people log in through the IdP (JF_OIDC_CLIENT_ID)")
	fs.StringVar(&o.ClientSecret, "oidc-client-secret", "", "the web app's OIDC client secret (JF_OIDC_CLIENT_SECRET)")
	fs.DurationVar(&o.JWKSLifetime, "oidc-jwks-lifetime", 10*time.Minute, "how long the IdP's keys are cached; a removed key stops verifying within it (JF_OIDC_JWKS_LIFETIME)")
}

func (o OIDC) check() error {
	switch {
	case o.Issuer == "" && (o.Audience != "" || o.ClientID != ""):
		return fmt.Errorf("config: oidc-audience and oidc-client-id need oidc-issuer")
	case o.Issuer == "":
		return nil
	case o.Audience == "":
		return fmt.Errorf("config: oidc-issuer needs oidc-audience, the aud this API requires")
	case o.ClientID != "" && o.ClientSecret == "":
		return fmt.Errorf("config: oidc-client-id needs oidc-client-secret")
	case o.JWKSLifetime <= 0:
		return fmt.Errorf("config: oidc-jwks-lifetime must be positive, not %s", o.JWKSLifetime)
	}
	return nil
}

// Defaults are CONTRACT.md's.
func Defaults() Config {
	return Config{
		HTTPAddr:   "127.0.0.1:8080",
		DataDir:    "./data",
		NATSListen: "127.0.0.1:4222",
		Sync:       "interval",
		Replicas:   1,
		Dedupe:     eventstore.DefaultDedupeWindow,
		LogLevel:   "info",

		StoreCheckInterval: eventstore.DefaultCheckInterval,

		EvaluationTarget:         evaluation.DefaultTarget,
		EvaluationThreshold:      evaluation.DefaultThreshold,
		EvaluationKeepEvery:      10 * time.Minute,
		IngestCacheFamilies:      20000,
		ProjectorCacheFamilies:   readmodel.DefaultStateLimit,
		ProjectorCatchUpFamilies: readmodel.DefaultSpillLimit,

		Encryption:     true,
		RetentionYears: 5,
	}
}

// envFallbacks name each flag's environment variable, which is read when
// the flag is not given, exactly as the flag would be.
var envFallbacks = map[string]string{
	"http":                       "JF_HTTP_ADDR",
	"data":                       "JF_DATA_DIR",
	"nats-url":                   "JF_NATS_URL",
	"nats-nkey":                  "JF_NATS_NKEY",
	"nats-listen":                "JF_NATS_LISTEN",
	"config":                     "JF_CONFIG",
	"nats-sync":                  "JF_NATS_SYNC",
	"replicas":                   "JF_REPLICAS",
	"dedupe-window":              "JF_DEDUPE_WINDOW",
	"log-level":                  "JF_LOG_LEVEL",
	"app-secure-cookie":          "JF_APP_SECURE_COOKIE",
	"app-trusted-proxies":        "JF_APP_TRUSTED_PROXIES",
	"store-check-interval":       "JF_STORE_CHECK_INTERVAL",
	"evaluation-target":          "JF_EVALUATION_TARGET",
	"evaluation-threshold":       "JF_EVALUATION_THRESHOLD",
	"evaluation-keep-every":      "JF_EVALUATION_KEEP_EVERY",
	"oidc-issuer":                "JF_OIDC_ISSUER",
	"oidc-audience":              "JF_OIDC_AUDIENCE",
	"oidc-role-claim":            "JF_OIDC_ROLE_CLAIM",
	"oidc-employee-claim":        "JF_OIDC_EMPLOYEE_CLAIM",
	"oidc-client-id":             "JF_OIDC_CLIENT_ID",
	"oidc-client-secret":         "JF_OIDC_CLIENT_SECRET",
	"oidc-jwks-lifetime":         "JF_OIDC_JWKS_LIFETIME",
	"instance":                   "JF_INSTANCE",
	"sunset-file":                "JF_SUNSET_FILE",
	"ingest-cache-families":      "JF_INGEST_CACHE_FAMILIES",
	"projector-cache-families":   "JF_PROJECTOR_CACHE_FAMILIES",
	"projector-catchup-families": "JF_PROJECTOR_CATCHUP_FAMILIES",
	"master-key-file":            "JF_MASTER_KEY_FILE",
	"encryption":                 "JF_ENCRYPTION",
	"retention-years":            "JF_RETENTION_YEARS",
}

// Flags are a Config's flags (FlagSet), to which a process may add its
// own. Their Parse completes the Config: every process that parses them
// has read the environment fallbacks and the sunsets and checked the
// settings.
type Flags struct {
	*flag.FlagSet
	c      *Config
	getenv func(string) string
}

// FlagSet binds cfg to a flag set with Defaults; its Parse reads the
// environment (getenv) for the flags the arguments do not give, then the
// sunsets, and checks the settings.
func (c *Config) FlagSet(name string, getenv func(string) string) *Flags {
	d := Defaults()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.HTTPAddr, "http", d.HTTPAddr, "HTTP listen address (JF_HTTP_ADDR)")
	fs.StringVar(&c.DataDir, "data", d.DataDir, "data directory (JF_DATA_DIR)")
	fs.StringVar(&c.NATSURL, "nats-url", "", "external NATS URL; empty embeds a server (JF_NATS_URL)")
	fs.StringVar(&c.NATSNKey, "nats-nkey", "", "NKey seed file to authenticate to -nats-url with (JF_NATS_NKEY)")
	fs.StringVar(&c.NATSListen, "nats-listen", d.NATSListen, "embedded NATS client address, or off (JF_NATS_LISTEN)")
	fs.StringVar(&c.ConfigPath, "config", "", "principals config file; empty uses the dev config (JF_CONFIG)")
	fs.StringVar(&c.Sync, "nats-sync", d.Sync, "embedded store fsync: interval (2m), always, or a duration (JF_NATS_SYNC)")
	fs.IntVar(&c.Replicas, "replicas", d.Replicas, "stream replicas: 1 single node, 3 cluster (JF_REPLICAS)")
	fs.DurationVar(&c.Dedupe, "dedupe-window", d.Dedupe, "JetStream dedupe window (JF_DEDUPE_WINDOW)")
	c.LogLevel = d.LogLevel
	fs.Var(logLevel{&c.LogLevel}, "log-level", "the least `level` logged: debug, info, warn or error (JF_LOG_LEVEL)")
	fs.BoolVar(&c.AppSecureCookie, "app-secure-cookie", false,
		"mark the web app's session cookie Secure: set it behind TLS (JF_APP_SECURE_COOKIE)")
	fs.StringVar(&c.AppTrustedProxies, "app-trusted-proxies", "",
		"comma-separated IPs or CIDR prefixes of the reverse proxies whose X-Forwarded-For the web app believes (JF_APP_TRUSTED_PROXIES)")
	fs.DurationVar(&c.StoreCheckInterval, "store-check-interval", d.StoreCheckInterval, "how often the streams' integrity is checked (JF_STORE_CHECK_INTERVAL)")
	fs.IntVar(&c.EvaluationTarget, "evaluation-target", d.EvaluationTarget, "the evaluation's target number of families in the course (JF_EVALUATION_TARGET)")
	fs.IntVar(&c.EvaluationThreshold, "evaluation-threshold", d.EvaluationThreshold,
		"the smallest count a suppressed evaluation shows; fewer units are suppressed (JF_EVALUATION_THRESHOLD)")
	fs.DurationVar(&c.EvaluationKeepEvery, "evaluation-keep-every", d.EvaluationKeepEvery,
		"how often a projector writes the evaluation's index beside its read model, for a start after a crash; 0: only at a stop (JF_EVALUATION_KEEP_EVERY)")
	c.OIDC.flags(fs)
	fs.StringVar(&c.Instance, "instance", "",
		"this projector's name among several on one NATS (read replicas): consumer projector-<instance>, data <data>/projector-<instance> (JF_INSTANCE)")
	c.sunsetFlags(fs)
	fs.IntVar(&c.IngestCacheFamilies, "ingest-cache-families", d.IngestCacheFamilies,
		"family states an ingest process keeps in memory (JF_INGEST_CACHE_FAMILIES)")
	fs.IntVar(&c.ProjectorCacheFamilies, "projector-cache-families", d.ProjectorCacheFamilies,
		"family states a caught-up projector keeps in memory (JF_PROJECTOR_CACHE_FAMILIES)")
	fs.IntVar(&c.ProjectorCatchUpFamilies, "projector-catchup-families", d.ProjectorCatchUpFamilies,
		"family states a projector keeps in memory while it catches up, rebuilds or verifies (JF_PROJECTOR_CATCHUP_FAMILIES)")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", "",
		"file holding the master key that wraps the data keys (JF_MASTER_KEY_FILE; or the key itself in JF_MASTER_KEY)")
	c.MasterKey = getenv("JF_MASTER_KEY")
	fs.BoolVar(&c.Encryption, "encryption", d.Encryption,
		"encrypt personal fields at ingest and refuse them in the clear (JF_ENCRYPTION)")
	fs.IntVar(&c.RetentionYears, "retention-years", d.RetentionYears, "years a family's data is kept after its course ended (JF_RETENTION_YEARS)")
	return &Flags{FlagSet: fs, c: c, getenv: getenv}
}

// Parse parses args, sets each flag they do not give from its
// environment variable, if set, as the flag would be (a value the flag
// refuses is an error naming the variable, not the default), reads the
// sunsets and checks the settings.
func (f *Flags) Parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		return err
	}
	if err := f.environment(); err != nil {
		return err
	}
	if err := f.c.loadSunsets(); err != nil {
		return err
	}
	return f.c.Check()
}

// environment sets the flags not given from their environment variables.
func (f *Flags) environment() error {
	return FromEnvironment(f.FlagSet, f.getenv, envFallbacks)
}

// FromEnvironment sets each flag of the parsed fs that its arguments did
// not give from its environment variable in vars (flag name → variable),
// when that is set, as the flag would be (a value the flag refuses is an
// error naming the variable). Read after parsing, a variable never becomes
// a flag's default, which the flag package prints in the usage (-h, or a
// bad flag): a variable holding a secret (a token) stays out of it.
func FromEnvironment(fs *flag.FlagSet, getenv func(string) string, vars map[string]string) error {
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	var errs []error
	fs.VisitAll(func(fl *flag.Flag) {
		key, ok := vars[fl.Name]
		if !ok || given[fl.Name] {
			return
		}
		if v := getenv(key); v != "" {
			if err := fl.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("config: %s: invalid value %q for -%s: %w", key, v, fl.Name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// logLevel is -log-level: a level slog.Level.UnmarshalText reads.
type logLevel struct{ s *string }

func (l logLevel) String() string {
	if l.s == nil {
		return ""
	}
	return *l.s
}

func (l logLevel) Set(v string) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(v)); err != nil {
		return err
	}
	*l.s = v
	return nil
}

// Parse reads args (without the program name) and the environment.
func Parse(name string, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	var c Config
	fs := c.FlagSet(name, getenv)
	fs.SetOutput(out)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	return c, nil
}

// Check validates the settings.
func (c Config) Check() error {
	if _, err := eventstore.ParseDurability(c.Sync); err != nil {
		return err
	}
	if c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5 {
		return fmt.Errorf("config: replicas must be 1, 3 or 5, not %d", c.Replicas)
	}
	if c.EvaluationTarget < 1 {
		return fmt.Errorf("config: evaluation-target must be at least 1, not %d", c.EvaluationTarget)
	}
	if c.EvaluationThreshold < 2 {
		return fmt.Errorf("config: evaluation-threshold must be at least 2, not %d", c.EvaluationThreshold)
	}
	if c.EvaluationKeepEvery < 0 {
		return fmt.Errorf("config: evaluation-keep-every must not be negative, not %s", c.EvaluationKeepEvery)
	}
	if c.Instance != "" && !instanceName.MatchString(c.Instance) {
		return fmt.Errorf("config: instance must be 1 to 32 lower-case letters, digits and inner dashes, not %q", c.Instance)
	}
	if c.IngestCacheFamilies < 1 {
		return fmt.Errorf("config: ingest-cache-families must be at least 1, not %d", c.IngestCacheFamilies)
	}
	if c.ProjectorCacheFamilies < 1 {
		return fmt.Errorf("config: projector-cache-families must be at least 1, not %d", c.ProjectorCacheFamilies)
	}
	if c.ProjectorCatchUpFamilies < 1 {
		return fmt.Errorf("config: projector-catchup-families must be at least 1, not %d", c.ProjectorCatchUpFamilies)
	}
	if c.RetentionYears < 1 {
		return fmt.Errorf("config: retention-years must be at least 1, not %d", c.RetentionYears)
	}
	// FamilyStreamConfig would take a zero window as its 24h default, so
	// a window that is not positive is refused.
	if c.Dedupe <= 0 {
		return fmt.Errorf("config: dedupe-window must be positive, not %s", c.Dedupe)
	}
	if c.StoreCheckInterval <= 0 {
		return fmt.Errorf("config: store-check-interval must be positive, not %s", c.StoreCheckInterval)
	}
	return c.OIDC.check()
}

// instanceName is what -instance accepts: a NATS consumer name's and a
// directory name's safe characters.
var instanceName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// NoMasterKey is the error of a process that needs the operator's master
// key and was given none: any process with a principals file (-config).
const NoMasterKey = "config: no master key: the families' data keys are wrapped by the operator's master key, " +
	"and only the dev config (no -config) makes one itself; pass -master-key-file (JF_MASTER_KEY_FILE) naming a file " +
	"that holds 32 random bytes as 64 hex digits or base64 (umask 077; openssl rand -hex 32 > master.key), " +
	"or set JF_MASTER_KEY to the key; all processes of a deployment use the same key (docs/PRIVACY.md)"

// LoadMasterKey is the master key the settings name: the file, else
// JF_MASTER_KEY, else, when dev (the dev config), the one in
// <data>/keys/master.key, made on first start.
func (c Config) LoadMasterKey(dev bool) (shred.MasterKey, error) {
	switch {
	case c.MasterKeyFile != "":
		return shred.LoadMasterKeyFile(c.MasterKeyFile)
	case c.MasterKey != "":
		m, err := shred.ParseMasterKey(c.MasterKey)
		if err != nil {
			return m, fmt.Errorf("JF_MASTER_KEY: %w", err)
		}
		return m, nil
	case dev:
		return shred.LoadOrCreateDevMasterKey(c.DataDir)
	}
	return shred.MasterKey{}, errors.New(NoMasterKey)
}

// Logger makes the process logger (JSON on stderr).
func (c Config) Logger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// StoreOptions turns the settings into event store options: an external
// NATS when NATSURL is set, an embedded one in <data>/nats otherwise (with
// its keys for outside clients there too). name identifies the process's
// connection.
func (c Config) StoreOptions(name string, log *slog.Logger) (eventstore.OpenOptions, error) {
	dur, err := eventstore.ParseDurability(c.Sync)
	if err != nil {
		return eventstore.OpenOptions{}, err
	}
	return eventstore.OpenOptions{
		URL:      c.NATSURL,
		NKeyFile: c.NATSNKey,
		Embedded: eventstore.EmbeddedOptions{
			StoreDir: filepath.Join(c.DataDir, "nats"), Listen: c.NATSListen, Durability: dur,
			ProjectorConsumer: eventstore.ProjectorConsumer(c.Instance),
		},
		Streams: c.streamOptions(),
		Name:    name,
		Log:     log,
	}, nil
}

// streamOptions are the streams' settings, as the setup step makes them
// and the guard checks them.
func (c Config) streamOptions() eventstore.StreamOptions {
	return eventstore.StreamOptions{Replicas: c.Replicas, DedupeWindow: c.Dedupe}
}

// GuardOptions are the event store guard's options for the process named
// name: its high-water mark is <data>/<name>/store-highwater.json (the
// name reduced to letters, digits and dashes), or
// <data>/<name>-<instance>/… with an instance, so that replicas sharing a
// data directory keep their own.
func (c Config) GuardOptions(name string, log *slog.Logger) eventstore.GuardOptions {
	if c.Instance != "" {
		name += "-" + c.Instance
	}
	dir := strings.Trim(strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			return r
		case r == ' ' || r == '_':
			return '-'
		}
		return -1
	}, name), "-")
	return eventstore.GuardOptions{
		HighWaterFile: filepath.Join(c.DataDir, cmp.Or(dir, "process"), "store-highwater.json"),
		Interval:      c.StoreCheckInterval,
		Streams:       c.streamOptions(),
		Log:           log,
	}
}
