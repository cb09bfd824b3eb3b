package projector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// metrics are the projector's Prometheus collectors. They exist from New
// on, so that the projector works whether or not anyone registers them.
type metrics struct {
	lag         prometheus.Gauge
	applied     prometheus.Gauge
	events      prometheus.Counter
	quarantined prometheus.Counter
	batch       prometheus.Histogram
	batchSize   prometheus.Histogram
	sseClients  prometheus.Gauge
	sseDropped  prometheus.Counter
	accessFail  prometheus.Counter
	// consentErrors counts consent gates that failed closed.
	consentErrors prometheus.Counter
	rebuilds      *prometheus.CounterVec
	// scrubPending is 1 while an erasure's old text may still be in the
	// read model's files (readmodel.Model.ScrubPending).
	scrubPending prometheus.Gauge
	// cachedFamilies are the folded family states the read model holds
	// (readmodel.Model.States).
	cachedFamilies prometheus.Gauge
	// spilledFamilies are those it keeps in its spill instead
	// (readmodel.Model.Spilled).
	spilledFamilies prometheus.Gauge
}

func newMetrics() *metrics {
	return &metrics{
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jf_projector_lag", Help: "The stream's last sequence minus the sequence the read model has applied.",
		}),
		applied: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jf_projector_applied_sequence", Help: "The last stream sequence the read model has applied (X-Position).",
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jf_projector_events_applied_total", Help: "Events applied to the timeline; its rate is events a second.",
		}),
		quarantined: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jf_projector_quarantined_total", Help: "Messages that were not valid catalog events, written to the quarantine table.",
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jf_projector_batch_duration_seconds", Help: "Time to apply and commit one batch.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jf_projector_batch_messages", Help: "Messages per applied batch.",
			Buckets: []float64{1, 2, 5, 10, 50, 100, 250, 500, 1000, 2000},
		}),
		sseClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jf_projector_sse_subscribers", Help: "Open timeline streams.",
		}),
		sseDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jf_projector_sse_dropped_total", Help: "Timeline streams ended because the client did not keep up.",
		}),
		accessFail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jf_projector_access_log_failures_total", Help: "Reads refused (503) because the access log could not be written.",
		}),
		consentErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jf_projector_consent_gate_errors_total", Help: "Coordinator reads whose consent state or policy could not be evaluated; their gated entries were hidden.",
		}),
		scrubPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jf_projector_erasure_scrub_pending", Help: "1 while an erased family's old text may remain in the read model's file or WAL: readers holding a snapshot kept the scrub from finishing, and it is retried until it does; or the projector is catching up, and scrubs once before it is ready.",
		}),
		cachedFamilies: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jf_projector_cached_families", Help: "Folded family states the read model holds in memory (bounded by -projector-cache-families once caught up).",
		}),
		spilledFamilies: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jf_projector_spilled_families", Help: "Folded family states the read model keeps in a temporary file rather than in memory (beyond -projector-catchup-families while catching up).",
		}),
		rebuilds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jf_projector_rebuilds_total", Help: "Read model rebuilds by outcome.",
		}, []string{"outcome"}),
	}
}

// Register adds the projector's metrics to reg.
func (p *Projector) Register(reg prometheus.Registerer) {
	m := p.metrics
	reg.MustRegister(m.lag, m.applied, m.events, m.quarantined, m.batch, m.batchSize, m.sseClients, m.sseDropped, m.accessFail, m.consentErrors, m.rebuilds, m.scrubPending, m.cachedFamilies, m.spilledFamilies,
		p.access.Metric())
}

func (m *metrics) observe(res readmodel.BatchResult, d time.Duration) {
	m.events.Add(float64(res.Events))
	m.quarantined.Add(float64(res.Quarantined))
	m.batch.Observe(d.Seconds())
	m.batchSize.Observe(float64(res.Events + res.Quarantined))
}
