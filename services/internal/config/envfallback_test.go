package config

import (
	"flag"
	"regexp"
	"testing"
)

// TestEveryEnvironmentFallbackIsRead: the variable each flag's usage names
// is the one envFallbacks reads for it, and envFallbacks names only flags.
func TestEveryEnvironmentFallbackIsRead(t *testing.T) {
	t.Parallel()
	var c Config
	fs := c.FlagSet("test", func(string) string { return "" })
	named := regexp.MustCompile(`\((JF_[A-Z0-9_]+)[;)]`)
	seen := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		seen[f.Name] = true
		m := named.FindStringSubmatch(f.Usage)
		switch {
		case m == nil && envFallbacks[f.Name] != "":
			t.Errorf("-%s reads %s, which its usage does not name", f.Name, envFallbacks[f.Name])
		case m != nil && envFallbacks[f.Name] != m[1]:
			t.Errorf("-%s's usage names %s, but %q is read", f.Name, m[1], envFallbacks[f.Name])
		}
	})
	for name := range envFallbacks {
		if !seen[name] {
			t.Errorf("envFallbacks names -%s, which is no flag", name)
		}
	}
}
