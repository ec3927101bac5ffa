package proxy

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/govoy/govoy/filters/rpc/codec"
)

// Metrics: the counters of every proxy, summed per stat_prefix, plus per service/method request
// counts and latencies. Envoy's golang network filter SDK has no metrics API, so these are
// Prometheus metrics (filters/internal/metricsendpoint serves them); see README.md.

// DefaultStatPrefix labels the metrics of a config without stat_prefix.
const DefaultStatPrefix = "govoy_rpc"

// DefaultMaxMethodSeries bounds the (service, method) label pairs per stat_prefix.
const DefaultMaxMethodSeries = 200

// OverflowLabel is the service and method label of requests past the series cap.
const OverflowLabel = "other"

// result is the outcome label of a request.
type result uint8

const (
	resOK            result = iota // the upstream answered with a success status
	resError                       // the upstream answered with an error status
	resTimeout                     // no answer in time
	resNoRoute                     // no route matched
	resRateLimited                 // refused by the route's rate limit
	resNoProvider                  // no (reachable) endpoint
	resCircuitOpen                 // refused by a circuit breaker
	resUpstreamError               // the upstream connection failed under the request
	resBadRequest                  // unreadable request
	resOneway                      // a oneway request was forwarded
	nResults
)

var resultNames = [nResults]string{"ok", "error", "timeout", "no_route", "rate_limited", "no_provider",
	"circuit_open", "upstream_error", "bad_request", "oneway"}

func resultOf(st codec.Status) result {
	switch st {
	case codec.StatusOK:
		return resOK
	case codec.StatusTimeout:
		return resTimeout
	case codec.StatusNoRoute:
		return resNoRoute
	case codec.StatusRateLimited:
		return resRateLimited
	case codec.StatusNoProvider:
		return resNoProvider
	case codec.StatusCircuitOpen:
		return resCircuitOpen
	case codec.StatusBadRequest:
		return resBadRequest
	default:
		return resUpstreamError
	}
}

// metricSet is the process-wide state behind Collector.
type metricSet struct {
	mu       sync.Mutex
	prefixes map[string]*prefixState

	requests *prometheus.CounterVec   // stat_prefix, service, method, result
	latency  *prometheus.HistogramVec // stat_prefix, service, method

	counters    map[string]*prometheus.Desc // Stats names -> govoy_rpc_<name>_total
	connections *prometheus.Desc
	active      *prometheus.Desc
	upstreams   *prometheus.Desc
	proxies     *prometheus.Desc
	overflow    *prometheus.Desc
}

var metrics = newMetricSet()

// Collector returns the collector of every proxy in the process (register it once).
func Collector() prometheus.Collector { return metrics }

func newMetricSet() *metricSet {
	pl := []string{"stat_prefix"}
	m := &metricSet{
		prefixes: map[string]*prefixState{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govoy_rpc_method_requests_total",
			Help: "RPC requests by target service (interface) and method, and outcome.",
		}, []string{"stat_prefix", "service", "method", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "govoy_rpc_method_request_duration_seconds",
			Help: "Time from a two-way request's arrival to its response (relayed or local).",
			// 0.5ms .. ~16s
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"stat_prefix", "service", "method"}),
		counters: map[string]*prometheus.Desc{},
		connections: prometheus.NewDesc("govoy_rpc_active_connections",
			"Open downstream connections.", pl, nil),
		active: prometheus.NewDesc("govoy_rpc_active_requests",
			"Two-way requests waiting for a response.", pl, nil),
		upstreams: prometheus.NewDesc("govoy_rpc_upstream_connections",
			"Upstream connections open or connecting.", pl, nil),
		proxies: prometheus.NewDesc("govoy_rpc_proxies",
			"Proxies (parsed configs in use) by state: active, or draining after Envoy replaced the config.",
			[]string{"stat_prefix", "state"}, nil),
		overflow: prometheus.NewDesc("govoy_rpc_method_series_overflow_total",
			"Requests counted under service/method \"other\" because max_method_series was reached.", pl, nil),
	}
	for name, help := range statsHelp {
		m.counters[name] = prometheus.NewDesc("govoy_rpc_"+name+"_total", help, pl, nil)
	}
	return m
}

var statsHelp = map[string]string{
	"connections":       "Downstream connections accepted.",
	"requests":          "Two-way requests received.",
	"oneway":            "Oneway requests received.",
	"responses":         "Upstream responses relayed downstream.",
	"heartbeats":        "Downstream heartbeats answered locally.",
	"malformed":         "Connections closed on an undecodable stream (either side).",
	"no_route":          "Requests no route matched.",
	"no_provider":       "Requests with no (reachable) endpoint.",
	"rate_limited":      "Requests refused by a rate limit.",
	"circuit_open":      "Requests refused by a circuit breaker.",
	"timeouts":          "Requests answered with a timeout.",
	"retries":           "Requests moved to another endpoint after a connect failure.",
	"upstream_connects": "Upstream connections attempted.",
	"upstream_failures": "Upstream connects that failed.",
	"upstream_resets":   "Requests failed because their upstream connection closed.",
	"upstream_pings":    "Heartbeats sent to idle upstream connections.",
	"upstream_goaways":  "Upstream connections that announced a shutdown (Dubbo read-only event); picks avoid them.",
	"panics":            "Panics recovered in the proxy.",
}

// prefixState is what one stat_prefix accumulates across the proxies that used it.
type prefixState struct {
	name    string
	live    map[*Proxy]struct{}
	retired map[string]uint64 // counters of closed proxies, so totals never go down

	smu      sync.RWMutex
	series   map[[2]string]*series
	limit    int
	other    *series
	overflow atomic.Uint64
}

// attach adds p's counters to its prefix; limit caps the prefix's method series (0: default).
func (m *metricSet) attach(p *Proxy, prefix string, limit int) *prefixState {
	if limit <= 0 {
		limit = DefaultMaxMethodSeries
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := m.prefixes[prefix]
	if ps == nil {
		ps = &prefixState{name: prefix, live: map[*Proxy]struct{}{}, retired: map[string]uint64{},
			series: map[[2]string]*series{}}
		ps.other = &series{m: m, prefix: prefix, service: OverflowLabel, method: OverflowLabel}
		m.prefixes[prefix] = ps
	}
	ps.live[p] = struct{}{}
	ps.smu.Lock()
	ps.limit = limit // the newest config decides
	ps.smu.Unlock()
	return ps
}

// detach folds p's final counters into its prefix.
func (m *metricSet) detach(p *Proxy) {
	ps := p.prefix
	if ps == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := ps.live[p]; !ok {
		return
	}
	delete(ps.live, p)
	for k, v := range p.stats.Snapshot() {
		ps.retired[k] += v
	}
}

// seriesFor returns the label set of service/method, or the overflow set past the cap.
func (ps *prefixState) seriesFor(m *metricSet, service, method string) *series {
	k := [2]string{service, method}
	ps.smu.RLock()
	s := ps.series[k]
	ps.smu.RUnlock()
	if s != nil {
		return s
	}
	ps.smu.Lock()
	defer ps.smu.Unlock()
	if s = ps.series[k]; s != nil {
		return s
	}
	if len(ps.series) >= ps.limit {
		ps.overflow.Add(1)
		return ps.other
	}
	s = &series{m: m, prefix: ps.name, service: service, method: method}
	ps.series[k] = s
	return s
}

// series is one (stat_prefix, service, method) label set with its children resolved lazily, so
// the hot path does no label hashing after the first request of each outcome.
type series struct {
	m                       *metricSet
	prefix, service, method string
	ctr                     [nResults]atomic.Pointer[prometheus.Counter]
	hist                    atomic.Pointer[prometheus.Observer]
}

func (s *series) count(r result) {
	if s == nil {
		return
	}
	c := s.ctr[r].Load()
	if c == nil {
		cc := s.m.requests.WithLabelValues(s.prefix, s.service, s.method, resultNames[r])
		c = &cc
		s.ctr[r].Store(c)
	}
	(*c).Inc()
}

func (s *series) observe(d time.Duration) {
	if s == nil {
		return
	}
	h := s.hist.Load()
	if h == nil {
		o := s.m.latency.WithLabelValues(s.prefix, s.service, s.method)
		h = &o
		s.hist.Store(h)
	}
	(*h).Observe(d.Seconds())
}

func (m *metricSet) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range m.counters {
		ch <- d
	}
	ch <- m.connections
	ch <- m.active
	ch <- m.upstreams
	ch <- m.proxies
	ch <- m.overflow
	m.requests.Describe(ch)
	m.latency.Describe(ch)
}

func (m *metricSet) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	names := make([]string, 0, len(m.prefixes))
	for n := range m.prefixes {
		names = append(names, n)
	}
	sort.Strings(names)
	type view struct {
		sums                             map[string]uint64
		conns, active, ups, live, drains float64
		overflow                         uint64
	}
	views := make([]view, 0, len(names))
	for _, n := range names {
		ps := m.prefixes[n]
		v := view{sums: map[string]uint64{}, overflow: ps.overflow.Load()}
		for k, x := range ps.retired {
			v.sums[k] = x
		}
		for p := range ps.live {
			for k, x := range p.stats.Snapshot() {
				v.sums[k] += x
			}
			g := p.gauges()
			v.conns += float64(g.sessions)
			v.active += float64(g.inflight)
			v.ups += float64(g.upstreams)
			if g.draining {
				v.drains++
			} else {
				v.live++
			}
		}
		views = append(views, v)
	}
	m.mu.Unlock()
	for i, n := range names {
		v := views[i]
		for k, d := range m.counters {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v.sums[k]), n)
		}
		ch <- prometheus.MustNewConstMetric(m.connections, prometheus.GaugeValue, v.conns, n)
		ch <- prometheus.MustNewConstMetric(m.active, prometheus.GaugeValue, v.active, n)
		ch <- prometheus.MustNewConstMetric(m.upstreams, prometheus.GaugeValue, v.ups, n)
		ch <- prometheus.MustNewConstMetric(m.proxies, prometheus.GaugeValue, v.live, n, "active")
		ch <- prometheus.MustNewConstMetric(m.proxies, prometheus.GaugeValue, v.drains, n, "draining")
		ch <- prometheus.MustNewConstMetric(m.overflow, prometheus.CounterValue, float64(v.overflow), n)
	}
	m.requests.Collect(ch)
	m.latency.Collect(ch)
}
