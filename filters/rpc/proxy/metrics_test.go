package proxy

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
	"github.com/govoy/govoy/filters/rpc/proxy/proxypb"
)

var prefixSeq atomic.Int64

// uniquePrefix isolates a test's series in the process-wide collector.
func uniquePrefix(t *testing.T) string {
	return fmt.Sprintf("t%d_%s", prefixSeq.Add(1), strings.ReplaceAll(t.Name(), "/", "_"))
}

// scrape gathers the proxy collector into a fresh registry (as the metrics endpoint does).
type scrape []*dto.MetricFamily

func gather(t *testing.T) scrape {
	t.Helper()
	r := prometheus.NewPedanticRegistry()
	r.MustRegister(Collector())
	mfs, err := r.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return mfs
}

// series returns the metrics of family name whose labels include want.
func (s scrape) series(name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, mf := range s {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// value is the single counter or gauge of name with labels (0 when absent).
func (s scrape) value(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	ms := s.series(name, labels)
	if len(ms) > 1 {
		t.Fatalf("%s%v: %d series, want one", name, labels, len(ms))
	}
	if len(ms) == 0 {
		return 0
	}
	if c := ms[0].GetCounter(); c != nil {
		return c.GetValue()
	}
	return ms[0].GetGauge().GetValue()
}

func TestStatsNamesAllExported(t *testing.T) {
	var s Stats
	for k := range s.Snapshot() {
		if _, ok := statsHelp[k]; !ok {
			t.Errorf("counter %q has no metric", k)
		}
	}
	if len(statsHelp) != len(s.Snapshot()) {
		t.Errorf("%d metrics for %d counters", len(statsHelp), len(s.Snapshot()))
	}
}

func TestMetricsAfterRealSessions(t *testing.T) {
	srv := startDubbo(t, "s")
	hold := startDubbo(t, "hold")
	hold.mu.Lock()
	hold.hold = true
	hold.mu.Unlock()
	prefix := uniquePrefix(t)
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"statPrefix":%q,"routes":[
	    {"match":{"service":"org.example.Slow"},"service":"hold","timeout":"0.05s"},
	    {"match":{"service":"org.example.Demo"},"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":%q}]},{"name":"hold","endpoints":[{"address":%q}]}]}`,
		prefix, srv.addr, hold.addr))
	addr := serveProxy(t, p)
	a, b := dial(t, addr), dial(t, addr)
	for i := int64(1); i <= 3; i++ {
		if got := a.call(req{id: i}); got.status != dubbo.StatusOK {
			t.Fatalf("call %d: %+v", i, got)
		}
	}
	if got := b.call(req{id: 1, method: "bye"}); got.status != dubbo.StatusOK {
		t.Fatalf("bye: %+v", got)
	}
	if got := b.call(req{id: 2, svc: "org.example.Nobody"}); got.status != dubbo.StatusServiceNotFound {
		t.Fatalf("no route: %+v", got)
	}
	if got := b.call(req{id: 3, svc: "org.example.Slow"}); got.status != dubbo.StatusServerTimeout {
		t.Fatalf("timeout: %+v", got)
	}
	bad := dial(t, addr)
	bad.c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	bad.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := bad.c.Read(make([]byte, 8)); err == nil {
		t.Fatal("malformed connection left open")
	}
	waitFor(t, "the malformed session to end", func() bool { return p.gauges().sessions == 2 })

	pl := map[string]string{"stat_prefix": prefix}
	s := gather(t)
	for name, want := range map[string]float64{
		"govoy_rpc_connections_total":       3,
		"govoy_rpc_requests_total":          6,
		"govoy_rpc_responses_total":         4,
		"govoy_rpc_no_route_total":          1,
		"govoy_rpc_timeouts_total":          1,
		"govoy_rpc_malformed_total":         1,
		"govoy_rpc_upstream_connects_total": 2,
		"govoy_rpc_active_connections":      2,
		"govoy_rpc_active_requests":         0,
		"govoy_rpc_upstream_connections":    2,
	} {
		if got := s.value(t, name, pl); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, tc := range []struct {
		svc, method, result string
		want                float64
	}{
		{"org.example.Demo", "hello", "ok", 3},
		{"org.example.Demo", "bye", "ok", 1},
		{"org.example.Nobody", "hello", "no_route", 1},
		{"org.example.Slow", "hello", "timeout", 1},
	} {
		l := map[string]string{"stat_prefix": prefix, "service": tc.svc, "method": tc.method, "result": tc.result}
		if got := s.value(t, "govoy_rpc_method_requests_total", l); got != tc.want {
			t.Errorf("method_requests_total%v = %v, want %v", l, got, tc.want)
		}
	}
	if n := len(s.series("govoy_rpc_method_requests_total", pl)); n != 4 {
		t.Errorf("%d method series, want 4", n)
	}
	h := s.series("govoy_rpc_method_request_duration_seconds", map[string]string{"stat_prefix": prefix, "service": "org.example.Demo", "method": "hello"})
	if len(h) != 1 || h[0].GetHistogram().GetSampleCount() != 3 || h[0].GetHistogram().GetSampleSum() <= 0 {
		t.Errorf("latency histogram: %v", h)
	}
	if got := s.value(t, "govoy_rpc_proxies", map[string]string{"stat_prefix": prefix, "state": "active"}); got != 1 {
		t.Errorf("active proxies %v", got)
	}

	// A closed proxy's counts stay in the totals: counters never go down.
	a.c.Close()
	b.c.Close()
	p.Close()
	s = gather(t)
	for name, want := range map[string]float64{
		"govoy_rpc_requests_total":       6,
		"govoy_rpc_responses_total":      4,
		"govoy_rpc_active_connections":   0,
		"govoy_rpc_upstream_connections": 0,
	} {
		if got := s.value(t, name, pl); got != want {
			t.Errorf("after close: %s = %v, want %v", name, got, want)
		}
	}
	if got := s.value(t, "govoy_rpc_proxies", map[string]string{"stat_prefix": prefix, "state": "active"}); got != 0 {
		t.Errorf("after close: active proxies %v", got)
	}
}

func TestMethodSeriesAreCapped(t *testing.T) {
	srv := startDubbo(t, "s")
	prefix := uniquePrefix(t)
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"statPrefix":%q,"maxMethodSeries":3,"routes":[{"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":%q}]}]}`, prefix, srv.addr))
	cl := dial(t, serveProxy(t, p))
	for i := int64(1); i <= 8; i++ {
		m := fmt.Sprintf("m%d", (i-1)%5) // m0..m4, m0..m2 again
		if got := cl.call(req{id: i, method: m}); got.status != dubbo.StatusOK {
			t.Fatalf("call %s: %+v", m, got)
		}
	}
	s := gather(t)
	ms := s.series("govoy_rpc_method_requests_total", map[string]string{"stat_prefix": prefix})
	if len(ms) != 4 {
		t.Fatalf("%d series, want 3 methods + other", len(ms))
	}
	for m, want := range map[string]float64{"m0": 2, "m1": 2, "m2": 2} {
		if got := s.value(t, "govoy_rpc_method_requests_total", map[string]string{"stat_prefix": prefix, "method": m}); got != want {
			t.Errorf("%s: %v, want %v", m, got, want)
		}
	}
	other := map[string]string{"stat_prefix": prefix, "service": OverflowLabel, "method": OverflowLabel, "result": "ok"}
	if got := s.value(t, "govoy_rpc_method_requests_total", other); got != 2 {
		t.Errorf("other: %v, want 2 (m3, m4)", got)
	}
	if got := s.value(t, "govoy_rpc_method_series_overflow_total", map[string]string{"stat_prefix": prefix}); got != 2 {
		t.Errorf("overflow counter %v, want 2", got)
	}
}

// The defaults: no stat_prefix means govoy_rpc, no cap means DefaultMaxMethodSeries.
func TestMetricDefaults(t *testing.T) {
	p := newProxy(t, `{"protocols":["dubbo"],"routes":[{"service":"s"}],"services":[{"name":"s","endpoints":[{"address":"127.0.0.1:1"}]}]}`)
	defer p.Close()
	if p.StatPrefix() != DefaultStatPrefix || p.prefix.limit != DefaultMaxMethodSeries {
		t.Fatalf("prefix %q limit %d", p.StatPrefix(), p.prefix.limit)
	}
	for bad, field := range map[string]string{`"statPrefix":"has space"`: "StatPrefix", `"maxMethodSeries":100000`: "MaxMethodSeries"} {
		var cfg proxypb.Config
		if err := protojsonUnmarshal(`{"protocols":["dubbo"],`+bad+`,"routes":[{"service":"s"}],"services":[{"name":"s"}]}`, &cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := New(&cfg, tcpConnector{}); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err %v, want it to name %s", bad, err, field)
		}
	}
}

// The per-request metrics work on the hot path: label lookup, outcome counter, latency.
func BenchmarkMethodMetrics(b *testing.B) {
	p := &Proxy{}
	p.prefix = metrics.attach(p, fmt.Sprintf("bench%d", prefixSeq.Add(1)), 0)
	defer metrics.detach(p)
	ps := p.prefix
	b.RunParallel(func(pb *testing.PB) {
		start := time.Now()
		for pb.Next() {
			s := ps.seriesFor(metrics, "org.example.Demo", "hello")
			s.count(resOK)
			s.observe(time.Since(start))
		}
	})
}
