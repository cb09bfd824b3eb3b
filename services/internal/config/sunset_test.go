package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

func TestSunsets(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "sunsets")
	if err := os.WriteFile(file, []byte("# the v1 types end\ngoal.set.v1 2027-01-31\npraktik.started.v1 2027-06-30T12:00:00+02:00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noenv := func(string) string { return "" }
	c, err := Parse("test", []string{"-sunset-file", file, "-sunset-goal.set.v1", "2027-03-01"}, noenv, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	want := Sunsets{
		events.TypeOf("goal.set", 1):        time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), // the flag overrides the file
		events.TypeOf("praktik.started", 1): time.Date(2027, 6, 30, 10, 0, 0, 0, time.UTC),
	}
	if len(c.Sunsets) != len(want) {
		t.Fatalf("sunsets %v, want %v", c.Sunsets, want)
	}
	for typ, at := range want {
		if !c.Sunsets[typ].Equal(at) {
			t.Errorf("%s: %v, want %v", typ, c.Sunsets[typ], at)
		}
	}
	for _, tc := range []struct{ args, file, want string }{
		{"-sunset-goal.set.v2=2027-01-01", "", "flag provided but not defined"},
		{"-sunset-goal.set.v1=soon", "", "neither YYYY-MM-DD nor RFC 3339"},
		{"", "goal.set.v2 2027-01-01\n", "latest version"},
		{"", "visit.planned.v1 2027-01-01\n", "no version of a catalog type"},
		{"", "goal.set.v1\n", "want"},
	} {
		args := []string{}
		if tc.args != "" {
			args = append(args, tc.args)
		}
		if tc.file != "" {
			f := filepath.Join(t.TempDir(), "s")
			_ = os.WriteFile(f, []byte(tc.file), 0o600)
			args = append(args, "-sunset-file", f)
		}
		var out strings.Builder
		if _, err := Parse("test", args, noenv, &out); err == nil || !strings.Contains(err.Error()+out.String(), tc.want) {
			t.Errorf("%v %q: %v, want %q", args, tc.file, err, tc.want)
		}
	}
}
