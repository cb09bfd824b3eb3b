package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	events   *prometheus.CounterVec
	requests *prometheus.HistogramVec
	batches  []prometheus.Collector
}

func newMetrics(w *Writer) *metrics {
	return &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jf_ingest_events_total", Help: "Events received by ingest, by department and outcome.",
		}, []string{"department", "outcome"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jf_ingest_request_seconds", Help: "Ingest request latency by department and status.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, 1, 5},
		}, []string{"department", "status"}),
		batches: []prometheus.Collector{
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "jf_ingest_batch_requests_total", Help: "Batch requests (of more than one new event) sent to JetStream.",
			}, func() float64 { r, _ := w.BatchStats(); return float64(r) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "jf_ingest_atomic_batches_total", Help: "JetStream atomic batches that carried them: batch requests that arrive together share one.",
			}, func() float64 { _, b := w.BatchStats(); return float64(b) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "jf_ingest_index_cached_families", Help: "Family states the ingest index holds in memory (bounded by -ingest-cache-families).",
			}, func() float64 { return float64(w.Index.CachedFamilies()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "jf_ingest_index_stored_sequence", Help: "The stream sequence the ingest index's local store is complete up to.",
			}, func() float64 { return float64(w.Index.StoredSequence()) }),
		},
	}
}

func (m *metrics) register(reg prometheus.Registerer) {
	reg.MustRegister(append([]prometheus.Collector{m.events, m.requests}, m.batches...)...)
}
