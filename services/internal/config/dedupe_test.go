package config_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// TestDedupeWindowIsChecked: like the other duration settings
// (store-check-interval, oidc-jwks-lifetime, nats-sync), a zero or
// negative -dedupe-window / JF_DEDUPE_WINDOW is refused. Passed on,
// eventstore.FamilyStreamConfig would make the stream with the 24 h
// default instead: the operator's value neither used nor refused.
func TestDedupeWindowIsChecked(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0s", "-1h"} {
		c, err := config.Parse("test", []string{"-dedupe-window", v}, func(string) string { return "" }, io.Discard)
		if err != nil && !strings.Contains(err.Error(), "dedupe-window") {
			t.Errorf("-dedupe-window %s: the error %q does not name the setting", v, err)
		}
		if err == nil {
			got := eventstore.FamilyStreamConfig(eventstore.StreamOptions{Replicas: c.Replicas, DedupeWindow: c.Dedupe}).Duplicates
			t.Errorf("-dedupe-window %s accepted; FAMILY_EVENTS would be made with a duplicate window of %s", v, got)
		}
	}
}

// JF_DEDUPE_WINDOW is refused alike, and a positive window is taken.
func TestDedupeWindowFromEnvironment(t *testing.T) {
	t.Parallel()
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "JF_DEDUPE_WINDOW" {
				return v
			}
			return ""
		}
	}
	if _, err := config.Parse("test", nil, env("0s"), io.Discard); err == nil {
		t.Error("JF_DEDUPE_WINDOW=0s accepted")
	}
	c, err := config.Parse("test", nil, env("2h"), io.Discard)
	if err != nil || c.Dedupe != 2*time.Hour {
		t.Errorf("JF_DEDUPE_WINDOW=2h: %s, %v", c.Dedupe, err)
	}
}
