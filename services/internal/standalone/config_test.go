package standalone_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/standalone"
)

// noNATS is an address where no NATS answers: a command that gets as far
// as connecting fails there with 1, not with 2 for its settings.
const noNATS = "nats://127.0.0.1:1"

// TestSetupStreamsRefusesABadEnvironmentValue: setup-streams reads the
// environment as its flags, so a mistyped JF_REPLICAS stops it with a
// usage error naming the variable instead of making single-replica streams.
func TestSetupStreamsRefusesABadEnvironmentValue(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := standalone.SetupStreamsCommand(context.Background(), []string{"-nats-url", noNATS},
		func(k string) string {
			if k == "JF_REPLICAS" {
				return "three"
			}
			return ""
		}, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "JF_REPLICAS") {
		t.Errorf("JF_REPLICAS=three: exit %d, %s%s", code, out.String(), errOut.String())
	}
}

// TestSetupStreamsChecksSettings: setup-streams reads the sunsets and
// checks the settings as every binary does, before it connects.
func TestSetupStreamsChecksSettings(t *testing.T) {
	t.Parallel()
	noenv := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-replicas", "2"}, "replicas"},
		{[]string{"-sunset-file", "/nonexistent/sunsets.txt"}, "sunset file"},
	} {
		var out, errOut bytes.Buffer
		code := standalone.SetupStreamsCommand(context.Background(), append([]string{"-nats-url", noNATS}, tc.args...), noenv, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, %s%s", tc.args, code, out.String(), errOut.String())
		}
	}
}

// TestRotateMasterKeyChecksSettings: rotate-master-key refuses settings
// every other binary refuses, before it opens the store.
func TestRotateMasterKeyChecksSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	noenv := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		env  func(string) string
		want string
	}{
		{[]string{"-replicas", "2"}, noenv, "replicas"},
		{[]string{"-sunset-file", "/nonexistent/sunsets.txt"}, noenv, "sunset file"},
		{nil, func(k string) string {
			if k == "JF_STORE_CHECK_INTERVAL" {
				return "30"
			}
			return ""
		}, "JF_STORE_CHECK_INTERVAL"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"-data", dir, "-old-key-file", filepath.Join(dir, "old.key"), "-master-key-file", filepath.Join(dir, "new.key")}, tc.args...)
		code := standalone.RotateMasterKeyCommand(context.Background(), args, tc.env, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, %s%s", tc.args, code, out.String(), errOut.String())
		}
	}
}
