package plugin

import (
	"sync"
	"sync/atomic"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// Counters of the chain itself, defined with every filter-level config (Envoy stat names).
const (
	// PanicsCounter counts plugin panics turned into 500 replies.
	PanicsCounter = "govoy.panics"
	// InvalidRouteConfigCounter counts requests answered 500 because their route's chain is invalid.
	InvalidRouteConfigCounter = "govoy.invalid_route_config"
	// AsyncRejectedCounter counts requests answered 503 because MaxAsync goroutines were busy.
	AsyncRejectedCounter = "govoy.async_rejected"
)

// metricHandle is both an api.CounterMetric and an api.GaugeMetric (same method set).
type metricHandle interface {
	Increment(offset int64)
	Get() uint64
	Record(value uint64)
}

// nopMetrics hands out inert metrics: offline parsing (ParseChain) has no Envoy to report to.
type nopMetrics struct{}

func (nopMetrics) counter(string) metricHandle { return nopMetric{} }
func (nopMetrics) gauge(string) metricHandle   { return nopMetric{} }

type nopMetric struct{}

func (nopMetric) Increment(int64) {}
func (nopMetric) Get() uint64     { return 0 }
func (nopMetric) Record(uint64)   {}

// metricSet holds the metrics of one filter-level config. Each name is defined once through Envoy's
// callbacks: every DefineXxxMetric call adds an entry to Envoy's metric store, so repeated Merges
// must not define again.
type metricSet struct {
	cb       api.ConfigCallbacks // nil: inert metrics
	mu       sync.Mutex
	counters map[string]metricHandle
	gauges   map[string]metricHandle

	panics        metricHandle
	invalidRoute  metricHandle
	asyncRejected metricHandle
}

func newMetricSet(cb api.ConfigCallbacks) *metricSet {
	s := &metricSet{cb: cb, counters: map[string]metricHandle{}, gauges: map[string]metricHandle{}}
	s.panics = s.counter(PanicsCounter)
	s.invalidRoute = s.counter(InvalidRouteConfigCounter)
	s.asyncRejected = s.counter(AsyncRejectedCounter)
	return s
}

func (s *metricSet) counter(name string) metricHandle {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.counters[name]; ok {
		return m
	}
	var m metricHandle = nopMetric{}
	if s.cb != nil {
		m = s.cb.DefineCounterMetric(name)
	}
	s.counters[name] = m
	return m
}

func (s *metricSet) gauge(name string) metricHandle {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.gauges[name]; ok {
		return m
	}
	var m metricHandle = nopMetric{}
	if s.cb != nil {
		m = s.cb.DefineGaugeMetric(name)
	}
	s.gauges[name] = m
	return m
}

// lazyMetrics hands out handles for route-level configs, which Envoy parses without callbacks. Merge
// binds them to the filter-level metricSet of the same name, so route-level plugins report into the
// filter-level stats.
type lazyMetrics struct {
	handles []*lazyMetric
}

func (l *lazyMetrics) counter(name string) metricHandle { return l.add(name, false) }
func (l *lazyMetrics) gauge(name string) metricHandle   { return l.add(name, true) }

func (l *lazyMetrics) add(name string, gauge bool) metricHandle {
	h := &lazyMetric{name: name, gauge: gauge}
	l.handles = append(l.handles, h)
	return h
}

// lazyMetric forwards to its bound metric. Before the first bind (only Parse-time use) it keeps the
// value itself and hands it over when bound. Envoy stat names are global, so rebinding to a newer
// filter-level config of the same listener reports into the same stat.
type lazyMetric struct {
	name   string
	gauge  bool
	target atomic.Pointer[boundMetric]

	mu      sync.Mutex // guards the pending values
	pending int64
	set     bool // a gauge Record happened before binding
}

type boundMetric struct {
	set *metricSet
	m   metricHandle
}

func (l *lazyMetric) Increment(offset int64) {
	if b := l.target.Load(); b != nil {
		b.m.Increment(offset)
		return
	}
	l.mu.Lock()
	if b := l.target.Load(); b != nil {
		l.mu.Unlock()
		b.m.Increment(offset)
		return
	}
	if offset > 0 || l.gauge {
		l.pending += offset
	}
	l.mu.Unlock()
}

func (l *lazyMetric) Record(value uint64) {
	if b := l.target.Load(); b != nil {
		b.m.Record(value)
		return
	}
	l.mu.Lock()
	if b := l.target.Load(); b != nil {
		l.mu.Unlock()
		b.m.Record(value)
		return
	}
	if l.gauge {
		l.pending, l.set = int64(value), true
	} else {
		l.pending += int64(value)
	}
	l.mu.Unlock()
}

func (l *lazyMetric) Get() uint64 {
	if b := l.target.Load(); b != nil {
		return b.m.Get()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending < 0 {
		return 0
	}
	return uint64(l.pending)
}

func (l *lazyMetric) bind(s *metricSet) {
	if b := l.target.Load(); b != nil && b.set == s {
		return // the usual case: Envoy merges again with the same parent
	}
	var m metricHandle
	if l.gauge {
		m = s.gauge(l.name)
	} else {
		m = s.counter(l.name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if old := l.target.Swap(&boundMetric{set: s, m: m}); old != nil {
		return
	}
	switch {
	case l.gauge && l.set:
		m.Record(uint64(l.pending))
	case l.pending != 0:
		m.Increment(l.pending)
	}
	l.pending, l.set = 0, false
}
