package config_test

import (
	"io"
	"path/filepath"
	"testing"

	"kk.dk/jobogfamilie/services/internal/config"
)

// TestInstance: -instance (or JF_INSTANCE) names a read replica's durable
// consumer and its own directories; no instance keeps today's names, and a
// name NATS or the file system would misread is refused.
func TestInstance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		consumer string
		guardDir string
		err      bool
	}{
		{name: "none", consumer: "projector", guardDir: "projector"},
		{name: "flag", args: []string{"-instance", "a"}, consumer: "projector-a", guardDir: "projector-a"},
		{name: "environment", env: map[string]string{"JF_INSTANCE": "replica-2"}, consumer: "projector-replica-2", guardDir: "projector-replica-2"},
		{name: "flag over environment", args: []string{"-instance", "b"}, env: map[string]string{"JF_INSTANCE": "a"}, consumer: "projector-b", guardDir: "projector-b"},
		{name: "a dot", args: []string{"-instance", "a.b"}, err: true},
		{name: "a wildcard", args: []string{"-instance", "*"}, err: true},
		{name: "a slash", args: []string{"-instance", "../x"}, err: true},
		{name: "upper case", args: []string{"-instance", "A"}, err: true},
		{name: "trailing dash", args: []string{"-instance", "a-"}, err: true},
		{name: "too long", args: []string{"-instance", "abcdefghijklmnopqrstuvwxyz0123456"}, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Parse("test", append([]string{"-data", "/d"}, tc.args...), func(k string) string { return tc.env[k] }, io.Discard)
			if tc.err {
				if err == nil {
					t.Fatalf("accepted instance %q", c.Instance)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o, err := c.StoreOptions("projector", nil)
			if err != nil {
				t.Fatal(err)
			}
			if o.Embedded.ProjectorConsumer != tc.consumer {
				t.Errorf("consumer %q, want %q", o.Embedded.ProjectorConsumer, tc.consumer)
			}
			if got, want := c.GuardOptions("projector", nil).HighWaterFile, filepath.Join("/d", tc.guardDir, "store-highwater.json"); got != want {
				t.Errorf("high-water file %s, want %s", got, want)
			}
		})
	}
}
