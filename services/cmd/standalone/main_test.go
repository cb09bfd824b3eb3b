package main

import (
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// TestParseTakesSunsets: the standalone honours -sunset-<name>.v<version>
// and -sunset-file (JF_SUNSET_FILE) as the ingest binaries do, and refuses
// a sunset file that is not there rather than accepting every version.
func TestParseTakesSunsets(t *testing.T) {
	t.Setenv("JF_SUNSET_FILE", "")
	cfg, _, err := parse([]string{"-sunset-praktik.started.v1=2020-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := cfg.Sunsets[events.TypeOf("praktik.started", 1)]; !got.Equal(want) {
		t.Errorf("sunset of praktik.started.v1: %v (sunsets %v), want %v", got, cfg.Sunsets, want)
	}
	if _, _, err := parse([]string{"-sunset-file", "/nonexistent/sunsets.txt"}); err == nil {
		t.Error("-sunset-file naming no file accepted")
	}
	t.Setenv("JF_SUNSET_FILE", "/nonexistent/sunsets.txt")
	if _, _, err := parse(nil); err == nil {
		t.Error("JF_SUNSET_FILE naming no file accepted")
	}
}

// TestParseChecksSettings: the standalone refuses what config.Check and
// the environment fallbacks refuse.
func TestParseChecksSettings(t *testing.T) {
	if _, _, err := parse([]string{"-replicas", "2"}); err == nil {
		t.Error("-replicas 2 accepted")
	}
	t.Setenv("JF_REPLICAS", "three")
	if _, _, err := parse(nil); err == nil {
		t.Error("JF_REPLICAS=three accepted")
	}
}

// TestParseRefusesNoDemoFamilies: -demo-families 0 or less is refused,
// not turned into the default.
func TestParseRefusesNoDemoFamilies(t *testing.T) {
	for _, v := range []string{"0", "-3"} {
		if _, _, err := parse([]string{"-demo", "-demo-families", v}); err == nil {
			t.Errorf("-demo-families %s accepted", v)
		}
	}
	if _, df, err := parse([]string{"-demo-families", "7"}); err != nil || df.families != 7 {
		t.Errorf("-demo-families 7: %d, %v", df.families, err)
	}
}
