package config_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/config"
)

// envOnly is an environment holding the one variable key=value.
func envOnly(key, value string) func(string) string {
	return func(k string) string {
		if k == key {
			return value
		}
		return ""
	}
}

// TestEnvironmentIsReadAsItsFlag: a JF_ variable is read as its flag is.
// A value the flag refuses is refused from the environment too, with an
// error naming the variable, rather than replaced by the default or read in
// part; a value the flag takes is taken; and a flag given on the command
// line wins, the variable then not being read at all.
func TestEnvironmentIsReadAsItsFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		flag, env, bad, good string
		read                 func(config.Config) any
		want                 any
	}{
		{"replicas", "JF_REPLICAS", "three", "3", func(c config.Config) any { return c.Replicas }, 3},
		{"store-check-interval", "JF_STORE_CHECK_INTERVAL", "30", "30s", func(c config.Config) any { return c.StoreCheckInterval }, 30 * time.Second},
		{"dedupe-window", "JF_DEDUPE_WINDOW", "1d", "48h", func(c config.Config) any { return c.Dedupe }, 48 * time.Hour},
		{"retention-years", "JF_RETENTION_YEARS", "ten", "10", func(c config.Config) any { return c.RetentionYears }, 10},
		{"evaluation-target", "JF_EVALUATION_TARGET", "fifty", "60", func(c config.Config) any { return c.EvaluationTarget }, 60},
		{"evaluation-threshold", "JF_EVALUATION_THRESHOLD", "5x", "7", func(c config.Config) any { return c.EvaluationThreshold }, 7},
		{"ingest-cache-families", "JF_INGEST_CACHE_FAMILIES", "20k", "500", func(c config.Config) any { return c.IngestCacheFamilies }, 500},
		{"projector-cache-families", "JF_PROJECTOR_CACHE_FAMILIES", "1k", "300", func(c config.Config) any { return c.ProjectorCacheFamilies }, 300},
		{"oidc-jwks-lifetime", "JF_OIDC_JWKS_LIFETIME", "10", "5m", func(c config.Config) any { return c.OIDC.JWKSLifetime }, 5 * time.Minute},
		{"app-secure-cookie", "JF_APP_SECURE_COOKIE", "yes", "true", func(c config.Config) any { return c.AppSecureCookie }, true},
		{"encryption", "JF_ENCRYPTION", "off", "false", func(c config.Config) any { return c.Encryption }, false},
		{"log-level", "JF_LOG_LEVEL", "verbose", "debug", func(c config.Config) any { return c.LogLevel }, "debug"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Parallel()
			noenv := func(string) string { return "" }
			if _, err := config.Parse("test", []string{"-" + tc.flag + "=" + tc.bad}, noenv, io.Discard); err == nil {
				t.Errorf("-%s=%s accepted", tc.flag, tc.bad)
			}
			c, err := config.Parse("test", nil, envOnly(tc.env, tc.bad), io.Discard)
			if err == nil {
				t.Errorf("%s=%s accepted: %v", tc.env, tc.bad, tc.read(c))
			} else if !strings.Contains(err.Error(), tc.env) {
				t.Errorf("%s=%s: the error does not name the variable: %v", tc.env, tc.bad, err)
			}

			c, err = config.Parse("test", nil, envOnly(tc.env, tc.good), io.Discard)
			if err != nil {
				t.Fatalf("%s=%s: %v", tc.env, tc.good, err)
			}
			if got := tc.read(c); got != tc.want {
				t.Errorf("%s=%s: %v, want %v", tc.env, tc.good, got, tc.want)
			}
			c, err = config.Parse("test", []string{"-" + tc.flag + "=" + tc.good}, envOnly(tc.env, tc.bad), io.Discard)
			if err != nil {
				t.Fatalf("-%s=%s given, %s=%s: %v", tc.flag, tc.good, tc.env, tc.bad, err)
			}
			if got := tc.read(c); got != tc.want {
				t.Errorf("-%s=%s given, %s=%s: %v, want %v", tc.flag, tc.good, tc.env, tc.bad, got, tc.want)
			}
		})
	}
}

// TestEnvironmentBooleans: a boolean variable takes what its flag takes
// (strconv.ParseBool's 1, t, true, 0, f, false, …) and nothing else.
func TestEnvironmentBooleans(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"1", "t", "T", "true", "TRUE", "True"} {
		if c, err := config.Parse("test", nil, envOnly("JF_APP_SECURE_COOKIE", v), io.Discard); err != nil || !c.AppSecureCookie {
			t.Errorf("JF_APP_SECURE_COOKIE=%s: secure %v, %v", v, c.AppSecureCookie, err)
		}
	}
	for _, v := range []string{"0", "f", "false", "FALSE"} {
		if c, err := config.Parse("test", nil, envOnly("JF_ENCRYPTION", v), io.Discard); err != nil || c.Encryption {
			t.Errorf("JF_ENCRYPTION=%s: encryption %v, %v", v, c.Encryption, err)
		}
	}
	for _, v := range []string{"yes", "on", "no", "off", "enabled", "2"} {
		if _, err := config.Parse("test", nil, envOnly("JF_APP_SECURE_COOKIE", v), io.Discard); err == nil {
			t.Errorf("JF_APP_SECURE_COOKIE=%s accepted", v)
		}
	}
}

// TestLogLevels: -log-level and JF_LOG_LEVEL take slog's level names.
func TestLogLevels(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"debug", "info", "warn", "error", "WARN"} {
		if c, err := config.Parse("test", []string{"-log-level", v}, func(string) string { return "" }, io.Discard); err != nil || c.LogLevel != v {
			t.Errorf("-log-level %s: %q, %v", v, c.LogLevel, err)
		}
	}
	if c, err := config.Parse("test", nil, func(string) string { return "" }, io.Discard); err != nil || c.LogLevel != "info" {
		t.Errorf("default log level %q, %v", c.LogLevel, err)
	}
}
