package audit

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	lines      *prometheus.CounterVec
	verifies   *prometheus.CounterVec
	accessFail prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		lines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jf_audit_lines_total", Help: "JSON Lines written by the audit API, by endpoint.",
		}, []string{"endpoint"}),
		verifies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jf_audit_verifications_total", Help: "Verifications of the read model, by outcome (match, mismatch, failed).",
		}, []string{"outcome"}),
		accessFail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jf_audit_access_log_failures_total", Help: "Auditor reads refused because the access log could not be written.",
		}),
	}
}

// Register adds the service's metrics to reg.
func (s *Service) Register(reg prometheus.Registerer) {
	reg.MustRegister(s.metrics.lines, s.metrics.verifies, s.metrics.accessFail)
	if s.stopAccess != nil { // its own index
		reg.MustRegister(s.reader.Access.Metric())
	}
}
