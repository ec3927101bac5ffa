package chain

import (
	"fmt"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/govoy/govoy/filters/plugin"
)

// benchPlugin reads one request header and sets one response header: the smallest realistic work.
type benchPlugin struct {
	name string
	ord  int
}

func (p *benchPlugin) Name() string                                          { return p.name }
func (p *benchPlugin) Order() int                                            { return p.ord }
func (p *benchPlugin) ConfigProto() proto.Message                            { return &emptypb.Empty{} }
func (p *benchPlugin) Parse(proto.Message, plugin.ParseContext) (any, error) { return p, nil }
func (p *benchPlugin) NewFilter(any, plugin.Handle) plugin.Filter            { return &benchFilter{} }

type asyncBenchPlugin struct{ benchPlugin }

func (*asyncBenchPlugin) AsyncPhases() plugin.Phase { return plugin.PhaseDecodeHeaders }

type benchFilter struct {
	plugin.PassThroughFilter
	seen bool
}

func (f *benchFilter) DecodeHeaders(h api.RequestHeaderMap, _ bool) plugin.Result {
	_, f.seen = h.Get("x-key")
	return plugin.Continue
}

func (f *benchFilter) EncodeHeaders(h api.ResponseHeaderMap, _ bool) plugin.Result {
	if f.seen {
		h.Set("x-seen", "1")
	}
	return plugin.Continue
}

func init() {
	for i := 0; i < 5; i++ {
		plugin.Register(&benchPlugin{name: fmt.Sprintf("bench_sync_%d", i), ord: plugin.OrderTraffic + i})
	}
	plugin.Register(&asyncBenchPlugin{benchPlugin{name: "bench_async", ord: plugin.OrderOuter}})
}

func chainConfig(b *testing.B, async bool, n int) any {
	b.Helper()
	var entries []plugin.Entry
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("bench_sync_%d", i)
		if async && i == 0 {
			name = "bench_async"
		}
		entries = append(entries, plugin.Entry{Name: name, Config: &emptypb.Empty{}})
	}
	a, err := plugin.ChainAny(entries...)
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := plugin.ConfigParser.Parse(a, configCallbacks{})
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

// bareFilter does the same work as n bench plugins in one hand-written api.StreamFilter: the
// baseline the chain's overhead is measured against.
type bareFilter struct {
	api.PassThroughStreamFilter
	n    int
	seen bool
}

func (f *bareFilter) DecodeHeaders(h api.RequestHeaderMap, _ bool) api.StatusType {
	for i := 0; i < f.n; i++ {
		_, f.seen = h.Get("x-key")
	}
	return api.Continue
}

func (f *bareFilter) EncodeHeaders(h api.ResponseHeaderMap, _ bool) api.StatusType {
	for i := 0; i < f.n && f.seen; i++ {
		h.Set("x-seen", "1")
	}
	return api.Continue
}

var sink api.StreamFilter

func BenchmarkBareFilter(b *testing.B) {
	for _, n := range []int{1, 5} {
		b.Run(fmt.Sprintf("work=%d", n), func(b *testing.B) {
			reqH := &headers{m: map[string]string{":path": "/", "x-key": "k"}}
			respH := &respHeaders{m: map[string]string{":status": "200"}}
			// the filter escapes, as it does in the SDK, which keeps it for the request
			factory := func(any, api.FilterCallbackHandler) api.StreamFilter { sink = &bareFilter{n: n}; return sink }
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				f := factory(nil, nil)
				f.DecodeHeaders(reqH, true)
				f.EncodeHeaders(respH, true)
				f.OnLog(reqH, nil, respH, nil)
				f.OnDestroy(api.Normal)
			}
			if respH.m["x-seen"] != "1" {
				b.Fatal("filter did not run")
			}
		})
	}
}

func BenchmarkChain(b *testing.B) {
	for _, mode := range []string{"sync", "async"} {
		for _, n := range []int{0, 1, 5} {
			if mode == "async" && n == 0 {
				continue
			}
			b.Run(fmt.Sprintf("%s/plugins=%d", mode, n), func(b *testing.B) {
				cfg := chainConfig(b, mode == "async", n)
				reqH := &headers{m: map[string]string{":path": "/", "x-key": "k"}}
				respH := &respHeaders{m: map[string]string{":status": "200"}}
				cb := newCallbacks()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					f := plugin.FilterFactory(cfg, cb)
					switch st := f.DecodeHeaders(reqH, true); st {
					case api.Continue:
					case api.Running:
						if got := <-cb.dec.done; got != api.Continue {
							b.Fatalf("async decode continued with %v", got)
						}
					default:
						b.Fatalf("DecodeHeaders = %v", st)
					}
					if st := f.EncodeHeaders(respH, true); st != api.Continue {
						b.Fatalf("EncodeHeaders = %v", st)
					}
					f.OnLog(reqH, nil, respH, nil)
					f.OnDestroy(api.Normal)
				}
				b.StopTimer()
				if n > 0 && respH.m["x-seen"] != "1" {
					b.Fatal("plugins did not run")
				}
			})
		}
	}
}

// ---- minimal fakes of Envoy's side ----

type configCallbacks struct{}

func (configCallbacks) DefineCounterMetric(string) api.CounterMetric { return &metric{} }
func (configCallbacks) DefineGaugeMetric(string) api.GaugeMetric     { return &metric{} }

type metric struct{ v uint64 }

func (m *metric) Increment(o int64) { m.v += uint64(o) }
func (m *metric) Get() uint64       { return m.v }
func (m *metric) Record(v uint64)   { m.v = v }

// headers implements the header map methods the bench plugins use; the embedded interface (nil)
// stands for the rest, which are never called.
type headers struct {
	api.RequestHeaderMap
	m map[string]string
}

func (h *headers) Get(k string) (string, bool) { v, ok := h.m[k]; return v, ok }
func (h *headers) Set(k, v string)             { h.m[k] = v }

type respHeaders struct {
	api.ResponseHeaderMap
	m map[string]string
}

func (h *respHeaders) Get(k string) (string, bool) { v, ok := h.m[k]; return v, ok }
func (h *respHeaders) Set(k, v string)             { h.m[k] = v }

// callbacks: Continue from the async goroutine is delivered on a channel, as Envoy's dispatcher
// would run it on the worker.
type callbacks struct {
	api.FilterCallbackHandler
	dec *processCallbacks
	enc *processCallbacks
}

type processCallbacks struct {
	api.DecoderFilterCallbacks
	done chan api.StatusType
}

func newCallbacks() *callbacks {
	return &callbacks{
		dec: &processCallbacks{done: make(chan api.StatusType, 1)},
		enc: &processCallbacks{done: make(chan api.StatusType, 1)},
	}
}

func (c *callbacks) DecoderFilterCallbacks() api.DecoderFilterCallbacks { return c.dec }
func (c *callbacks) EncoderFilterCallbacks() api.EncoderFilterCallbacks { return c.enc }

func (p *processCallbacks) Continue(st api.StatusType) { p.done <- st }
func (p *processCallbacks) SendLocalReply(code int, body string, _ map[string][]string, _ int64, details string) {
	panic(fmt.Sprintf("unexpected local reply %d %q %s", code, body, details))
}
