package standalone_test

import (
	"bytes"
	"context"
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
