package main

import (
	"context"
	"errors"
	"io"
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
