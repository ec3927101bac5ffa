package mockhost

import (
	"sync"
	"sync/atomic"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// metrics is the host's stats store. Like Envoy, a name defines one metric per type, shared by every
// config that defines it.
type metrics struct {
	mu       sync.Mutex
	counters map[string]*metric
	gauges   map[string]*metric
}

type metric struct {
	v       atomic.Uint64
	isGauge bool
}

// Increment adds offset; counters ignore offsets <= 0 and gauges subtract negative ones (Envoy's
// FilterConfig::incrementMetric).
func (m *metric) Increment(offset int64) {
	switch {
	case offset > 0:
		m.v.Add(uint64(offset))
	case offset < 0 && m.isGauge:
		m.v.Add(^uint64(-offset - 1))
	}
}

func (m *metric) Get() uint64 { return m.v.Load() }

// Record adds value to a counter and sets a gauge (Envoy's FilterConfig::recordMetric).
func (m *metric) Record(value uint64) {
	if m.isGauge {
		m.v.Store(value)
	} else {
		m.v.Add(value)
	}
}

func (s *metrics) define(name string, gauge bool) *metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := &s.counters
	if gauge {
		set = &s.gauges
	}
	if *set == nil {
		*set = map[string]*metric{}
	}
	m, ok := (*set)[name]
	if !ok {
		m = &metric{isGauge: gauge}
		(*set)[name] = m
	}
	return m
}

func (s *metrics) value(name string, gauge bool) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.counters
	if gauge {
		set = s.gauges
	}
	m, ok := set[name]
	if !ok {
		return 0, false
	}
	return m.Get(), true
}

func (s *metrics) all(gauge bool) map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.counters
	if gauge {
		set = s.gauges
	}
	out := make(map[string]uint64, len(set))
	for k, m := range set {
		out[k] = m.Get()
	}
	return out
}

// configCallbacks is the api.ConfigCallbackHandler given to Parse for filter-level configs.
type configCallbacks struct{ m *metrics }

var _ api.ConfigCallbackHandler = configCallbacks{}

func (c configCallbacks) DefineCounterMetric(name string) api.CounterMetric {
	return c.m.define(name, false)
}

func (c configCallbacks) DefineGaugeMetric(name string) api.GaugeMetric {
	return c.m.define(name, true)
}
