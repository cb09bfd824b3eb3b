package config

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"kk.dk/jobogfamilie/events"
)

// Sunsets are the ends of acceptance of earlier versions of event types,
// keyed by CloudEvents type: from that moment ingest refuses events of the
// version (422, naming its successor), and before it answers them with a
// Sunset header. Set with -sunset-<name>.v<version> (e.g.
// -sunset-praktik.started.v1=2027-06-30) or -sunset-file, a file of lines
// "<name>.v<version> <date>" (# starts a comment). A date is YYYY-MM-DD
// (00:00 UTC) or RFC 3339. A flag overrides the file.
type Sunsets map[string]time.Time

// sunsetKey is how flags and the file name a version: <name>.v<version>.
func sunsetKey(s events.Spec) string {
	return s.Name + events.VersionSeparator + strconv.Itoa(s.Version)
}

// sunsetFlags registers -sunset-file and a -sunset-<name>.v<version> flag
// for every earlier version of the catalog; a latest version has none, as
// it cannot end while nothing succeeds it.
func (c *Config) sunsetFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.SunsetFile, "sunset-file", "",
		`file of lines "<name>.v<version> <date>": when ingest stops accepting that earlier version (JF_SUNSET_FILE)`)
	for _, s := range events.AllVersions() {
		if s.IsLatest() {
			continue
		}
		typ := s.Type()
		fs.Func("sunset-"+sunsetKey(s), "when ingest stops accepting "+typ+" (YYYY-MM-DD or RFC 3339); send "+s.Latest().Type()+" instead",
			func(v string) error {
				t, err := parseSunset(v)
				if err != nil {
					return err
				}
				if c.sunsetSet == nil {
					c.sunsetSet = Sunsets{}
				}
				c.sunsetSet[typ] = t
				return nil
			})
	}
}

func parseSunset(v string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("sunset %q is neither YYYY-MM-DD nor RFC 3339", v)
	}
	return t.UTC(), nil
}

// loadSunsets sets Sunsets from the file, then the flags.
func (c *Config) loadSunsets() error {
	out := Sunsets{}
	if c.SunsetFile != "" {
		b, err := os.ReadFile(c.SunsetFile)
		if err != nil {
			return fmt.Errorf("config: sunset file: %w", err)
		}
		if err := parseSunsetFile(b, out); err != nil {
			return fmt.Errorf("config: %s: %w", c.SunsetFile, err)
		}
	}
	for typ, t := range c.sunsetSet {
		out[typ] = t
	}
	c.Sunsets = out
	return nil
}

// parseSunsetFile reads lines "<name>.v<version> <date>" into out.
func parseSunsetFile(b []byte, out Sunsets) error {
	byKey := map[string]events.Spec{}
	for _, s := range events.AllVersions() {
		byKey[sunsetKey(s)] = s
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return fmt.Errorf("line %d: want \"<name>.v<version> <date>\"", n)
		}
		s, ok := byKey[strings.TrimPrefix(f[0], events.TypePrefix)]
		switch {
		case !ok:
			return fmt.Errorf("line %d: %s is no version of a catalog type", n, f[0])
		case s.IsLatest():
			return fmt.Errorf("line %d: %s is the latest version of %s; only an earlier version can end", n, f[0], s.Name)
		}
		t, err := parseSunset(f[1])
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		out[s.Type()] = t
	}
	return sc.Err()
}
