package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestFamiliesMustBePositive: -families 0 or less is a usage error (exit
// code 2), not the default of 50; it is refused before anything is sent.
func TestFamiliesMustBePositive(t *testing.T) {
	for _, v := range []string{"0", "-1"} {
		err := realMain(context.Background(), []string{"-url", "http://127.0.0.1:1", "-families", v}, io.Discard)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("-families %s: %v, want a usage error", v, err)
		}
	}
	var ue usageError
	if err := realMain(context.Background(), []string{"-no-such-flag"}, io.Discard); !errors.As(err, &ue) {
		t.Errorf("-no-such-flag: %v, want a usage error", err)
	}
}

// TestDPOTokenIsNotPrinted: -dpo-token comes from JF_DEMO_DPO_TOKEN when
// not given, and the usage (-h, or a bad flag) does not print it.
func TestDPOTokenIsNotPrinted(t *testing.T) {
	const secret = "tok-dpo-5d21"
	t.Setenv("JF_DEMO_DPO_TOKEN", secret)
	for _, args := range [][]string{{"-h"}, {"-no-such-flag"}} {
		var out bytes.Buffer
		_ = realMain(context.Background(), args, &out)
		if strings.Contains(out.String(), secret) {
			t.Errorf("demo %v printed JF_DEMO_DPO_TOKEN:\n%s", args, out.String())
		}
	}
}
