package config_test

import (
	"io"
	"testing"

	"kk.dk/jobogfamilie/services/internal/config"
)

func TestEvaluationSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		args              []string
		env               map[string]string
		target, threshold int
		err               bool
	}{
		{name: "defaults", target: 50, threshold: 5},
		{name: "environment", env: map[string]string{"JF_EVALUATION_TARGET": "60", "JF_EVALUATION_THRESHOLD": "10"}, target: 60, threshold: 10},
		{name: "flags over environment", args: []string{"-evaluation-target", "70", "-evaluation-threshold", "3"},
			env: map[string]string{"JF_EVALUATION_TARGET": "60", "JF_EVALUATION_THRESHOLD": "10"}, target: 70, threshold: 3},
		{name: "threshold of one", args: []string{"-evaluation-threshold", "1"}, err: true},
		{name: "no target", env: map[string]string{"JF_EVALUATION_TARGET": "0"}, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Parse("test", tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.err {
				if err == nil {
					t.Fatalf("accepted: %+v", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.EvaluationTarget != tc.target || c.EvaluationThreshold != tc.threshold {
				t.Errorf("target %d threshold %d, want %d %d", c.EvaluationTarget, c.EvaluationThreshold, tc.target, tc.threshold)
			}
		})
	}
}
