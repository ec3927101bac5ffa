package plugin_test

import (
	"sync"
	"sync/atomic"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

type fakeCallbacksI = api.ConfigCallbackHandler

// fakeCallbacks defines inert metrics.
type fakeCallbacks struct{}

func (fakeCallbacks) DefineCounterMetric(string) api.CounterMetric { return &fakeMetric{} }
func (fakeCallbacks) DefineGaugeMetric(string) api.GaugeMetric     { return &fakeMetric{} }

// countingCallbacks records how often each name is defined; a name defines one shared metric,
// as in Envoy.
type countingCallbacks struct {
	mu      sync.Mutex
	defined map[string]int
	metrics map[string]*fakeMetric
}

func newCountingCallbacks() *countingCallbacks {
	return &countingCallbacks{defined: map[string]int{}, metrics: map[string]*fakeMetric{}}
}

func (c *countingCallbacks) define(name string) *fakeMetric {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.defined[name]++
	m, ok := c.metrics[name]
	if !ok {
		m = &fakeMetric{}
		c.metrics[name] = m
	}
	return m
}

func (c *countingCallbacks) DefineCounterMetric(name string) api.CounterMetric { return c.define(name) }
func (c *countingCallbacks) DefineGaugeMetric(name string) api.GaugeMetric     { return c.define(name) }

func (c *countingCallbacks) value(name string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.metrics[name]; ok {
		return m.Get()
	}
	return 0
}

type fakeMetric struct{ v atomic.Int64 }

func (m *fakeMetric) Increment(o int64) { m.v.Add(o) }
func (m *fakeMetric) Get() uint64       { return uint64(m.v.Load()) }
func (m *fakeMetric) Record(v uint64)   { m.v.Store(int64(v)) }

func counterOf(cfg any) api.CounterMetric { return cfg.(*testConfig).calls }

// countingStreamInfo counts the Envoy reads the Handle makes (each one is a cgo call in Envoy).
type countingStreamInfo struct {
	api.StreamInfo
	mu                  sync.Mutex
	routeReads, ipReads int
}

func (s *countingStreamInfo) GetRouteName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routeReads++
	return "r1"
}

func (s *countingStreamInfo) DownstreamRemoteAddress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ipReads++
	return "127.0.0.3:1234"
}

type infoCallbacks struct {
	api.FilterCallbackHandler
	info *countingStreamInfo
}

func (c infoCallbacks) StreamInfo() api.StreamInfo { return c.info }
