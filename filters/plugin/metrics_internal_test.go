package plugin

import (
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

type storeMetric struct {
	v     uint64
	gauge bool
}

func (m *storeMetric) Increment(o int64) { m.v = uint64(int64(m.v) + o) }
func (m *storeMetric) Get() uint64       { return m.v }
func (m *storeMetric) Record(v uint64) {
	if m.gauge {
		m.v = v
	} else {
		m.v += v
	}
}

type storeCallbacks struct{ m map[string]*storeMetric }

func (s storeCallbacks) get(name string, gauge bool) *storeMetric {
	if s.m[name] == nil {
		s.m[name] = &storeMetric{gauge: gauge}
	}
	return s.m[name]
}
func (s storeCallbacks) DefineCounterMetric(n string) api.CounterMetric { return s.get(n, false) }
func (s storeCallbacks) DefineGaugeMetric(n string) api.GaugeMetric     { return s.get(n, true) }

func TestLazyMetricsHandOverAndRebind(t *testing.T) {
	lm := &lazyMetrics{}
	g := lm.gauge("p.inflight")
	c := lm.counter("p.hits")
	g.Record(7)
	g.Increment(-2)
	c.Increment(3)
	c.Increment(-1) // counters ignore negative offsets, as Envoy's do
	if g.Get() != 5 || c.Get() != 3 {
		t.Fatalf("before bind: gauge %d counter %d", g.Get(), c.Get())
	}
	cb1 := storeCallbacks{m: map[string]*storeMetric{}}
	set1 := newMetricSet(cb1)
	for _, h := range lm.handles {
		h.bind(set1)
	}
	if cb1.m["p.inflight"].v != 5 || cb1.m["p.hits"].v != 3 {
		t.Fatalf("after bind: gauge %d counter %d", cb1.m["p.inflight"].v, cb1.m["p.hits"].v)
	}
	c.Increment(1)
	if cb1.m["p.hits"].v != 4 {
		t.Fatalf("bound counter = %d", cb1.m["p.hits"].v)
	}
	// A newer filter-level config (listener update): the handle follows it, nothing is replayed.
	cb2 := storeCallbacks{m: map[string]*storeMetric{}}
	set2 := newMetricSet(cb2)
	for _, h := range lm.handles {
		h.bind(set2)
	}
	c.Increment(1)
	if cb2.m["p.hits"].v != 1 || cb1.m["p.hits"].v != 4 {
		t.Fatalf("rebind: new %d old %d", cb2.m["p.hits"].v, cb1.m["p.hits"].v)
	}
}
