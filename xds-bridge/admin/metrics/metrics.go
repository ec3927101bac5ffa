// Package metrics holds govoy-xds's Prometheus metrics, shared by the store, the xDS server and the
// admin endpoint. Each Metrics has its own registry so tests can run several bridges in one process.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metrics is the set of govoy-xds metrics.
type Metrics struct {
	Registry     *prometheus.Registry
	Pushes       *prometheus.CounterVec // responses sent, by type_url and protocol (sotw/delta)
	PushLatency  prometheus.Histogram   // from the first change seen by the store to a response carrying it
	Nacks        *prometheus.CounterVec // NACKs received, by type_url
	Services     prometheus.Gauge       // services served
	Endpoints    prometheus.Gauge       // endpoints served
	SourceErrors *prometheus.CounterVec // source errors, by source
	HeldUpdates  *prometheus.CounterVec // zero-instance updates held back, by service
	HeldNow      prometheus.Gauge       // services held right now
	Flushes      prometheus.Counter     // debounced batches applied
	Invalid      *prometheus.CounterVec // resources rejected by validation, by type_url
	Streams      prometheus.Gauge       // open xDS streams
	FlushSize    prometheus.Histogram   // services changed per batch
}

// New creates the metrics in a fresh registry (with Go and process collectors).
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govoy_xds_pushes_total", Help: "xDS responses sent to clients."}, []string{"type_url", "protocol"}),
		PushLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "govoy_xds_push_latency_seconds", Help: "Time from a registry change reaching the store to a response carrying it.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
		Nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govoy_xds_nacks_total", Help: "NACKs received from xDS clients."}, []string{"type_url"}),
		Services:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "govoy_xds_services", Help: "Services served."}),
		Endpoints: prometheus.NewGauge(prometheus.GaugeOpts{Name: "govoy_xds_endpoints", Help: "Endpoints served."}),
		SourceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govoy_xds_source_errors_total", Help: "Errors reported by sources."}, []string{"source"}),
		HeldUpdates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govoy_xds_held_updates_total", Help: "Updates dropping a service to zero instances that were held back."}, []string{"service"}),
		HeldNow: prometheus.NewGauge(prometheus.GaugeOpts{Name: "govoy_xds_held_services", Help: "Services currently held at their last non-empty state."}),
		Flushes: prometheus.NewCounter(prometheus.CounterOpts{Name: "govoy_xds_flushes_total", Help: "Debounced change batches applied."}),
		Invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govoy_xds_invalid_resources_total", Help: "Generated resources that failed validation and were not served."}, []string{"type_url"}),
		Streams: prometheus.NewGauge(prometheus.GaugeOpts{Name: "govoy_xds_streams", Help: "Open xDS streams."}),
		FlushSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "govoy_xds_flush_services", Help: "Services changed per applied batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
	}
	r.MustRegister(m.Pushes, m.PushLatency, m.Nacks, m.Services, m.Endpoints, m.SourceErrors, m.HeldUpdates,
		m.HeldNow, m.Flushes, m.Invalid, m.Streams, m.FlushSize,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}
