package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"kk.dk/jobogfamilie/services/internal/demo"
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

// fakeSystem answers /readyz, ingest's batches (each event stored the
// first time its id is posted, a duplicate after) and the erasure, which
// is recorded the first time only, as the services answer.
func fakeSystem(t *testing.T) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	stored, erased := map[string]bool{}, false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.URL.Path == "/readyz":
		case strings.HasSuffix(r.URL.Path, "/erase"):
			_ = json.NewEncoder(w).Encode(map[string]bool{"recorded": !erased, "keyDestroyed": true})
			erased = true
		default:
			var batch []struct {
				ID string `json:"id"`
			}
			if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			type answer struct {
				ID        string `json:"id"`
				Duplicate bool   `json:"duplicate"`
			}
			var res struct {
				Events []answer `json:"events"`
			}
			for _, e := range batch {
				res.Events = append(res.Events, answer{e.ID, stored[e.ID]})
				stored[e.ID] = true
			}
			_ = json.NewEncoder(w).Encode(res)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestErasureIsReportedOnce: the demo reports its one erasure once, and a
// second load, which erases nothing more, says the family was already
// erased.
func TestErasureIsReportedOnce(t *testing.T) {
	srv := fakeSystem(t)
	erased := demo.ErasedFamily(1, 12)
	for i, want := range []string{"erased", "already erased"} {
		var out bytes.Buffer
		if err := realMain(context.Background(), []string{"-url", srv.URL, "-families", "12"}, &out); err != nil {
			t.Fatalf("load %d: %v\n%s", i+1, err, out.String())
		}
		var lines []string
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.Contains(l, erased) {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 || !strings.Contains(lines[0], "family "+erased+" "+want) {
			t.Errorf("load %d names %s in %d lines, want one saying %q:\n%s", i+1, erased, len(lines), want, strings.Join(lines, "\n"))
		}
	}
}
